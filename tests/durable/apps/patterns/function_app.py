"""Conformance app: the classic Durable patterns (chaining, fan-out/fan-in, sub-orchestrations,
human interaction, monitor) and replay determinism, written as a Core Tools v2 app would be.

Activities that must be counted across attempts append a line per invocation to a file under
`$DURABLE_TEST_STATE_DIR` (side effects belong in activities, never in orchestrators).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _state_dir() -> Path:
    path = Path(os.environ["DURABLE_TEST_STATE_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start `{name}` with the JSON body as input (`?instanceId=` optional); 202 + management URLs."""
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["name"], req.params.get("instanceId") or None, json.loads(body) if body else None
    )
    return client.create_check_status_response(req, instance_id)


# --- function chaining -------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def hello_chain(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield context.call_activity("say_hello", city)))
    results.append((yield context.call_activity("say_hello_async", "Paris")))
    return results


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@app.activity_trigger(input_name="city")
async def say_hello_async(city: str) -> str:
    await asyncio.sleep(0)
    return f"Bonjour {city}!"


# --- fan-out / fan-in ------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    count = int(context.get_input())
    squares = yield context.task_all([context.call_activity("square", i) for i in range(count)])
    return {"squares": squares, "sum": sum(squares)}


@app.activity_trigger(input_name="value")
def square(value: int) -> int:
    return value * value


# --- activities run concurrently -----------------------------------------------------------


def _arrive(spec: dict[str, Any]) -> Path:
    folder = _state_dir() / f"barrier-{spec['key']}"
    folder.mkdir(exist_ok=True)
    (folder / str(spec["index"])).touch()
    return folder


@app.orchestration_trigger(context_name="context")
def barrier(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """`n` activities that each wait for all `n` to have started: only concurrent ones all meet."""
    spec = context.get_input()
    activity = "barrier_async" if spec["kind"] == "async" else "barrier_sync"
    return (
        yield context.task_all([context.call_activity(activity, {**spec, "index": i}) for i in range(int(spec["n"]))])
    )


@app.activity_trigger(input_name="spec")
def barrier_sync(spec: dict[str, Any]) -> str:
    folder = _arrive(spec)
    for _ in range(400):  # up to ~20 s; sequential execution would never see everyone
        if len(list(folder.iterdir())) >= int(spec["n"]):
            return "met"
        time.sleep(0.05)
    return "alone"


@app.activity_trigger(input_name="spec")
async def barrier_async(spec: dict[str, Any]) -> str:
    folder = _arrive(spec)
    for _ in range(400):
        if len(list(folder.iterdir())) >= int(spec["n"]):
            return "met"
        await asyncio.sleep(0.05)
    return "alone"


# --- sub-orchestrations ------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    without_id = yield context.call_sub_orchestrator("child", 3)
    with_id = yield context.call_sub_orchestrator("child", 4, f"{context.instance_id}-named-child")
    retried = yield context.call_sub_orchestrator_with_retry(
        "flaky_child", df.RetryOptions(100, 4), context.instance_id
    )
    return {"without_id": without_id, "with_id": with_id, "retried": retried}


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    squared = yield context.call_activity("square", context.get_input())
    return {"instance_id": context.instance_id, "parent": context.parent_instance_id, "square": squared}


@app.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    attempt = yield context.call_activity("count_attempt", f"flaky-child-{context.get_input()}")
    if attempt < 3:
        raise ValueError(f"flaky child failed on attempt {attempt}")
    return {"attempt": attempt, "instance_id": context.instance_id}


@app.activity_trigger(input_name="key")
def count_attempt(key: str) -> int:
    """Append one line to `<state>/<key>` and return how many lines it has now."""
    path = _state_dir() / key
    with path.open("a", encoding="utf-8") as handle:
        handle.write("attempt\n")
    return len(path.read_text(encoding="utf-8").splitlines())


# --- human interaction -----------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Wait for an `Approval` event, or give up after `input` seconds."""
    deadline = context.current_utc_datetime + timedelta(seconds=float(context.get_input()))
    timeout = context.create_timer(deadline)
    approved = context.wait_for_external_event("Approval")
    context.set_custom_status("awaiting approval")
    winner = yield context.task_any([approved, timeout])
    if winner == approved:
        timeout.cancel()
        return {"outcome": "approved", "by": approved.result}
    return {"outcome": "timed out"}


# --- monitor -------------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def monitor(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Poll `check` every `interval` seconds for `rounds` rounds, one generation per round."""
    state: dict[str, Any] = context.get_input()
    round_ = int(state["round"])
    context.set_custom_status({"round": round_})
    if round_ >= int(state["rounds"]):
        return {"rounds": round_, "seen": state["seen"]}
    seen = yield context.call_activity("check", round_)
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=float(state["interval"])))
    context.continue_as_new({**state, "round": round_ + 1, "seen": [*state["seen"], seen]})


@app.activity_trigger(input_name="round")
def check(round: int) -> str:
    return f"checked {round}"


# --- replay determinism ------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def replay_clock(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Report, at its final replay, the clock and replay flag it saw at each step.

    Each step also sends what it saw to `echo` when the step first ran; the echo comes back
    from history, so a clock that differs between replays shows up as a mismatch.
    """
    steps = []
    for _ in range(3):
        seen = {"time": context.current_utc_datetime.isoformat(), "replaying": context.is_replaying}
        echoed = yield context.call_activity("echo", seen)
        steps.append({"now": seen, "when_scheduled": echoed})
    uuids = [context.new_uuid(), context.new_uuid()]
    echoed_uuids = yield context.call_activity("echo", uuids)
    final = {"time": context.current_utc_datetime.isoformat(), "replaying": context.is_replaying}
    return {"steps": steps, "final": final, "uuids": uuids, "echoed_uuids": echoed_uuids}


@app.activity_trigger(input_name="payload")
def echo(payload: Any) -> Any:
    return payload
