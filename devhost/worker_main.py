"""A worker process: `python -m devhost.worker_main --script-root DIR --fd N`.

As the Python worker does for the Functions host, it loads the app (the host never imports it), tells
the host what functions it has, and runs every invocation of app code the host sends over the socket
`--fd` (the message format is in `devhost.channel`): HTTP functions (their responses streamed back
piece by piece), orchestrator episodes and entity batches (on a thread pool of
`PYTHON_THREADPOOL_THREAD_COUNT` threads, as the worker sizes its pool), activities and timer
functions. The app's durable client calls the host's management API over the same channel.

It exits when the host closes its end of the socket (the host stopped, or died) and, on Linux, when
its parent process dies.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import signal
import socket
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import Message

from devhost.bodies import BodyBuffer
from devhost.channel import (
    BASE_URL_ENV,
    CLIENT_BINDING_ENV,
    ActivityCall,
    Cancel,
    ChannelError,
    EntityCall,
    Failure,
    HostMessage,
    HttpBody,
    HttpCall,
    HttpStart,
    LoadError,
    OrchestratorCall,
    Ready,
    RequestBody,
    Result,
    Rpc,
    RpcResult,
    StatusChanged,
    Tally,
    TallyQuery,
    TimerCall,
    WorkerMessage,
    read_message,
    write_message,
)
from devhost.config import effective_host_json
from devhost.durable import history as h
from devhost.durable.activities import ActivityRunner
from devhost.durable.binding import WEBHOOK_PREFIX
from devhost.durable.entities import run_entity_batch
from devhost.durable.replay import run_orchestrator
from devhost.durable.sdk_speedups import install_sdk_speedups
from devhost.durable.tally import StatusReads, remember
from devhost.invoke import InvocationPlan, invoke, plan_function, thread_count
from devhost.loader import AppLoadError, FunctionIndex, FunctionSpec, describe, load_app
from devhost.logs import configure_logging
from devhost.processes import die_with_parent
from devhost.timers import call_timer_function
from devhost.workers import status_read

__all__ = ["main", "thread_count"]

log = logging.getLogger("devhost.worker")

_CLIENT_MODULE = "azure.durable_functions.models.DurableOrchestrationClient"
_HELPERS = {"get_async_request": "GET", "post_async_request": "POST", "delete_async_request": "DELETE"}


class StatusCache:
    """Instance status answers the host gave this worker, kept until the host says the status changed.

    An app waiting for an instance polls `get_status`; each poll would cross the channel twice. The host
    tells every worker when a status it read changes (`status.changed`, numbered), so an answer stays
    good until then. An answer computed before a change the worker has already heard of (its number is
    older) is not kept.
    """

    LIMIT = 4096

    def __init__(self) -> None:
        self._answers: dict[str, dict[str, tuple[int, bytes]]] = {}
        self._changed: dict[str, int] = {}
        self.hits: dict[str, StatusReads] = {}
        """The reads answered here, by instance: on Azure each is a call (`devhost.durable.tally`)."""

    def hit(self, instance: str) -> None:
        """A read of `instance` was answered from here."""
        remember(self.hits, instance).add(time.time(), cached=True)

    def hits_json(self) -> dict[str, tuple[int, list[float]]]:
        """The reads answered here: instance -> (count, the latest times)."""
        return {instance: (reads.count, list(reads.times)) for instance, reads in self.hits.items()}

    def get(self, instance: str, query: str) -> tuple[int, bytes] | None:
        return self._answers.get(instance, {}).get(query)

    def remember(self, instance: str, query: str, status: int, body: bytes, seq: int) -> None:
        if self._changed.get(instance, 0) > seq:
            return
        if len(self._answers) >= self.LIMIT and instance not in self._answers:
            self._answers.pop(next(iter(self._answers)))
        self._answers.setdefault(instance, {})[query] = (status, body)

    def changed(self, instance: str, seq: int) -> None:
        self._answers.pop(instance, None)
        self._changed[instance] = seq
        if len(self._changed) > self.LIMIT:
            self._changed.pop(next(iter(self._changed)))


class _DurableKind:
    """Stands for the durable extension when planning HTTP functions here: the host provides the values."""

    binding_types = frozenset({"durableclient"})


class Worker:
    """Runs what the host sends, on this process's event loop and thread pool."""

    def __init__(self, index: FunctionIndex, script_root: Path, writer: asyncio.StreamWriter) -> None:
        self.functions = {f.name.lower(): f for f in index.functions}
        self.script_root = script_root
        self.writer = writer
        self.pool = ThreadPoolExecutor(thread_count(), thread_name_prefix="worker")
        self.plans: dict[str, InvocationPlan] = {
            f.name.lower(): plan_function(f, [_DurableKind()])  # type: ignore[list-item]
            for f in index.by_trigger("httpTrigger")
        }
        activities = {f.name.lower(): f for f in index.by_trigger("activityTrigger")}
        self.activity_calls: dict[int, int] = {}
        self.activities = ActivityRunner(activities, self._activity_done, os.environ.get(CLIENT_BINDING_ENV))
        self.disconnects: dict[int, asyncio.Event] = {}
        self.bodies: dict[int, tuple[HttpCall, BodyBuffer]] = {}
        """HTTP calls whose request body is still coming (the function runs once it is complete)."""
        self.rpc_waiters: dict[int, asyncio.Future[Any]] = {}
        self.statuses = StatusCache()
        self._rpc_ids = 0

    def send(self, message: WorkerMessage) -> None:
        write_message(self.writer, message)

    # -- calls -----------------------------------------------------------------------------------
    def receive(self, message: HostMessage) -> None:
        """Act on one message from the host."""
        match message:
            case ActivityCall(activity, call_id):
                self.activity_calls[activity.id] = call_id
                self.activities.dispatch(activity)
            case HttpCall(more_body=True):
                buffer = BodyBuffer(message.body_length)
                buffer.write(message.body)
                self.bodies[message.call_id] = (message, buffer)
            case RequestBody(call_id, piece, more):
                self._body_piece(call_id, piece, more)
            case HttpCall() | OrchestratorCall() | EntityCall() | TimerCall():
                asyncio.get_running_loop().create_task(self._run(message))
            case Cancel(call_id):
                if self.bodies.pop(call_id, None) is not None:  # refused before it was complete: the call ends here
                    self.send(Result(call_id, None))
                else:
                    self.cancel(call_id)
            case RpcResult(rpc_id, status, body, seq):
                self.rpc_result(rpc_id, status, body, seq)
            case StatusChanged(instance_id, seq):
                self.statuses.changed(instance_id, seq)
            case TallyQuery(query_id):
                self.send(Tally(query_id, self.statuses.hits_json()))

    def _body_piece(self, call_id: int, piece: bytes, more: bool) -> None:
        """The next piece of a call's body; the last one starts the function with the whole body."""
        waiting = self.bodies.get(call_id)
        if waiting is None:
            return  # cancelled meanwhile
        call, buffer = waiting
        buffer.write(piece)
        if not more:
            del self.bodies[call_id]
            asyncio.get_running_loop().create_task(self._run(call, buffer.value()))

    def _activity_done(self, activity: Any, event: h.Event) -> None:
        call_id = self.activity_calls.pop(activity.id, None)
        if call_id is not None:
            self.send(Result(call_id, event))

    async def _run(self, call: HttpCall | OrchestratorCall | EntityCall | TimerCall, body: bytes = b"") -> None:
        """Run one call and answer it (`body`: an HTTP call's whole body when it came in pieces)."""
        loop = asyncio.get_running_loop()
        value: Any = None
        try:
            match call:
                case OrchestratorCall(name, context):
                    value = await loop.run_in_executor(self.pool, run_orchestrator, self._function(name).func, context)
                case EntityCall(name, entity_id, exists, state, requests):
                    handler = self._function(name).func
                    value = await loop.run_in_executor(
                        self.pool, run_entity_batch, handler, entity_id, exists, state, requests
                    )
                case TimerCall(name, past_due, values, call_id):
                    await call_timer_function(
                        self._function(name), past_due, values, str(call_id), str(self.script_root)
                    )
                case HttpCall(more_body=more_body):
                    await self._http(call, body if more_body else call.body)
        except Exception as error:  # reported to the host, which logs it and answers for it
            text = "".join(traceback.format_exception_only(type(error), error)).strip()
            self.send(Failure(call.call_id, text + "\n" + "".join(traceback.format_tb(error.__traceback__))))
            return
        self.send(Result(call.call_id, value))

    def _function(self, name: str) -> FunctionSpec:
        function = self.functions.get(name.lower())
        if function is None:
            raise LookupError(f"the app has no function named {name!r}")
        return function

    async def _http(self, call: HttpCall, body: bytes) -> None:
        """Build the request the function expects, call it, and stream its response to the host as ASGI messages.

        The function's request is given the body already read, so starlette's `Request.body()`, the worker's
        `HttpRequest.get_body()` and a FastAPI request's `body()` all return that very object."""
        plan = self.plans[call.function.lower()]
        call_id = call.call_id
        disconnected = self.disconnects[call_id] = asyncio.Event()
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.send(HttpStart(call_id, int(message["status"]), list(message.get("headers") or [])))
            elif message["type"] == "http.response.body":
                self.send(HttpBody(call_id, bytes(message.get("body", b"")), bool(message.get("more_body"))))
                await self.writer.drain()

        scope = {**call.scope, "type": "http", "asgi": {"version": "3.0"}}
        try:
            starlette_request = Request(scope, receive)
            # starlette's cache of the read body: `body()` returns this very object (reading the stream, it joins
            # the body with the empty piece that ends it: a second whole copy)
            starlette_request._body = body
            response = await invoke(
                plan,
                starlette_request,
                call.route_params,
                function_directory=str(self.script_root),
                binding_values=call.bindings,
            )
            await response(scope, receive, send)
        finally:
            self.disconnects.pop(call_id, None)

    def cancel(self, call_id: int) -> None:
        event = self.disconnects.get(call_id)
        if event is not None:
            event.set()

    # -- the app's durable client, over the channel -------------------------------------------------
    def install_rpc(self, origin: str) -> None:
        """Send the SDK client's calls to the host's management API over the channel (not a loopback HTTP hop)."""
        module: Any = importlib.import_module(_CLIENT_MODULE)
        for name, method in _HELPERS.items():
            original = getattr(module, name)
            setattr(module, name, self._rpc_helper(method, original, origin))

    def _rpc_helper(self, method: str, original: Any, origin: str) -> Any:
        async def helper(url: str, *args: Any, **kwargs: Any) -> list[Any]:
            parts = urlsplit(url)
            if f"{parts.scheme}://{parts.netloc}" != origin or not parts.path.startswith(f"{WEBHOOK_PREFIX}/"):
                return await original(url, *args, **kwargs)
            instance = status_read(method, parts.path)
            if instance is not None:
                cached = self.statuses.get(instance, parts.query)
                if cached is not None:
                    self.statuses.hit(instance)
                    status, answer = cached
                    value = json.loads(answer.decode("utf-8")) if answer.strip() else None
                    return [status, "" if value is None else value]
            data = (args[0] if args else kwargs.get("data")) if method == "POST" else None
            body = None if data is None else json.dumps(data).encode()
            self._rpc_ids += 1
            rpc_id = self._rpc_ids
            waiter = self.rpc_waiters[rpc_id] = asyncio.get_running_loop().create_future()
            self.send(Rpc(rpc_id, method, parts.path, parts.query, body))
            status, answer, seq = await waiter
            if status is not None and instance is not None:
                self.statuses.remember(instance, parts.query, status, answer, seq)
            if status is None:  # not one of the management routes: let the whole host answer, over HTTP
                return await original(url, *args, **kwargs)
            value = json.loads(answer.decode("utf-8")) if answer.strip() else None
            return [status, "" if method == "GET" and value is None else value]

        helper.__name__ = original.__name__
        return helper

    def rpc_result(self, rpc_id: int, status: int | None, body: bytes, seq: int) -> None:
        waiter = self.rpc_waiters.pop(rpc_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body, seq))


