"""One orchestration step and one entity batch, applied to memory and to the open write batch.

`OrchestrationStepper.step` takes an instance's delivered messages, builds the episode
(control messages first: terminate, suspend, resume; stale messages of an earlier
execution dropped; a retry-relevant event always last), runs the replay executor and
records the outcome: history, summary, consumed messages, and the work it schedules
(activities, timers, sub-orchestrations, entity requests, the parent's completion
message). Work that leaves the engine (activities, timers) is handed to the engine's
`after_commit` hooks, never dispatched before the batch that records it is committed.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from devhost.channel import OrchestratorCall
from devhost.durable import history as h
from devhost.durable.entities import EntityBatchResult
from devhost.durable.replay import (
    ActionType,
    Completion,
    Decision,
    Outcome,
    ReplayState,
    build_context,
    decide,
    is_retry_event,
    request_id,
    run_orchestrator,
)
from devhost.durable.state import TERMINAL_STATES, EntityState, Instance, OpenBatch, encode_played, replayed_by_sdk
from devhost.durable.store import ActivityRow, EntityRow, InstanceRow, MessageRow

if TYPE_CHECKING:
    from devhost.durable.engine import DurableEngine

__all__ = ["EntitySteps", "OrchestrationStepper", "new_instance_row", "start_message_body"]

log = logging.getLogger("devhost.durable")
MAX_ENTITY_BATCH = 100


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


def start_message_body(row: InstanceRow, now: datetime) -> dict[str, Any]:
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


@dataclass
class _Episode:
    events: list[h.Event]
    consumed: list[MessageRow]


class OrchestrationStepper:
    """Runs orchestration steps for one engine."""

    def __init__(self, engine: DurableEngine) -> None:
        self.engine = engine
        self.again = False
        """Set by a step that made buffered messages deliverable (the engine steps it again)."""

    # -- helpers --------------------------------------------------------------------------
    def _append(self, inst: Instance, batch: OpenBatch, events: list[h.Event]) -> None:
        start = inst.history_length
        for offset, event in enumerate(events):
            text = encode_played(event)
            if replayed_by_sdk(event):
                inst.played.append(text)
            batch.writes.history.append((inst.row.instance_id, start + offset, text))
        inst.history_length += len(events)

    def _save(self, inst: Instance, batch: OpenBatch, now: datetime) -> None:
        inst.row.updated = h.format_time(now)
        inst.row.replay = inst.replay.to_json()
        batch.writes.instances[inst.row.instance_id] = inst.row
        batch.touched.add(inst.row.instance_id)

    def _reset_history(self, inst: Instance, batch: OpenBatch) -> None:
        iid = inst.row.instance_id
        batch.writes.reset_history.append(iid)
        batch.writes.history = [r for r in batch.writes.history if r[0] != iid]
        inst.played = []
        inst.history_length = 0
        inst.replay = ReplayState()
        self.engine.cancel_timers(inst, list(inst.timers), batch)

    # -- episode ----------------------------------------------------------------------------
    def _episode(self, inst: Instance, batch: OpenBatch, now: datetime) -> _Episode | None:
        """Pick the messages of this step; applies control messages directly."""
        row = inst.row
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
                self._terminate(inst, batch, now, event.get("Input"))
                consumed, keep, events = list(inst.inbox), [], []
                break
            if row.status == "Suspended":
                if kind == h.EventType.EXECUTION_RESUMED:
                    consumed.append(message)
                    self._append(inst, batch, [h.execution_resumed(now, event.get("Reason"))])
                    row.status = "Running"
                    self.again = True  # the buffered messages are deliverable now
                else:
                    keep.append(message)
                continue
            if kind == h.EventType.EXECUTION_SUSPENDED:
                consumed.append(message)
                if events:  # deliver what came before the suspension first
                    keep.append(message)
                    consumed.remove(message)
                    stop = self.again = True
                    continue
                self._append(inst, batch, [h.execution_suspended(now, event.get("Reason"))])
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
                stop = self.again = True  # the rest waits for the next step
        inst.inbox = keep
        batch.writes.delete_messages.extend(m.id for m in consumed)
        if consumed:
            self._save(inst, batch, now)
        if not events or row.status in TERMINAL_STATES:
            return None
        return _Episode(events, consumed)

    def _refused(self, inst: Instance, batch: OpenBatch, now: datetime, refusal: str) -> bool:
        """An instance whose version this host may not run: left waiting (`Reject`: its messages stay for a host of
        a fitting version) or failed (`Fail`). Whether the step ends here."""
        if self.engine.versions.failure == "Reject":
            if inst.row.instance_id not in self.engine.rejected:
                self.engine.rejected.add(inst.row.instance_id)
                log.warning("%s Instance %s waits (versionFailureStrategy Reject).", refusal, inst.row.instance_id)
            return True
        message = f"{refusal} (versionFailureStrategy Fail)"
        batch.writes.delete_messages.extend(m.id for m in inst.inbox)
        inst.inbox = []
        row = inst.row
        row.status, row.output = "Failed", json.dumps(message)
        self._append(
            inst,
            batch,
            [h.orchestrator_started(now), h.execution_failed(now, message, None), h.orchestrator_completed(now)],
        )
        self._finish(inst, batch, now, "Failed", message, None)
        return True

    # -- the step -------------------------------------------------------------------------------
    def step(self, inst: Instance, batch: OpenBatch, now: datetime) -> None:
        """Consume `inst`'s deliverable messages: at most one replay of the orchestrator.

        In this process the replay runs at once. In a worker process (`engine.workers`) the step is
        prepared here in a batch of its own (the messages it consumes, control events it applied),
        the replay runs there while the engine goes on with everything else, and its result is
        applied, with that batch, in the round it comes back: the messages are deleted in the
        same commit as the history they became, so a crash in between replays them again.
        """
        if inst.running:
            return
        refusal = self.engine.versions.refusal(inst.row.version) if inst.row.status not in TERMINAL_STATES else None
        if refusal is not None and self._refused(inst, batch, now, refusal):
            return
        workers = self.engine.workers
        own = OpenBatch() if workers is not None else batch
        episode = self._episode(inst, own, now)
        if episode is None:
            if own is not batch:
                batch.take(own)
            return
        row = inst.row
        self.engine.work_items["orchestrator episodes"] += 1
        new_events = [h.orchestrator_started(now), *episode.events]
        handler = self.engine.orchestrator(row.name)
        parent_id = row.parent.get("instance_id") if row.parent else None
        if handler is None:
            missing = f"The orchestrator function '{row.name}' doesn't exist in this app."
            self._conclude(inst, batch, now, own, episode, new_events, None, missing)
            return
        try:
            context = build_context(row.instance_id, parent_id, row.input, inst.played, new_events)
        except Exception as exc:  # an engine bug: fail this instance visibly, keep the others going
            log.exception("durable step of %s failed", row.instance_id)
            self._conclude(
                inst,
                batch,
                now,
                own,
                episode,
                new_events,
                None,
                f"devhost durable engine error: {type(exc).__name__}: {exc}",
            )
            return
        if workers is None:
            self._conclude(inst, batch, now, own, episode, new_events, run_orchestrator(handler, context))
            return
        inst.running = True
        future = workers.call(OrchestratorCall(row.name, context), retry=True)

        def done(result: Any) -> None:
            inst.running = False
            if self.engine.stopping or result.cancelled():
                return
            try:
                outcome = result.result()
            except Exception as exc:  # the worker died every time it ran this episode, or could not run it
                self._conclude(
                    inst,
                    self.engine.open,
                    now,
                    own,
                    episode,
                    new_events,
                    None,
                    f"devhost could not run the orchestrator: {exc}",
                )
            else:
                self._conclude(inst, self.engine.open, now, own, episode, new_events, outcome)
            if inst.inbox:
                self.engine.mark_ready(row.instance_id)
            self.engine.wake()

        future.add_done_callback(done)

    def _conclude(
        self,
        inst: Instance,
        batch: OpenBatch,
        now: datetime,
        own: OpenBatch,
        episode: _Episode,
        new_events: list[h.Event],
        outcome: Outcome | None,
        failure: str | None = None,
    ) -> None:
        """Apply an episode's outcome (or `failure`: the instance fails with it) with the episode's own writes."""
        if own is not batch:
            batch.take(own)
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
        self._apply(inst, batch, now, new_events, decision)

    def _apply(
        self, inst: Instance, batch: OpenBatch, now: datetime, new_events: list[h.Event], decision: Decision
    ) -> None:
        engine, row = self.engine, inst.row
        events = new_events + decision.new_events
        for call in decision.activities:
            activity = ActivityRow(
                engine.next_id(), row.instance_id, row.execution_id, call.task_id, call.name, call.input
            )
            batch.writes.activities.append(activity)
            batch.after_commit.append(lambda a=activity: engine.dispatch_activity(a))
        for timer in decision.timers:
            message = MessageRow(
                engine.next_id(),
                row.instance_id,
                row.execution_id,
                timer.fire_at.timestamp(),
                h.timer_fired(timer.fire_at, timer.timer_id, timer.fire_at),
            )
            inst.timers[timer.timer_id] = message.id
            batch.writes.messages.append(message)
            batch.after_commit.append(lambda m=message: engine.schedule_timer(m))
        engine.cancel_timers(inst, decision.cancelled_timers, batch)
        for sub in decision.suborchestrations:
            engine.start_child(inst, sub, batch, now)
        for call in decision.entity_calls:
            engine.send(call.target, None, {"request": call.request}, batch)
        completion = decision.completion
        if completion is None:
            events.append(h.orchestrator_completed(now))
            self._append(inst, batch, events)
            self._save(inst, batch, now)
            return
        if completion.status == "ContinuedAsNew":
            carried = _unprocessed_events(inst, new_events) if completion.preserve_events else []
            row.status = "ContinuedAsNew"
            row.input = completion.output
            row.output = None
            row.execution_id = uuid.uuid4().hex
            self._reset_history(inst, batch)
            self._save(inst, batch, now)
            engine.send(row.instance_id, None, start_message_body(row, now), batch, first=True)
            for event in reversed(carried):
                engine.send(row.instance_id, None, {**event, "IsPlayed": False}, batch, first=True)
            if carried:  # keep ExecutionStarted first, the carried events right after it
                started = next(m for m in inst.inbox if m.body["EventType"] == h.EventType.EXECUTION_STARTED)
                inst.inbox.remove(started)
                inst.inbox.insert(0, started)
            return
        if completion.status == "Completed":
            events.append(h.execution_completed(now, completion.output))
            row.output = completion.output
        else:
            events.append(h.execution_failed(now, completion.output or "", completion.details))
            row.output = json.dumps(f"Orchestrator function '{row.name}' failed: {completion.output}")
        events.append(h.orchestrator_completed(now))
        row.status = completion.status
        self._append(inst, batch, events)
        self._finish(inst, batch, now, completion.status, completion.output, completion.details)

    def _finish(
        self, inst: Instance, batch: OpenBatch, now: datetime, status: str, output: str | None, details: str | None
    ) -> None:
        row = inst.row
        self._save(inst, batch, now)
        self.engine.cancel_timers(inst, list(inst.timers), batch)
        parent = row.parent
        if parent:
            task_id = int(parent["task_id"])
            if status == "Completed":
                body = h.sub_orchestration_completed(now, task_id, output)
            else:
                reason = f"Sub-orchestration '{row.name}' ({row.instance_id}) {status.lower()}: {output}"
                body = h.sub_orchestration_failed(now, task_id, reason, details)
            self.engine.send(str(parent["instance_id"]), parent.get("execution_id"), body, batch)
        batch.after_commit.append(lambda: self.engine.on_terminal(row.instance_id))

    def _terminate(self, inst: Instance, batch: OpenBatch, now: datetime, reason: str | None) -> None:
        row = inst.row
        self._append(inst, batch, [h.execution_terminated(now, reason)])
        row.status = "Terminated"
        row.output = json.dumps(reason) if reason is not None else None
        self._finish(inst, batch, now, "Terminated", row.output, None)


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


class EntitySteps:
    """Runs entity batches for one engine, off the event loop.

    A step takes up to MAX_ENTITY_BATCH delivered requests and hands them to the engine's entity runner
    (a thread pool): the round that delivered them commits without waiting for the operations, so a
    signal is durable (committed) before its operation runs, a slow operation delays nothing else, and
    batches of different entities run at once. The batch's outcome (state, consumed messages, responses
    to callers) is applied in one later commit, so a crash in between runs the batch again from the
    committed state. One entity runs one batch at a time, in arrival order.
    """

    def __init__(self, engine: DurableEngine) -> None:
        self.engine = engine

    def step(self, entity: EntityState, batch: OpenBatch, now: datetime) -> None:
        """Start the next batch of `entity` unless one is running."""
        if entity.running:
            return
        messages = entity.inbox[:MAX_ENTITY_BATCH]
        entity.inbox = entity.inbox[MAX_ENTITY_BATCH:]
        requests = [m.body["request"] for m in messages]
        handler: Callable[[str], str] | None = self.engine.entity_handler(entity.name)
        entity.running = True
        self.engine.run_entity_batch(
            (handler, entity.entity_id, entity.exists, entity.state, requests),
            lambda result: self._finish(entity, messages, result),
        )

    def _finish(self, entity: EntityState, messages: list[MessageRow], result: EntityBatchResult) -> None:
        """Record a finished batch in the open batch (on the event loop)."""
        entity.running = False
        batch, now = self.engine.open, h.utc_now()
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
        for response in result.responses:
            body = h.event_raised(now, response.request_id, response.payload)
            self.engine.send(response.parent, response.parent_execution, body, batch)
        if entity.inbox:
            self.engine.mark_ready(entity.entity_id)
        self.engine.wake()
