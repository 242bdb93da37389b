"""The pure replay executor: history in, the SDK's actions out, decisions back.

One orchestration step is `build_context` (the context JSON the extension sends),
`run_orchestrator` (the SDK's own handler, which replays the history and returns every
action scheduled so far) and `decide`, which matches the replayed actions against what
earlier steps recorded (non-determinism check), gives the new ones their sequence numbers
exactly as the SDK numbers its tasks, and turns them into new history events and work.

Sequence numbers: every action except `WaitForExternalEvent` takes the next number, in the
order of the flattened action list. Retries (`CallActivityWithRetry`,
`CallSubOrchestratorWithRetry`) take more numbers that never appear as actions: a timer
number when an attempt fails and a new task number when that timer fires with attempts
left. The SDK takes those while it processes the failure or timer event, so the engine
always delivers such an event as the LAST event of its episode (see `is_retry_event`):
then every number the user code took in the episode comes first, and the retry's number
right after. Nothing in this module does I/O.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devhost.durable import history as h
from devhost.durable.actions import KIND_NAMES, ActionType, ReplayState, RetryGroup

__all__ = [
    "ActionType",
    "ActivityCall",
    "Completion",
    "Decision",
    "EntityCall",
    "Outcome",
    "ReplayState",
    "RetryGroup",
    "SubOrchestrationCall",
    "TimerCall",
    "build_context",
    "decide",
    "is_retry_event",
    "request_id",
    "run_orchestrator",
]

UPPER_SCHEMA_VERSION = 1
"""`upperSchemaVersion` as the current extension sends it (V2; old SDKs reject higher)."""
UPPER_SCHEMA_VERSION_NEW = 2
"""`upperSchemaVersionNew`: V3, with compound WhenAll/WhenAny actions."""
_OUT_OF_PROC_LABEL = "$OutOfProcData$:"


@dataclass(frozen=True)
class Outcome:
    """What the SDK's orchestrator handler returned (its OrchestratorState JSON)."""

    done: bool
    actions: list[dict[str, Any]]
    """Flattened actions, in sequence order."""
    output: Any = None
    has_output: bool = False
    error: str | None = None
    custom_status: Any = None


@dataclass(frozen=True)
class ActivityCall:
    """Run activity `name` for sequence number `task_id`."""

    task_id: int
    name: str
    input: str | None


@dataclass(frozen=True)
class TimerCall:
    """Fire timer `timer_id` at `fire_at`."""

    timer_id: int
    fire_at: datetime


@dataclass(frozen=True)
class SubOrchestrationCall:
    """Start orchestration `name` as instance `instance_id` for parent task `task_id`."""

    task_id: int
    name: str
    instance_id: str
    input: str | None
    version: str | None = None
    """The version asked for (`call_sub_orchestrator(version=)`); None: the host's `defaultVersion`."""


@dataclass(frozen=True)
class EntityCall:
    """Send a request (call or signal) to entity `target` (`@name@key`)."""

    target: str
    request: dict[str, Any]


@dataclass(frozen=True)
class Completion:
    """How the execution ended in this step."""

    status: str
    """`Completed`, `Failed` or `ContinuedAsNew`."""
    output: str | None = None
    """Serialized output (Completed), the failure message (Failed) or the new input (ContinuedAsNew)."""
    details: str | None = None
    preserve_events: bool = False


@dataclass
class Decision:
    """Everything one step produces."""

    new_events: list[h.Event] = field(default_factory=list)
    """History events to append after the episode's own events."""
    activities: list[ActivityCall] = field(default_factory=list)
    timers: list[TimerCall] = field(default_factory=list)
    cancelled_timers: list[int] = field(default_factory=list)
    suborchestrations: list[SubOrchestrationCall] = field(default_factory=list)
    entity_calls: list[EntityCall] = field(default_factory=list)
    completion: Completion | None = None
    custom_status: str | None = None


def is_retry_event(event: h.Event, state: ReplayState) -> bool:
    """Whether `event` makes the SDK take a retry sequence number (deliver it last)."""
    kind = event["EventType"]
    if kind in (h.EventType.TASK_FAILED, h.EventType.SUB_ORCHESTRATION_FAILED):
        return state.retry_by_task(event["TaskScheduledId"]) is not None
    if kind == h.EventType.TIMER_FIRED:
        return state.retry_by_timer(event["TimerId"]) is not None
    return False


def build_context(
    instance_id: str,
    parent_instance_id: str | None,
    input_text: str | None,
    played: list[str],
    new_events: list[h.Event],
) -> str:
    """The orchestration context JSON; `played` are earlier events already encoded with IsPlayed true."""
    fresh = [json.dumps(e, separators=(",", ":")) for e in new_events]
    head = json.dumps(
        {
            "instanceId": instance_id,
            "isReplaying": bool(played),
            "parentInstanceId": parent_instance_id,
            "input": input_text,
            "upperSchemaVersion": UPPER_SCHEMA_VERSION,
            "upperSchemaVersionNew": UPPER_SCHEMA_VERSION_NEW,
        },
        separators=(",", ":"),
    )
    return '{"history":[' + ",".join(played + fresh) + "]," + head[1:]


