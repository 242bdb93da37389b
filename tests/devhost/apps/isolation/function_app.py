"""Test app for the host/worker split: it patches its own process at import (as `import ddtrace.auto` or
OpenTelemetry auto-instrumentation would) and reports which process runs each kind of function."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import starlette.responses

# The patch: every starlette response of this process carries a marker header, and asyncio.sleep takes a second
# longer. Run in the host's process, it would reach the host's own answers and its event loop.
_original_call = starlette.responses.Response.__call__


async def _marked(self, scope, receive, send):  # type: ignore[no-untyped-def]
    async def marking(message):  # type: ignore[no-untyped-def]
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"x-patched-by-app", b"1")]}
        await send(message)

    await _original_call(self, scope, receive, marking)


starlette.responses.Response.__call__ = _marked  # type: ignore[method-assign]
_original_sleep = asyncio.sleep


async def _slower_sleep(delay, result=None):  # type: ignore[no-untyped-def]
    return await _original_sleep(delay + 1.0, result)


asyncio.sleep = _slower_sleep  # type: ignore[assignment]

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
STATE = Path(os.environ.get("ISOLATION_STATE_DIR", "."))


@app.route(route="pid")
def pid(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"pid": os.getpid()}), mimetype="application/json")


@app.route(route="burn")
def burn(req: func.HttpRequest) -> func.HttpResponse:
    """Holds this process's GIL for `seconds` of pure Python work; reports when it ran."""
    began = time.time()
    deadline = time.perf_counter() + float(req.params.get("seconds", "2"))
    count = 0
    while time.perf_counter() < deadline:
        count += 1
    return func.HttpResponse(json.dumps({"began": began, "ended": time.time(), "pid": os.getpid()}))


@app.route(route="nap")
def nap(req: func.HttpRequest) -> func.HttpResponse:
    """A sync function that sleeps: when it began and ended (to see how many run at once)."""
    began = time.time()
    time.sleep(float(req.params.get("seconds", "1")))
    return func.HttpResponse(json.dumps({"began": began, "ended": time.time()}))


@app.route(route="start/{name}")
@app.durable_client_input(client_name="client")
async def starter(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json() if req.get_body() else None)
    return client.create_check_status_response(req, instance_id)


@app.route(route="poll/{instance}")
@app.durable_client_input(client_name="client")
async def poll(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Read an instance's status `times` times in a row (a waiting app's polling)."""
    statuses = [await client.get_status(req.route_params["instance"]) for _ in range(int(req.params.get("times", "1")))]
    return func.HttpResponse(json.dumps([str(s.runtime_status) for s in statuses]))


@app.orchestration_trigger(context_name="context")
def pids(context: df.DurableOrchestrationContext):
    activity = yield context.call_activity("activity_pid", None)
    entity = yield context.call_entity(df.EntityId("recorder", "pids"), "record")
    return {"orchestrator": os.getpid(), "activity": activity, "entity": entity}


@app.orchestration_trigger(context_name="context")
def slow_chain(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("slow_activity", context.get_input() or 2)
    return {"slept": first}


@app.activity_trigger(input_name="seconds")
def slow_activity(seconds: float) -> int:
    time.sleep(float(seconds))
    return os.getpid()


@app.activity_trigger(input_name="nothing")
def activity_pid(nothing: None) -> int:
    return os.getpid()


@app.entity_trigger(context_name="context")
def recorder(context: df.DurableEntityContext):
    context.set_state(os.getpid())
    context.set_result(os.getpid())


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=False, use_monitor=False)
def yearly(timer: func.TimerRequest) -> None:
    (STATE / "timer-pid").write_text(str(os.getpid()))
