"""One orchestration step and one entity batch: computed on an instance's memory and the open batch's writes, and
returned as what the engine must do (`Effects`, a list of `Send`).

An orchestration step is `begin` (take the instance's delivered messages into an episode: control messages first,
terminate, suspend, resume; stale messages of an earlier execution dropped; a retry-relevant event always last),
the replay the engine runs on `context(...)`, and `conclude` (the outcome decided and recorded: history, summary,
consumed messages). The instance's own state and the batch's writes change here; everything that reaches beyond
the instance (activities, timers, sub-orchestrations, messages to other instances and entities, dropping it from
memory) comes back as `Effects`, which the engine carries out, ids and after-commit work included: nothing leaves
the engine before the batch that records it is committed. An entity batch is `take_entity_batch` and, once it ran,
`record_entity_batch`, whose answers to callers are `Send`s.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devhost.durable import history as h
from devhost.durable.entities import EntityBatchResult
from devhost.durable.replay import (
    ActionType,
    Completion,
    Decision,
    Outcome,
    ReplayState,
    SubOrchestrationCall,
    build_context,
    decide,
    is_retry_event,
    request_id,
)
from devhost.durable.state import TERMINAL_STATES, EntityState, Instance, OpenBatch, encode_played, replayed_by_sdk
from devhost.durable.store import EntityRow, InstanceRow, MessageRow

__all__ = [
    "MAX_ENTITY_BATCH",
    "Effects",
    "Episode",
    "ScheduleActivity",
    "ScheduleTimer",
    "Send",
    "StartChild",
    "begin",
    "conclude",
    "context",
    "fail_for_version",
    "new_instance_row",
    "record_entity_batch",
    "start_message_body",
    "take_entity_batch",
]

log = logging.getLogger("devhost.durable")
MAX_ENTITY_BATCH = 100
"""Requests one entity batch takes from the entity's inbox."""


@dataclass(frozen=True, slots=True)
class Send:
    """A message for an instance or an entity (`target`), recorded in the batch and delivered in memory."""

    target: str
    execution_id: str | None
    """The target execution it is for (None: whichever runs when it is delivered)."""
    body: h.Event
    first: bool = False
    """Ahead of the target's undelivered messages (a new execution's start, the events it carries over)."""


@dataclass(frozen=True, slots=True)
class ScheduleActivity:
    """An activity work item for the orchestration's execution."""

    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None


@dataclass(frozen=True, slots=True)
class ScheduleTimer:
    """A durable timer of the orchestration's execution."""

    instance_id: str
    execution_id: str
    timer_id: int
    fire_at: datetime


@dataclass(frozen=True, slots=True)
class StartChild:
    """A sub-orchestration to start (or fail at once, when it cannot be), answering the parent's task."""

    call: SubOrchestrationCall
    parent: dict[str, Any]
    """The parent as its child records it: instance and execution ids, the task id, its name."""


@dataclass(slots=True)
class Effects:
    """What a step asks of the engine, carried out in the order of the fields: activities and timers scheduled
    (released after the commit), timers cancelled, children started, messages sent, and the instance marked to
    leave memory."""

    activities: list[ScheduleActivity] = field(default_factory=list)
    timers: list[ScheduleTimer] = field(default_factory=list)
    cancel_timers: list[int] = field(default_factory=list)
    """Timer ids of the instance whose timers are deleted (they lost a `task_any`)."""
    cancel_all_timers: bool = False
    """Every timer of the instance goes (it finished, or a new execution began)."""
    children: list[StartChild] = field(default_factory=list)
    messages: list[Send] = field(default_factory=list)
    finished: bool = False
    """The instance ended: it leaves memory once this batch is committed (unless messages wait)."""
    again: bool = False
    """Messages this step kept back are deliverable now: step the instance again."""


@dataclass(frozen=True, slots=True)
class Episode:
    """The messages one step delivers to the orchestrator."""

    events: list[h.Event]
    """The delivered events."""
    consumed: list[MessageRow]
    """The messages they came from (deleted in the batch that records the outcome)."""
    new_events: list[h.Event]
    """OrchestratorStarted, then `events`: what the replay sees as new."""