def _flatten(groups: Any) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []

    def walk(action: dict[str, Any]) -> None:
        if action.get("actionType") in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            for child in action.get("compoundActions") or []:
                walk(child)
        else:
            flat.append(action)

    for group in groups or []:
        for action in group if isinstance(group, list) else [group]:
            walk(action)
    return flat


def parse_state(state_json: str, error: str | None = None) -> Outcome:
    """An Outcome from the handler's OrchestratorState JSON."""
    state = json.loads(state_json)
    return Outcome(
        done=bool(state.get("isDone")),
        actions=_flatten(state.get("actions")),
        output=state.get("output"),
        has_output="output" in state,
        error=error if error is not None else state.get("error"),
        custom_status=state.get("customStatus"),
    )


def run_orchestrator(handler: Callable[[str], str], context_json: str) -> Outcome:
    """Invoke the SDK's orchestrator handler as the worker does and parse what it returns."""
    try:
        result = handler(context_json)
    except Exception as exc:  # the SDK reports user failures by raising
        message = str(exc)
        if _OUT_OF_PROC_LABEL in message:
            head, _, state_json = message.partition(_OUT_OF_PROC_LABEL)
            return parse_state(state_json, error=head.rstrip() or type(exc).__name__)
        return Outcome(done=False, actions=[], error=f"{type(exc).__name__}: {message}")
    if not isinstance(result, str):
        return Outcome(done=False, actions=[], error="the orchestrator handler did not return a JSON state string")
    return parse_state(result)


def _action_name(action: dict[str, Any]) -> str:
    kind = action.get("actionType")
    if kind == ActionType.WAIT_FOR_EXTERNAL_EVENT:
        return str(action.get("externalEventName", ""))
    if kind in (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY):
        return f"{action.get('instanceId', '')}:{action.get('operation', '')}"
    return str(action.get("functionName", "") or "")


def _describe(kind: int, name: str) -> str:
    label = KIND_NAMES.get(kind, f"action type {kind}")
    return f"{label} '{name}'" if name else label


def _nondeterminism(state: ReplayState, actions: list[dict[str, Any]], failed: bool) -> str | None:
    for index, (kind, name, seq) in enumerate(state.actions):
        if index >= len(actions):
            if failed:
                return None
            return (
                "Non-deterministic workflow detected: a previous execution of this orchestration scheduled "
                f"{_describe(kind, name)} (sequence number {seq}), but the current replay execution hasn't "
                "scheduled it. Was the orchestrator code changed while this instance was running?"
            )
        action = actions[index]
        got_kind, got_name = int(action.get("actionType", -1)), _action_name(action)
        if (got_kind, got_name) != (kind, name):
            return (
                f"Non-deterministic workflow detected: the history has {_describe(kind, name)} "
                f"at position {index} (sequence number {seq}) but the replay scheduled "
                f"{_describe(got_kind, got_name)}. Was the orchestrator code changed while this instance was running?"
            )
    return None


def _retry_group(action: dict[str, Any], kind: str) -> RetryGroup:
    options = action.get("retryOptions") or {}
    return RetryGroup(
        kind=kind,
        name=str(action.get("functionName")),
        input=action.get("input"),
        first_interval_ms=float(options.get("firstRetryIntervalInMilliseconds", 1000)),
        max_attempts=int(options.get("maxNumberOfAttempts", 1)),
        backoff=float(options.get("backoffCoefficient", 1.0) or 1.0),
        max_interval_ms=options.get("maxRetryIntervalInMilliseconds"),
        instance_id=action.get("instanceId"),
        version=action.get("version"),
    )


