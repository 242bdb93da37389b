"""Step semantics: driven in-process through the engine (continue-as-new event carry-over, retries), and the steps
alone, which change an instance's memory and a batch and return what the engine must do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from devhost.durable import DurableExtension
from devhost.durable import history as h
from devhost.durable.entities import EntityBatchResult, EntityResponse
from devhost.durable.replay import run_orchestrator
from devhost.durable.state import EntityState, Instance, OpenBatch
from devhost.durable.steps import (
    Effects,
    ScheduleActivity,
    begin,
    conclude,
    context,
    new_instance_row,
    record_entity_batch,
    start_message_body,
    take_entity_batch,
)
from devhost.durable.store import MessageRow
from devhost.loader import FunctionIndex, FunctionSpec


def _waiter(ctx: df.DurableOrchestrationContext):
    if ctx.get_input() == 0:
        yield ctx.wait_for_external_event("a")
        ctx.continue_as_new(1)
        return None
    second = yield ctx.wait_for_external_event("b")
    return second


def _preserving(handler: Callable[[str], str]) -> Callable[[str], str]:
    """The SDK handler, with `preserveUnprocessedEvents` set on its ContinueAsNew actions."""

    def run(context: str) -> str:
        state = json.loads(handler(context))
        for group in state["actions"]:
            for action in group:
                if action.get("actionType") == 4:
                    action["preserveUnprocessedEvents"] = True
        return json.dumps(state)

    return run


def _index(name: str, handler: Callable[[str], str]) -> FunctionIndex:
    trigger = {"type": "orchestrationTrigger", "name": "context"}
    spec = FunctionSpec(name, "orchestrationTrigger", trigger, (trigger,), handler, False)
    return FunctionIndex(app=None, functions=[spec])  # type: ignore[arg-type]


async def _run_waiter(data_dir: Path, handler: Callable[[str], str]) -> dict[str, Any]:
    extension = DurableExtension(data_dir, "Steps", "http://127.0.0.1:1")
    await extension.startup(_index("waiter", handler))
    ops = extension.operations
    try:
        instance_id = await ops.start("waiter", "w", "0")
        await asyncio.gather(ops.raise_event("w", "a", '"A"'), ops.raise_event("w", "b", '"B"'))
        for _ in range(200):
            row = await ops.status(instance_id)
            if row is not None and row.status == "Completed":
                break
            await asyncio.sleep(0.01)
        row = await ops.status(instance_id)
        assert row is not None
        return ops.status_json(row)
    finally:
        await extension.shutdown()


def test_continue_as_new_preserving_events_carries_unconsumed_event(tmp_path: Path) -> None:
    """With preserveUnprocessedEvents the event nobody waited for reaches the next execution."""
    status = asyncio.run(_run_waiter(tmp_path, _preserving(df.Orchestrator.create(_waiter))))
    assert status["runtimeStatus"] == "Completed" and status["output"] == "B" and status["input"] == 1


def test_continue_as_new_without_preserving_drops_unconsumed_event(tmp_path: Path) -> None:
    """Without it (the SDK's default) that event is gone and the instance keeps waiting."""
    status = asyncio.run(_run_waiter(tmp_path, df.Orchestrator.create(_waiter)))
    assert status["runtimeStatus"] == "Running" and status["input"] == 1


def _retry_or_event(ctx: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=60_000, max_number_of_attempts=2)
    retried = ctx.call_activity_with_retry("never_runs", options)
    event = ctx.wait_for_external_event("go")
    winner = yield ctx.task_any([retried, event])
    return "event" if winner == event else "activity"


async def _retry_event_then_more(data_dir: Path) -> tuple[bool, str]:
    extension = DurableExtension(data_dir, "Steps", "http://127.0.0.1:1")
    await extension.startup(_index("retry_or_event", df.Orchestrator.create(_retry_or_event)))
    engine = extension.engine
    try:
        # No await below until the checks: the pump cannot run, the test steps by hand.
        inst = engine.create_instance("r", "retry_or_event", None, engine.open)
        engine._run_ready()
        now = h.utc_now()
        engine.send("r", inst.row.execution_id, h.task_failed(now, 0, "boom", None), engine.open)
        engine.send("r", None, h.event_raised(now, "go", '"x"'), engine.open)
        engine._run_ready()  # consumes the retry failure (always last in its episode)
        requeued = "r" in engine._ready_set
        engine._run_ready()  # then the event
        return requeued, inst.row.status + ":" + str(inst.row.output)
    finally:
        await extension.shutdown()


def test_messages_behind_a_retry_event_get_their_own_step(tmp_path: Path) -> None:
    """A retry event ends its episode; the instance is queued again for what follows it."""
    requeued, outcome = asyncio.run(_retry_event_then_more(tmp_path))
    assert requeued
    assert outcome == 'Completed:"event"'


# -- the steps alone: instance memory and a batch in, what the engine must do out ---------------------------------
def _chain(ctx: df.DurableOrchestrationContext):
    first = yield ctx.call_activity("hello", "x")
    timer = ctx.create_timer(ctx.current_utc_datetime + timedelta(minutes=5))
    yield ctx.task_any([timer, ctx.call_entity(df.EntityId("counter", "k"), "add", 1)])
    timer.cancel()
    ctx.continue_as_new(first)


def _fresh(name: str, parent: dict[str, Any] | None = None) -> tuple[Instance, datetime]:
    now = h.utc_now()
    row = new_instance_row("i", name, None, now, parent)
    inst = Instance(row=row, public=None)
    inst.inbox.append(MessageRow(1, "i", None, None, start_message_body(row, now)))
    return inst, now


def _step(inst: Instance, batch: OpenBatch, now: datetime, handler: Callable[[str], str]) -> Effects:
    episode, early = begin(inst, batch, now)
    assert episode is not None and early == Effects()
    return conclude(inst, batch, now, episode, run_orchestrator(handler, context(inst, episode)), None)


def test_a_step_returns_the_work_it_scheduled_and_records_the_rest() -> None:
    """The first episode of a chain: its activity comes back as an effect with the execution's ids; the consumed
    start message and the new history are in the batch; nothing else was done."""
    inst, now = _fresh("chain")
    batch = OpenBatch()
    effects = _step(inst, batch, now, df.Orchestrator.create(_chain))
    execution = inst.row.execution_id
    assert effects == Effects(activities=[ScheduleActivity("i", execution, 0, "hello", '"x"')])
    assert batch.writes.delete_messages == [1] and inst.inbox == []
    assert inst.row.status == "Running" and batch.writes.instances["i"] is inst.row
    assert [json.loads(text)["EventType"] for _, _, text in batch.writes.history] == [12, 0, 4, 13]


def test_timers_entity_calls_and_continue_as_new_come_back_as_effects() -> None:
    """Activity done: a timer and an entity call come back (with the execution's ids); the entity answered: the
    timer that lost is cancelled, and continue-as-new asks for every timer to go and the new execution's start
    ahead of the inbox."""
    inst, now = _fresh("chain")
    handler = df.Orchestrator.create(_chain)
    _step(inst, OpenBatch(), now, handler)
    old = inst.row.execution_id
    inst.inbox.append(MessageRow(2, "i", old, None, h.task_completed(now, 0, '"hi"')))
    effects = _step(inst, OpenBatch(), now, handler)
    [timer] = effects.timers
    assert (timer.instance_id, timer.execution_id, timer.timer_id) == ("i", old, 1)
    [call] = effects.messages
    assert call.target == "@counter@k" and call.body["request"]["op"] == "add" and not effects.activities
    answer = h.event_raised(now, call.body["request"]["id"], json.dumps({"result": "2"}))
    inst.inbox.append(MessageRow(3, "i", None, None, answer))
    effects = _step(inst, OpenBatch(), now, handler)
    assert effects.cancel_timers == [1] and effects.cancel_all_timers and not effects.finished
    [start] = effects.messages
    assert start.first and start.target == "i" and start.body["EventType"] == h.EventType.EXECUTION_STARTED
    assert inst.row.status == "ContinuedAsNew" and inst.row.execution_id != old and inst.row.input == '"hi"'
    assert start.body["OrchestrationInstance"]["ExecutionId"] == inst.row.execution_id


def test_terminating_a_child_answers_its_parent_and_ends_it() -> None:
    """A terminate message: no episode; the parent's task hears of it, every timer goes, the instance leaves
    memory after the commit."""
    parent = {"instance_id": "p", "execution_id": "pe", "task_id": 3, "name": "parent"}
    inst, now = _fresh("chain", parent)
    inst.inbox.append(MessageRow(2, "i", None, None, h.execution_terminated(now, "enough")))
    episode, effects = begin(inst, OpenBatch(), now)
    assert episode is None and effects.finished and effects.cancel_all_timers
    [answer] = effects.messages
    assert (answer.target, answer.execution_id) == ("p", "pe")
    assert answer.body["EventType"] == h.EventType.SUB_ORCHESTRATION_FAILED and answer.body["TaskScheduledId"] == 3
    assert inst.row.status == "Terminated" and inst.inbox == []


def test_an_entity_batch_records_its_state_and_returns_the_answers() -> None:
    """A recorded batch writes the entity's state and deletes its requests; the callers' answers come back."""
    now = h.utc_now()
    entity = EntityState("@counter@k", "counter", "k", False, None, h.format_time(now))
    entity.inbox = [MessageRow(i, "@counter@k", None, None, {"request": {"id": f"r{i}"}}) for i in range(150)]
    messages = take_entity_batch(entity)
    assert len(messages) == 100 and len(entity.inbox) == 50
    result = EntityBatchResult(True, "5", [EntityResponse("p", "pe", "r1", '{"result": "5"}')])
    batch = OpenBatch()
    [answer] = record_entity_batch(entity, messages, result, batch, now)
    assert (answer.target, answer.execution_id, answer.body["Name"]) == ("p", "pe", "r1")
    assert batch.writes.entities["@counter@k"].state == "5" and batch.writes.delete_messages == list(range(100))
