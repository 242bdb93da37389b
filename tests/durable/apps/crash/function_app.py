"""Crash-test app: chains and fan-outs whose activities log every execution, and a `tally`
entity counted from clients and from orchestrations, so a test can check after repeated
SIGKILLs that every instance finished right and every entity operation landed exactly once;
`napper` (a durable timer) and `waiter` (an external event) check that pending timers and
waits outlive the process.

Each activity execution appends one line `<tag>:<step>` to `$DURABLE_TEST_STATE_DIR/executions.log`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _log_path() -> Path:
    return Path(os.environ["DURABLE_TEST_STATE_DIR"]) / "executions.log"


@app.activity_trigger(input_name="item")
def work(item: dict[str, Any]) -> str:
    """Log this execution, take a little time (so work is in flight when the host dies), answer."""
    line = f"{item['tag']}:{item['step']}\n".encode()
    descriptor = os.open(_log_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)
    time.sleep(0.1)
    return f"{item['tag']}-{item['step']}"


@app.entity_trigger(context_name="context")
def tally(context: df.DurableEntityContext) -> None:
    value = int(context.get_state(lambda: 0))
    if context.operation_name == "add":
        value += int(context.get_input())
    context.set_result(value)
    context.set_state(value)


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """`steps` activities in sequence, then one call and one signal to `tally` entities."""
    spec = context.get_input()
    results = []
    for step in range(int(spec["steps"])):
        results.append((yield context.call_activity("work", {"tag": spec["tag"], "step": step})))
    yield context.call_entity(df.EntityId("tally", "called-by-chains"), "add", 1)
    context.signal_entity(df.EntityId("tally", "signalled-by-orchestrations"), "add", 1)
    return results


@app.orchestration_trigger(context_name="context")
def fan(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """`width` activities at once, then one signal to a `tally` entity."""
    spec = context.get_input()
    results = yield context.task_all(
        [context.call_activity("work", {"tag": spec["tag"], "step": step}) for step in range(int(spec["width"]))]
    )
    context.signal_entity(df.EntityId("tally", "signalled-by-orchestrations"), "add", 1)
    return results


@app.orchestration_trigger(context_name="context")
def napper(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """A durable timer of `input` seconds, then one activity."""
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=float(context.get_input())))
    return (yield context.call_activity("work", {"tag": context.instance_id, "step": 0}))


@app.orchestration_trigger(context_name="context")
def waiter(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Waits for a `go` event; returns its data."""
    context.set_custom_status("waiting")
    return (yield context.wait_for_external_event("go"))