async def _serve(sock: socket.socket, script_root: Path) -> None:
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        index = load_app(script_root)
    except AppLoadError as error:
        write_message(writer, LoadError(str(error)))
        await writer.drain()
        os._exit(3)
    except BaseException:
        text = f"could not load the app in {script_root}: function_app.py failed to import (traceback below)\n"
        write_message(writer, LoadError(text + traceback.format_exc()))
        await writer.drain()
        os._exit(3)
    install_sdk_speedups()  # replays and the client's status reads run here (identical results, less CPU)
    worker = Worker(index, script_root, writer)
    origin = os.environ.get(BASE_URL_ENV)
    if origin:
        worker.install_rpc(origin.rstrip("/"))
    worker.send(Ready(describe(index)))
    while True:
        try:
            message = await read_message(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            os._exit(0)  # the host is gone: nothing to report to; running calls are not waited for
        except ChannelError:
            log.exception("bad message from the host; exiting")
            os._exit(2)
        worker.receive(message)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, load the app and serve until the host goes away."""
    parser = argparse.ArgumentParser(prog="python -m devhost.worker_main")
    parser.add_argument("--script-root", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True, help="the worker's end of the host's socket pair")
    parser.add_argument("--number", type=int, default=0, help="which worker of the host this is (for the log)")
    args = parser.parse_args(argv)
    die_with_parent(signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the host stops us
    sock = socket.socket(fileno=args.fd)
    configure_logging(effective_host_json(args.script_root), prefix=f"(worker {args.number}, pid {os.getpid()}) ")
    if str(args.script_root) not in sys.path:
        sys.path.insert(0, str(args.script_root))
    asyncio.run(_serve(sock, args.script_root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
