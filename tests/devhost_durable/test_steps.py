"""Step semantics driven in-process through the engine: continue-as-new event carry-over, suspension."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from devhost.durable import DurableExtension
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
    from devhost.durable import history as h

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
