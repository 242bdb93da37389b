"""Conformance app: what goes wrong in orchestrations — retries that succeed and that give up,
activity failures caught by the orchestrator, unhandled orchestrator exceptions, and a
non-deterministic orchestrator (its activity name follows a module-level flag that an HTTP
call flips between two steps of one instance).
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

_FLAG: dict[str, str] = {"step": "step_a"}
"""Which activity `drifting` calls first; flipped by `POST /api/flag/{step}` (a determinism bug on purpose)."""


def _attempts_file(key: str) -> Path:
    path = Path(os.environ["DURABLE_TEST_STATE_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path / f"attempts-{key}"


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start `{name}` with the JSON body as input (`?instanceId=` optional); 202 + management URLs."""
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["name"], req.params.get("instanceId") or None, json.loads(body) if body else None
    )
    return client.create_check_status_response(req, instance_id)


@app.route(route="flag/{step}", methods=["POST"])
def set_flag(req: func.HttpRequest) -> func.HttpResponse:
    """Point `drifting`'s first activity at `{step}`."""
    _FLAG["step"] = req.route_params["step"]
    return func.HttpResponse(json.dumps(_FLAG), mimetype="application/json")


@app.activity_trigger(input_name="spec")
def flaky(spec: dict[str, Any]) -> int:
    """Record an attempt; fail while fewer than `fail_times` attempts came before; else the attempt number."""
    path = _attempts_file(spec["key"])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("attempt\n")
    attempt = len(path.read_text(encoding="utf-8").splitlines())
    if attempt <= int(spec["fail_times"]):
        raise RuntimeError(f"flaky attempt {attempt} of {spec['key']} failed")
    return attempt


@app.activity_trigger(input_name="message")
def boom(message: str) -> str:
    raise ValueError(message)


@app.activity_trigger(input_name="value")
def step_a(value: str) -> str:
    return f"a:{value}"


@app.activity_trigger(input_name="value")
def step_b(value: str) -> str:
    return f"b:{value}"


@app.orchestration_trigger(context_name="context")
def retry_succeeds(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Fails twice, succeeds on the third of up to five attempts."""
    spec = {"key": context.instance_id, "fail_times": 2}
    return (yield context.call_activity_with_retry("flaky", df.RetryOptions(100, 5), spec))


@app.orchestration_trigger(context_name="context")
def retry_gives_up(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Always fails; three attempts, then the failure reaches the orchestrator."""
    spec = {"key": context.instance_id, "fail_times": 1000}
    try:
        yield context.call_activity_with_retry("flaky", df.RetryOptions(100, 3), spec)
    except Exception as error:  # the SDK raises a plain Exception carrying the failure
        return {"gave_up": str(error)}
    return {"gave_up": None}


@app.orchestration_trigger(context_name="context")
def retry_gives_up_unhandled(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Always fails, twice, and lets the failure end the instance."""
    spec = {"key": context.instance_id, "fail_times": 1000}
    return (yield context.call_activity_with_retry("flaky", df.RetryOptions(100, 2), spec))


@app.orchestration_trigger(context_name="context")
def catches_failure(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    try:
        yield context.call_activity("boom", context.get_input())
    except Exception as error:
        recovered = yield context.call_activity("step_a", "after failure")
        return {"type": type(error).__name__, "message": str(error), "recovered": recovered}
    return {"type": None}


@app.orchestration_trigger(context_name="context")
def unhandled(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    first = yield context.call_activity("step_a", "before")
    raise RuntimeError(f"orchestrator exploded after {first}")


@app.orchestration_trigger(context_name="context")
def drifting(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Calls the activity the flag names, waits for `continue`, then calls step_b."""
    first = yield context.call_activity(_FLAG["step"], "one")
    context.set_custom_status("waiting for continue")
    yield context.wait_for_external_event("continue")
    second = yield context.call_activity("step_b", "two")
    return [first, second]
