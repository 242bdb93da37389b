"""Conformance app: where activities run. devhost runs them in a worker process (as the Functions
host runs the Python worker beside it); activities report their process id, and two of them end
their process on purpose (once, or every time) to show what the host does when a worker dies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _record_attempt(kind: str, key: str) -> int:
    """Append this process's id to the `kind-key` file of the state dir; the attempt's number."""
    path = Path(os.environ["DURABLE_TEST_STATE_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    marker = path / f"{kind}-{key}"
    with marker.open("a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    return len(marker.read_text(encoding="utf-8").splitlines())


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start `{name}` with the JSON body as input (`?instanceId=` optional); 202 + management URLs."""
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["name"], req.params.get("instanceId") or None, json.loads(body) if body else None
    )
    return client.create_check_status_response(req, instance_id)


@app.route(route="pid", methods=["GET"])
def host_pid(req: func.HttpRequest) -> func.HttpResponse:
    """The process id HTTP functions run in."""
    return func.HttpResponse(json.dumps({"pid": os.getpid()}), mimetype="application/json")


@app.activity_trigger(input_name="label")
def where(label: str) -> dict[str, Any]:
    """A sync activity's process id (and a log line)."""
    logging.getLogger("worker-app").warning("where ran for %s", label)
    return {"label": label, "pid": os.getpid()}


@app.activity_trigger(input_name="label")
async def where_async(label: str) -> dict[str, Any]:
    """An async activity's process id."""
    await asyncio.sleep(0)
    return {"label": label, "pid": os.getpid()}


@app.activity_trigger(input_name="key")
def exit_once(key: str) -> str:
    """End the worker process on the first attempt for `key`; answer on the next."""
    if _record_attempt("exited", key) == 1:
        os._exit(3)
    return f"survived {key}"


@app.activity_trigger(input_name="key")
def exit_always(key: str) -> str:
    """End the worker process, every time."""
    _record_attempt("exited", key)
    os._exit(4)


@app.activity_trigger(input_name="key")
def garble_once(key: str) -> str:
    """On the first attempt for `key`, write bytes that are no message onto the worker's socket to the host."""
    if _record_attempt("garbled", key) == 1:
        fd = int(sys.argv[sys.argv.index("--fd") + 1])
        os.write(fd, (5).to_bytes(4, "big") + b"junk!")
        time.sleep(30)  # the host stops this worker
    return f"clean {key}"


@app.orchestration_trigger(context_name="context")
def garbled(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """An activity whose worker garbles the stream once."""
    return (yield context.call_activity("garble_once", context.instance_id))


@app.orchestration_trigger(context_name="context")
def pids(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Three sync and one async activity at once; their process ids."""
    tasks = [context.call_activity("where", str(i)) for i in range(3)]
    tasks.append(context.call_activity("where_async", "async"))
    return (yield context.task_all(tasks))


@app.orchestration_trigger(context_name="context")
def crash_once(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """An activity whose worker dies once, beside one that does not."""
    results = yield context.task_all(
        [context.call_activity("exit_once", context.instance_id), context.call_activity("where", "beside")]
    )
    return results


@app.orchestration_trigger(context_name="context")
def crash_always(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """An activity whose worker always dies: the orchestrator sees it fail; the next activity runs."""
    try:
        yield context.call_activity("exit_always", context.instance_id)
        failure = None
    except Exception as error:  # the activity's failure, as the SDK raises it
        failure = str(error)
    after = yield context.call_activity("where", "after")
    return {"failure": failure, "after": after}