def new_instance_row(
    instance_id: str,
    name: str,
    input_text: str | None,
    now: datetime,
    parent: dict[str, Any] | None = None,
    version: str = "",
) -> InstanceRow:
    """The summary of a freshly created (Pending) instance."""
    stamp = h.format_time(now)
    return InstanceRow(
        instance_id=instance_id,
        name=name,
        status="Pending",
        execution_id=uuid.uuid4().hex,
        input=input_text,
        output=None,
        custom_status=None,
        created=stamp,
        updated=stamp,
        parent=parent,
        replay=None,
        version=version,
    )


def start_message_body(row: InstanceRow, now: datetime) -> h.Event:
    """The ExecutionStarted event that starts `row`'s current execution."""
    parent = None
    if row.parent:
        parent = {
            "Name": row.parent.get("name"),
            "TaskScheduleId": row.parent.get("task_id"),
            "OrchestrationInstance": {
                "InstanceId": row.parent.get("instance_id"),
                "ExecutionId": row.parent.get("execution_id"),
            },
        }
    return h.execution_started(now, row.name, row.instance_id, row.execution_id, row.input, parent, row.version)


# -- recording ----------------------------------------------------------------------------------------------------
def _append(inst: Instance, batch: OpenBatch, events: list[h.Event]) -> None:
    start = inst.history_length
    for offset, event in enumerate(events):
        text = encode_played(event)
        if replayed_by_sdk(event):
            inst.played.append(text)
        batch.writes.history.append((inst.row.instance_id, start + offset, text))
    inst.history_length += len(events)


def _save(inst: Instance, batch: OpenBatch, now: datetime) -> None:
    inst.row.updated = h.format_time(now)
    inst.row.replay = inst.replay.to_json()
    batch.writes.instances[inst.row.instance_id] = inst.row
    batch.touched.add(inst.row.instance_id)


def _reset_history(inst: Instance, batch: OpenBatch) -> None:
    iid = inst.row.instance_id
    batch.writes.reset_history.append(iid)
    batch.writes.history = [r for r in batch.writes.history if r[0] != iid]
    inst.played = []
    inst.history_length = 0
    inst.replay = ReplayState()


def _finish(
    inst: Instance,
    batch: OpenBatch,
    now: datetime,
    status: str,
    output: str | None,
    details: str | None,
    effects: Effects,
) -> Effects:
    """The instance ended with `status`: its timers go, its parent (if any) hears of it, it leaves memory."""
    row = inst.row
    _save(inst, batch, now)
    effects.cancel_all_timers = effects.finished = True
    parent = row.parent
    if parent:
        task_id = int(parent["task_id"])
        if status == "Completed":
            body = h.sub_orchestration_completed(now, task_id, output)
        else:
            reason = f"Sub-orchestration '{row.name}' ({row.instance_id}) {status.lower()}: {output}"
            body = h.sub_orchestration_failed(now, task_id, reason, details)
        effects.messages.append(Send(str(parent["instance_id"]), parent.get("execution_id"), body))
    return effects


def _terminate(inst: Instance, batch: OpenBatch, now: datetime, reason: str | None, effects: Effects) -> Effects:
    row = inst.row
    _append(inst, batch, [h.execution_terminated(now, reason)])
    row.status = "Terminated"
    row.output = json.dumps(reason) if reason is not None else None
    return _finish(inst, batch, now, "Terminated", row.output, None, effects)


