"""History event builders: the JSON shapes the Durable extension sends to the Python SDK.

Each builder returns one event as a plain dict with the extension's field names
(`EventType`, `EventId`, `Timestamp`, `IsPlayed`, ...), exactly what
`azure.durable_functions.models.history.HistoryEvent(**event)` accepts. Events that do
not schedule work carry `EventId` -1, as in DTFx.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

__all__ = [
    "Event",
    "EventType",
    "event_raised",
    "event_sent",
    "execution_completed",
    "execution_failed",
    "execution_resumed",
    "execution_started",
    "execution_suspended",
    "execution_terminated",
    "format_time",
    "orchestrator_completed",
    "orchestrator_started",
    "parse_time",
    "sub_orchestration_completed",
    "sub_orchestration_created",
    "sub_orchestration_failed",
    "task_completed",
    "task_failed",
    "task_scheduled",
    "timer_created",
    "timer_fired",
    "utc_now",
]

Event = dict[str, Any]
"""One history event in the extension's JSON shape."""


class EventType(IntEnum):
    """DTFx `EventType` numbers (the SDK's `HistoryEventType`)."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    GENERIC = 17
    HISTORY_STATE = 18
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


_last_formatted: tuple[datetime, str] | None = None


def format_time(moment: datetime) -> str:
    """ISO 8601 with microseconds and a `Z` suffix (what the SDK and clients parse)."""
    global _last_formatted
    last = _last_formatted  # one step's events share one timestamp: remember the last one
    if last is not None and last[0] == moment:
        return last[1]
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    _last_formatted = (moment, text)
    return text


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (with `Z` or an offset; naive means UTC)."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _event(kind: EventType, at: datetime, event_id: int = -1, **fields: Any) -> Event:
    event: Event = {"EventType": int(kind), "EventId": event_id, "IsPlayed": False, "Timestamp": format_time(at)}
    event.update(fields)
    return event


def execution_started(
    at: datetime,
    name: str,
    instance_id: str,
    execution_id: str,
    input_text: str | None,
    parent: dict[str, Any] | None = None,
    version: str | None = None,
) -> Event:
    """The first event of every execution (carries the input and the parent, if any)."""
    return _event(
        EventType.EXECUTION_STARTED,
        at,
        Name=name,
        Input=input_text,
        Version=version or "",
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent,
    )


def execution_completed(at: datetime, result: str | None) -> Event:
    """The orchestrator returned `result` (serialized JSON)."""
    return _event(EventType.EXECUTION_COMPLETED, at, OrchestrationStatus="Completed", Result=result)


def execution_failed(at: datetime, reason: str, details: str | None) -> Event:
    """The orchestrator raised (or replay found non-determinism)."""
    return _event(
        EventType.EXECUTION_FAILED, at, OrchestrationStatus="Failed", Reason=reason, Details=details, Result=reason
    )


def execution_terminated(at: datetime, reason: str | None) -> Event:
    """A client terminated the instance."""
    return _event(EventType.EXECUTION_TERMINATED, at, Input=reason)


def execution_suspended(at: datetime, reason: str | None) -> Event:
    """A client suspended the instance."""
    return _event(EventType.EXECUTION_SUSPENDED, at, Reason=reason)


def execution_resumed(at: datetime, reason: str | None) -> Event:
    """A client resumed the instance."""
    return _event(EventType.EXECUTION_RESUMED, at, Reason=reason)


def orchestrator_started(at: datetime) -> Event:
    """Opens an episode; its timestamp is the orchestrator's `current_utc_datetime`."""
    return _event(EventType.ORCHESTRATOR_STARTED, at)


def orchestrator_completed(at: datetime) -> Event:
    """Closes an episode."""
    return _event(EventType.ORCHESTRATOR_COMPLETED, at)


def task_scheduled(at: datetime, task_id: int, name: str, input_text: str | None) -> Event:
    """An activity was scheduled with sequence number `task_id`."""
    return _event(EventType.TASK_SCHEDULED, at, task_id, Name=name, Input=input_text)


def task_completed(at: datetime, task_id: int, result: str | None) -> Event:
    """Activity `task_id` returned `result` (serialized as the worker does)."""
    return _event(EventType.TASK_COMPLETED, at, TaskScheduledId=task_id, Result=result)


def task_failed(at: datetime, task_id: int, reason: str, details: str | None) -> Event:
    """Activity `task_id` raised; the SDK raises `Exception(f"{Reason} \\n {Details}")`."""
    return _event(EventType.TASK_FAILED, at, TaskScheduledId=task_id, Reason=reason, Details=details)


def sub_orchestration_created(at: datetime, task_id: int, name: str, instance_id: str, input_text: str | None) -> Event:
    """A sub-orchestration was started with sequence number `task_id`."""
    return _event(EventType.SUB_ORCHESTRATION_CREATED, at, task_id, Name=name, InstanceId=instance_id, Input=input_text)


def sub_orchestration_completed(at: datetime, task_id: int, result: str | None) -> Event:
    """Sub-orchestration `task_id` completed with `result`."""
    return _event(EventType.SUB_ORCHESTRATION_COMPLETED, at, TaskScheduledId=task_id, Result=result)


def sub_orchestration_failed(at: datetime, task_id: int, reason: str, details: str | None) -> Event:
    """Sub-orchestration `task_id` failed."""
    return _event(EventType.SUB_ORCHESTRATION_FAILED, at, TaskScheduledId=task_id, Reason=reason, Details=details)


def timer_created(at: datetime, timer_id: int, fire_at: datetime) -> Event:
    """A durable timer was created with sequence number `timer_id`."""
    return _event(EventType.TIMER_CREATED, at, timer_id, FireAt=format_time(fire_at))


def timer_fired(at: datetime, timer_id: int, fire_at: datetime) -> Event:
    """Timer `timer_id` fired."""
    return _event(EventType.TIMER_FIRED, at, TimerId=timer_id, FireAt=format_time(fire_at))


def event_sent(at: datetime, task_id: int, target: str, name: str, input_text: str) -> Event:
    """A message (entity call or signal) was sent to instance `target`."""
    return _event(EventType.EVENT_SENT, at, task_id, InstanceId=target, Name=name, Input=input_text)


def event_raised(at: datetime, name: str, input_text: str | None) -> Event:
    """An external event (or an entity's response, named by its request id) arrived."""
    return _event(EventType.EVENT_RAISED, at, Name=name, Input=input_text)
