"""Test app for devhost: a plain func.FunctionApp plus a func.Blueprint, unchanged Core Tools code."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import azure.functions as func
from blueprint import bp
from helpers import shout

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(bp)


@app.route(route="echo/{*rest}", methods=["GET", "POST", "PUT"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    """Everything the request carried, as JSON."""
    body = req.get_body()
    payload = {
        "method": req.method,
        "url": req.url,
        "headers": {k.lower(): v for k, v in req.headers.items()},
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "body": body.decode("utf-8", errors="replace"),
        "json": req.get_json() if body and req.headers.get("content-type") == "application/json" else None,
    }
    return func.HttpResponse(json.dumps(payload), mimetype="application/json")


@app.route()
def defaultroute(req: func.HttpRequest) -> str:
    """No `route`: the function name is the route."""
    return "default route"


@app.route(route="items/{id:int}", methods=["GET"])
def item_by_id(req: func.HttpRequest) -> str:
    return f"id {req.route_params['id']}"


@app.route(route="items/new", methods=["GET"])
def item_new(req: func.HttpRequest) -> str:
    return "literal new"


@app.route(route="items/{name:alpha}", methods=["GET"])
def item_by_name(req: func.HttpRequest) -> str:
    return f"name {req.route_params['name']}"


@app.route(route="items/{id:int}", methods=["DELETE"])
def item_delete(req: func.HttpRequest) -> str:
    return f"deleted {req.route_params['id']}"


@app.route(route="opt/{name?}", methods=["GET"])
def optional(req: func.HttpRequest) -> str:
    return f"opt {req.route_params.get('name', '<none>')}"


@app.route(route="shout/{word}", methods=["GET"])
def shout_word(req: func.HttpRequest) -> str:
    return shout(req.route_params["word"])


@app.route(route="returns/{kind}", methods=["GET"])
def returns(req: func.HttpRequest) -> object:
    """Each return type a function might use."""
    kind = req.route_params["kind"]
    if kind == "response":
        headers = {"X-Custom": "yes", "Set-Cookie": "a=1; Path=/"}
        response = func.HttpResponse("created!", status_code=201, headers=headers, mimetype="text/plain")
        response.headers.add("Set-Cookie", "b=2; Path=/")
        return response
    if kind == "str":
        return "plain text"
    if kind == "bytes":
        return b"\x00\x01raw"
    if kind == "dict":
        return {"a": 1, "b": [True, None]}
    if kind == "list":
        return [1, "two"]
    if kind == "none":
        return None
    if kind == "unserializable":
        return {"when": object()}
    return func.HttpResponse(status_code=204)


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> str:
    raise RuntimeError("secret-detail-42 should never reach the client")


@app.route(route="aboom", methods=["GET"])
async def aboom(req: func.HttpRequest) -> str:
    raise ValueError("async-secret-43")


@app.route(route="settings", methods=["GET"])
def settings(req: func.HttpRequest) -> func.HttpResponse:
    """The values of the environment variables named in `?names=a,b`."""
    names = req.params.get("names", "").split(",")
    return func.HttpResponse(json.dumps({n: os.environ.get(n) for n in names}), mimetype="application/json")


@app.route(route="context", methods=["GET"])
def with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """What the worker's `context` argument carries."""
    return func.HttpResponse(
        json.dumps(
            {
                "function_name": context.function_name,
                "invocation_id": context.invocation_id,
                "function_directory": context.function_directory,
                "trace_parent": context.trace_context.trace_parent,
                "retry_count": context.retry_context.retry_count,
                "thread_invocation_id": getattr(context.thread_local_storage, "invocation_id", None),
            }
        ),
        mimetype="application/json",
    )


@app.route(route="block", methods=["GET"])
def block(req: func.HttpRequest) -> str:
    """Sync: announce start by creating `?started=<file>`, then wait until `?release=<file>` exists."""
    Path(req.params["started"]).touch()
    release = Path(req.params["release"])
    deadline = time.monotonic() + 30
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return "released" if release.exists() else "timed out"


@app.route(route="offload", methods=["GET"])
async def offload(req: func.HttpRequest) -> str:
    """Async, blocking work offloaded with asyncio.to_thread: like `block`, on the loop's default executor."""
    Path(req.params["started"]).touch()
    release = Path(req.params["release"])

    def wait_for_release() -> str:
        deadline = time.monotonic() + 30
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return "released" if release.exists() else "timed out"

    return await asyncio.to_thread(wait_for_release)


@app.route(route="fast/sync", methods=["GET"])
def fast_sync(req: func.HttpRequest) -> str:
    return "fast sync"


@app.route(route="fast/async", methods=["GET"])
async def fast_async(req: func.HttpRequest) -> str:
    await asyncio.sleep(0)
    return "fast async"


@app.route(route="keys/function", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def function_level(req: func.HttpRequest) -> str:
    return "function level ok"


@app.route(route="keys/admin", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_level(req: func.HttpRequest) -> str:
    return "admin level ok"


@app.route(route="queued", methods=["POST"])
@app.queue_output(arg_name="msg", queue_name="out", connection="AzureWebJobsStorage")
def queued(req: func.HttpRequest, msg: func.Out[str]) -> str:
    msg.set("hello")
    return "queued"


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
def tick(timer: func.TimerRequest) -> None:
    """A timer every five minutes (devhost schedules it; the tests never wait for it)."""


@app.route(route="bad/{x:nosuchconstraint}", methods=["GET"])
def bad_route(req: func.HttpRequest) -> str:
    """An unknown constraint: listed as unusable, the rest of the app still served."""
    return "never"