# -- the orchestration step -----------------------------------------------------------------------------------
def begin(inst: Instance, batch: OpenBatch, now: datetime) -> tuple[Episode | None, Effects]:
    """Take `inst`'s deliverable messages: control messages are applied here, the rest becomes the episode to
    replay (None when there is nothing to deliver, or the instance has finished)."""
    row = inst.row
    effects = Effects()
    events: list[h.Event] = []
    consumed: list[MessageRow] = []
    keep: list[MessageRow] = []
    stop = False
    for message in inst.inbox:
        if stop:
            keep.append(message)
            continue
        event = message.body
        kind = event["EventType"]
        if message.execution_id and message.execution_id != row.execution_id:
            consumed.append(message)  # a result or timer of an earlier execution
            continue
        if row.status in TERMINAL_STATES:
            consumed.append(message)
            continue
        if kind == h.EventType.EXECUTION_TERMINATED:
            _terminate(inst, batch, now, event.get("Input"), effects)
            consumed, keep, events = list(inst.inbox), [], []
            break
        if row.status == "Suspended":
            if kind == h.EventType.EXECUTION_RESUMED:
                consumed.append(message)
                _append(inst, batch, [h.execution_resumed(now, event.get("Reason"))])
                row.status = "Running"
                effects.again = True  # the buffered messages are deliverable now
            else:
                keep.append(message)
            continue
        if kind == h.EventType.EXECUTION_SUSPENDED:
            if events:  # deliver what came before the suspension first
                keep.append(message)
                stop = effects.again = True
                continue
            consumed.append(message)
            _append(inst, batch, [h.execution_suspended(now, event.get("Reason"))])
            row.status = "Suspended"
            continue
        if kind == h.EventType.EXECUTION_RESUMED:
            consumed.append(message)
            continue
        if kind == h.EventType.EXECUTION_STARTED:
            if inst.played or any(e["EventType"] == h.EventType.EXECUTION_STARTED for e in events):
                consumed.append(message)
                continue
        elif not inst.played and not events:
            keep.append(message)  # nothing to deliver to before the execution starts
            continue
        consumed.append(message)
        events.append(event)
        if is_retry_event(event, inst.replay):
            stop = effects.again = True  # the rest waits for the next step
    inst.inbox = keep
    batch.writes.delete_messages.extend(m.id for m in consumed)
    if consumed:
        _save(inst, batch, now)
    if not events or row.status in TERMINAL_STATES:
        return None, effects
    return Episode(events, consumed, [h.orchestrator_started(now), *events]), effects


def context(inst: Instance, episode: Episode) -> str:
    """The context JSON the SDK's orchestrator handler replays for `episode`."""
    row = inst.row
    parent_id = row.parent.get("instance_id") if row.parent else None
    return build_context(row.instance_id, parent_id, row.input, inst.played, episode.new_events)


def fail_for_version(inst: Instance, batch: OpenBatch, now: datetime, refusal: str) -> Effects:
    """`versionFailureStrategy` Fail: the instance, whose version this host may not run, fails saying why."""
    message = f"{refusal} (versionFailureStrategy Fail)"
    batch.writes.delete_messages.extend(m.id for m in inst.inbox)
    inst.inbox = []
    row = inst.row
    row.status, row.output = "Failed", json.dumps(message)
    _append(
        inst,
        batch,
        [h.orchestrator_started(now), h.execution_failed(now, message, None), h.orchestrator_completed(now)],
    )
    return _finish(inst, batch, now, "Failed", message, None, Effects())


def conclude(
    inst: Instance, batch: OpenBatch, now: datetime, episode: Episode, outcome: Outcome | None, failure: str | None
) -> Effects:
    """Record the episode's outcome (or `failure`: the instance fails with it); what it scheduled."""
    row = inst.row
    if failure is not None or outcome is None:
        decision = Decision(completion=Completion("Failed", failure or "the orchestrator did not run"))
    else:
        try:
            decision = decide(inst.replay, episode.events, outcome, now, row.instance_id, row.execution_id)
        except Exception as exc:  # an engine bug: fail this instance visibly, keep the others going
            log.exception("durable step of %s failed", row.instance_id)
            decision = Decision(
                completion=Completion("Failed", f"devhost durable engine error: {type(exc).__name__}: {exc}")
            )
    if row.status in ("Pending", "ContinuedAsNew"):
        row.status = "Running"
    if decision.custom_status is not None:
        row.custom_status = decision.custom_status
    return _apply(inst, batch, now, episode.new_events, decision)