def request_id(instance_id: str, execution_id: str, task_id: int) -> str:
    """The id of the entity request (or unnamed sub-orchestration) of sequence number `task_id`."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"devhost:{instance_id}:{execution_id}:{task_id}").hex


def _schedule_task(
    decision: Decision,
    at: datetime,
    task_id: int,
    kind: str,
    name: str,
    input_text: str | None,
    child_id: str | None,
    version: str | None = None,
) -> None:
    if kind == "activity":
        decision.new_events.append(h.task_scheduled(at, task_id, name, input_text))
        decision.activities.append(ActivityCall(task_id, name, input_text))
    else:
        assert child_id is not None
        decision.new_events.append(h.sub_orchestration_created(at, task_id, name, child_id, input_text))
        decision.suborchestrations.append(SubOrchestrationCall(task_id, name, child_id, input_text, version))


def decide(
    state: ReplayState,
    episode: list[h.Event],
    outcome: Outcome,
    at: datetime,
    instance_id: str,
    execution_id: str,
) -> Decision:
    """Turn one step's outcome into new history and work; updates `state` in place."""
    decision = Decision()
    if outcome.custom_status is not None:
        decision.custom_status = json.dumps(outcome.custom_status)
    failed = outcome.error is not None
    problem = _nondeterminism(state, outcome.actions, failed)
    if problem is not None:
        decision.completion = Completion("Failed", problem, "replayed actions differ from the recorded history")
        return decision
    if failed:
        decision.completion = Completion("Failed", outcome.error, None)
        return decision

    for action in outcome.actions[len(state.actions) :]:
        kind = int(action.get("actionType", -1))
        name = _action_name(action)
        seq: int | None = None
        if kind != ActionType.WAIT_FOR_EXTERNAL_EVENT:
            seq = state.next_seq
            state.next_seq += 1
        state.actions.append((kind, name, seq))
        assert seq is not None or kind == ActionType.WAIT_FOR_EXTERNAL_EVENT
        if kind == ActionType.CALL_ACTIVITY:
            _schedule_task(decision, at, seq, "activity", name, action.get("input"), None)  # type: ignore[arg-type]
        elif kind == ActionType.CALL_ACTIVITY_WITH_RETRY:
            group = _retry_group(action, "activity")
            group.task_id = seq
            state.retries.append(group)
            _schedule_task(decision, at, seq, "activity", name, group.input, None)  # type: ignore[arg-type]
        elif kind in (ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            child = action.get("instanceId") or request_id(instance_id, execution_id, seq)  # type: ignore[arg-type]
            if kind == ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY:
                group = _retry_group(action, "suborchestration")
                group.task_id = seq
                state.retries.append(group)
            _schedule_task(
                decision,
                at,
                seq,
                "suborchestration",
                name,
                action.get("input"),
                child,  # type: ignore[arg-type]
                action.get("version"),
            )
        elif kind == ActionType.CREATE_TIMER:
            fire_at = h.parse_time(str(action["fireAt"]))
            decision.new_events.append(h.timer_created(at, seq, fire_at))  # type: ignore[arg-type]
            if not action.get("isCanceled"):
                decision.timers.append(TimerCall(seq, fire_at))  # type: ignore[arg-type]
        elif kind in (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY):
            target = str(action.get("instanceId"))
            request = {
                "id": request_id(instance_id, execution_id, seq),  # type: ignore[arg-type]
                "op": action.get("operation"),
                "signal": kind == ActionType.SIGNAL_ENTITY,
                "input": action.get("input"),
                "parent": instance_id,
                "parentExecution": execution_id,
            }
            decision.new_events.append(h.event_sent(at, seq, target, "op", json.dumps(request)))  # type: ignore[arg-type]
            decision.entity_calls.append(EntityCall(target, request))
        elif kind == ActionType.CONTINUE_AS_NEW:
            decision.completion = Completion(
                "ContinuedAsNew", action.get("input"), preserve_events=bool(action.get("preserveUnprocessedEvents"))
            )
        elif kind == ActionType.CALL_HTTP:
            decision.completion = Completion("Failed", "call_http is not supported by devhost's durable engine", None)
            return decision

    # Timers the code cancelled after scheduling them (a lost task_any) must not wake it.
    for index, action in enumerate(outcome.actions):
        if action.get("actionType") == ActionType.CREATE_TIMER and action.get("isCanceled"):
            seq = state.actions[index][2]
            if seq is not None and seq not in decision.cancelled_timers:
                decision.cancelled_timers.append(seq)

    if outcome.done:
        if decision.completion is None:
            result = json.dumps(outcome.output) if outcome.has_output else None
            decision.completion = Completion("Completed", result)
        return decision

    _advance_retries(state, episode, decision, at, instance_id, execution_id)
    return decision


def _advance_retries(
    state: ReplayState, episode: list[h.Event], decision: Decision, at: datetime, instance_id: str, execution_id: str
) -> None:
    for event in episode:
        kind = event["EventType"]
        if kind in (h.EventType.TASK_COMPLETED, h.EventType.SUB_ORCHESTRATION_COMPLETED):
            group = state.retry_by_task(event["TaskScheduledId"])
            if group is not None:
                state.retries.remove(group)
        elif kind in (h.EventType.TASK_FAILED, h.EventType.SUB_ORCHESTRATION_FAILED):
            group = state.retry_by_task(event["TaskScheduledId"])
            if group is not None:
                group.task_id = None
                group.timer_id = state.next_seq
                state.next_seq += 1
                fire_at = at + group.delay()
                decision.new_events.append(h.timer_created(at, group.timer_id, fire_at))
                decision.timers.append(TimerCall(group.timer_id, fire_at))
        elif kind == h.EventType.TIMER_FIRED:
            group = state.retry_by_timer(event["TimerId"])
            if group is None:
                continue
            group.timer_id = None
            if group.attempts >= group.max_attempts:
                state.retries.remove(group)
                continue
            group.attempts += 1
            group.task_id = state.next_seq
            state.next_seq += 1
            child = group.instance_id or request_id(instance_id, execution_id, group.task_id)
            _schedule_task(decision, at, group.task_id, group.kind, group.name, group.input, child, group.version)