def _apply(inst: Instance, batch: OpenBatch, now: datetime, new_events: list[h.Event], decision: Decision) -> Effects:
    row = inst.row
    iid, execution = row.instance_id, row.execution_id
    parent = {"instance_id": iid, "execution_id": execution, "name": row.name}
    effects = Effects(
        activities=[ScheduleActivity(iid, execution, c.task_id, c.name, c.input) for c in decision.activities],
        timers=[ScheduleTimer(iid, execution, t.timer_id, t.fire_at) for t in decision.timers],
        cancel_timers=list(decision.cancelled_timers),
        children=[StartChild(call, {**parent, "task_id": call.task_id}) for call in decision.suborchestrations],
        messages=[Send(call.target, None, {"request": call.request}) for call in decision.entity_calls],
    )
    events = new_events + decision.new_events
    completion = decision.completion
    if completion is None:
        events.append(h.orchestrator_completed(now))
        _append(inst, batch, events)
        _save(inst, batch, now)
        return effects
    if completion.status == "ContinuedAsNew":
        carried = _unprocessed_events(inst, new_events) if completion.preserve_events else []
        row.status = "ContinuedAsNew"
        row.input = completion.output
        row.output = None
        row.execution_id = uuid.uuid4().hex
        _reset_history(inst, batch)
        effects.cancel_all_timers = True
        _save(inst, batch, now)
        # Each goes ahead of the inbox, so the start comes first, then the carried events in their order.
        effects.messages += [Send(iid, None, {**event, "IsPlayed": False}, first=True) for event in reversed(carried)]
        effects.messages.append(Send(iid, None, start_message_body(row, now), first=True))
        return effects
    if completion.status == "Completed":
        events.append(h.execution_completed(now, completion.output))
        row.output = completion.output
    else:
        events.append(h.execution_failed(now, completion.output or "", completion.details))
        row.output = json.dumps(f"Orchestrator function '{row.name}' failed: {completion.output}")
    events.append(h.orchestrator_completed(now))
    row.status = completion.status
    _append(inst, batch, events)
    return _finish(inst, batch, now, completion.status, completion.output, completion.details, effects)


def _unprocessed_events(inst: Instance, new_events: list[h.Event]) -> list[h.Event]:
    """External events of the execution no `wait_for_external_event` consumed (for preserve)."""
    waits: dict[str, int] = {}
    responses: set[str] = set()
    row = inst.row
    for kind, name, seq in inst.replay.actions:
        if kind == ActionType.WAIT_FOR_EXTERNAL_EVENT:
            waits[name] = waits.get(name, 0) + 1
        elif kind == ActionType.CALL_ENTITY and seq is not None:
            responses.add(request_id(row.instance_id, row.execution_id, seq))
    events = [json.loads(text) for text in inst.played] + new_events
    unprocessed: list[h.Event] = []
    for event in events:
        if event["EventType"] != h.EventType.EVENT_RAISED:
            continue
        name = str(event.get("Name"))
        if waits.get(name, 0) > 0:
            waits[name] -= 1
        elif name not in responses:
            unprocessed.append(event)
    return unprocessed


# -- entity batches -------------------------------------------------------------------------------------------
def take_entity_batch(entity: EntityState) -> list[MessageRow]:
    """The next batch of `entity`'s requests (up to MAX_ENTITY_BATCH, in arrival order), out of its inbox."""
    messages = entity.inbox[:MAX_ENTITY_BATCH]
    entity.inbox = entity.inbox[MAX_ENTITY_BATCH:]
    return messages


def record_entity_batch(
    entity: EntityState, messages: list[MessageRow], result: EntityBatchResult, batch: OpenBatch, now: datetime
) -> list[Send]:
    """Record a batch that ran: the entity's new state (or its deletion) and its consumed requests; the answers to
    its callers."""
    entity.exists, entity.state = result.exists, result.state
    entity.updated = h.format_time(now)
    batch.writes.delete_messages.extend(m.id for m in messages)
    if result.exists:
        batch.writes.entities[entity.entity_id] = EntityRow(
            entity.entity_id, entity.name, entity.key, entity.state, entity.updated
        )
    else:
        batch.writes.entities.pop(entity.entity_id, None)
        batch.writes.delete_entities.append(entity.entity_id)
    return [Send(r.parent, r.parent_execution, h.event_raised(now, r.request_id, r.payload)) for r in result.responses]
