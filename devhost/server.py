"""The HTTP server: one starlette app (admin, extension and function routes) run by uvicorn in-process.

Route order: `/admin/host/status`, then each extension's routes, then the app's functions
(chosen by `devhost.routing`). devhost owns the process's signals: SIGINT/SIGTERM stop
uvicorn gracefully, then extensions shut down. `/admin/host/status` says `Initialized` until
every extension's startup has finished, then `Running`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Message, Receive, Scope, Send

from devhost.channel import HttpBody, HttpCall, HttpStart
from devhost.config import HostConfig
from devhost.easyauth import EasyAuth
from devhost.extension import HostExtension
from devhost.invoke import InvocationPlan, binding_values, invoke, plan_function
from devhost.keys import AuthLevel, HostKeys, KeyCheck, check_key
from devhost.loader import FunctionIndex, FunctionSpec, remote_index
from devhost.paths import LimitPaths
from devhost.protocol import protocol_class
from devhost.responses import JSONResponse
from devhost.routing import FunctionRoute, RouteDecision, RouteTable, RouteTemplate, RouteTemplateError, split_path
from devhost.workers import WorkerPool

__all__ = [
    "DEFAULT_GRACEFUL_SECONDS",
    "HostState",
    "HttpFunctions",
    "bind_socket",
    "build_app",
    "build_functions",
    "serve",
]

log = logging.getLogger("devhost")

_HTTP_TRIGGER = "httptrigger"
MAX_BODY_BYTES = 100 * 1024 * 1024
"""The largest request body a function gets (Azure's limit, 100 MB); `DEVHOST_MAX_REQUEST_BODY_BYTES` changes it."""
BODY_TIMEOUT_SECONDS = 30.0
"""How long devhost waits for the next piece of a request body (`DEVHOST_BODY_TIMEOUT_SECONDS`)."""
DEFAULT_GRACEFUL_SECONDS = 10.0
"""How long in-flight calls may finish after SIGINT/SIGTERM before they are cancelled."""


@dataclass
class HostState:
    """What `/admin/host/status` reports; requests wait for `Running` (extensions started, recovery done)."""

    state: str = "Initialized"
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if self.state == "Running":
            self.ready.set()

    def running(self) -> None:
        """Startup is over: let requests through."""
        self.state = "Running"
        self.ready.set()


STARTUP_WAIT_SECONDS = 60.0
"""How long a request that arrives while the host starts waits for it (then 503), as the Functions host holds them."""


class WaitForStartup:
    """ASGI middleware: every request but the host status waits until the host is Running.

    Before that the extensions have not recovered their state (devhost restarted after a crash):
    a function or webhook answering then would see an empty task hub (a chat reported missing).
    """

    def __init__(self, app: Any, state: HostState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.state.ready.is_set() and scope.get("path") != "/admin/host/status":
            try:
                await asyncio.wait_for(self.state.ready.wait(), STARTUP_WAIT_SECONDS)
            except TimeoutError:
                await _error(503, "the host is still starting; try again")(scope, receive, send)
                return
        await self.app(scope, receive, send)


@dataclass
class HttpFunctions:
    """The app's HTTP functions: routes, invocation plans, and those whose route is unusable."""

    table: RouteTable
    plans: dict[str, InvocationPlan]
    levels: dict[str, AuthLevel]
    broken: dict[str, str] = field(default_factory=dict)
    """Function name -> why it has no route (bad template or authLevel)."""


def build_functions(index: FunctionIndex, config: HostConfig, extensions: Sequence[HostExtension]) -> HttpFunctions:
    """Routes and plans for every httpTrigger function; a bad one is recorded, never fatal."""
    routes: list[FunctionRoute] = []
    plans: dict[str, InvocationPlan] = {}
    levels: dict[str, AuthLevel] = {}
    broken: dict[str, str] = {}
    for function in index.by_trigger(_HTTP_TRIGGER):
        trigger = function.trigger
        route_text = trigger.get("route")
        route_text = function.name if route_text is None else str(route_text)
        methods = trigger.get("methods")
        try:
            template = RouteTemplate.parse(route_text, config.route_prefix)
            levels[function.name] = AuthLevel.of(trigger.get("authLevel"))
        except (RouteTemplateError, ValueError) as error:
            broken[function.name] = str(error)
            continue
        routes.append(
            FunctionRoute(
                function_name=function.name,
                template=template,
                methods=frozenset(str(m).upper() for m in methods) if methods else None,
            )
        )
        plans[function.name] = plan_function(function, extensions)
    _warn_conflicts(routes)
    _warn_http_streams(plans)
    return HttpFunctions(RouteTable(routes), plans, levels, broken)


def _warn_http_streams(plans: dict[str, InvocationPlan]) -> None:
    """HTTP streams on Azure are all or nothing: say what would not work there."""
    streaming = sorted(name for name, plan in plans.items() if plan.http_v2)
    if not streaming:
        return
    classic = sorted(name for name, plan in plans.items() if not plan.http_v2)
    if classic:
        log.warning(
            "Functions %s use the HTTP streams extension's types and %s use func.HttpRequest: on Azure an app "
            "with HTTP streams enabled serves only the extension's types, so those would fail there",
            ", ".join(streaming),
            ", ".join(classic),
        )
    if os.environ.get("PYTHON_ENABLE_INIT_INDEXING", "").strip() != "1":
        log.warning(
            "Functions %s use the HTTP streams extension: on Azure they need the app setting "
            "PYTHON_ENABLE_INIT_INDEXING=1 (devhost serves them without it)",
            ", ".join(streaming),
        )


def _warn_conflicts(routes: Sequence[FunctionRoute]) -> None:
    """Two functions on one template with a shared method: the host refuses that; devhost warns."""
    for i, first in enumerate(routes):
        for second in routes[i + 1 :]:
            same_path = first.template.text.lower() == second.template.text.lower()
            methods_overlap = first.methods is None or second.methods is None or bool(first.methods & second.methods)
            if same_path and methods_overlap:
                log.warning(
                    "Functions %s and %s both answer /%s with the same method; the Functions host "
                    "rejects such a conflict, devhost calls only one of them",
                    first.function_name,
                    second.function_name,
                    first.template.text,
                )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class FunctionsRoute(BaseRoute):
    """Matches any path one of the app's HTTP functions answers; 405 when only the method is wrong."""

    def __init__(
        self, functions: HttpFunctions, config: HostConfig, keys: HostKeys, workers: WorkerPool | None = None
    ) -> None:
        self.functions = functions
        self.config = config
        self.keys = keys
        self.workers = workers

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if isinstance(raw, bytes) else scope["path"]
        decision = self.functions.table.resolve(scope["method"], split_path(path))
        if decision.match is Match.NONE:
            return Match.NONE, {}
        return Match.FULL, {"devhost.decision": decision}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, _bounded(receive, _max_body_bytes(), _body_timeout()))
        try:
            response = await self._respond(request, scope["devhost.decision"])
        except _BodyRefused as refused:
            response = _error(refused.status, refused.message, {"Connection": "close"})
        except ClientDisconnect:
            return  # the client left before its body was complete: nobody to answer
        await response(scope, receive, send)

    async def _respond(self, request: Request, decision: RouteDecision) -> Response:
        if decision.match is Match.PARTIAL or decision.route is None:
            allowed = ", ".join(decision.allowed)
            return _error(405, f"method {request.method} is not allowed here; allowed: {allowed}", {"Allow": allowed})
        name = decision.route.function_name
        if self.config.require_keys:
            outcome = check_key(
                self.functions.levels[name], self.keys, query=request.query_params, headers=request.headers
            )
            if outcome is not KeyCheck.ALLOWED:
                level = self.functions.levels[name].value
                why = "no key was given" if outcome is KeyCheck.MISSING else "the key given is not valid"
                return _error(
                    401, f"function {name!r} needs a {level} key (query `code` or header `x-functions-key`); {why}"
                )
        plan = self.functions.plans[name]
        if plan.unsupported:
            return _error(501, f"function {name!r} cannot run on devhost: {plan.unsupported}")
        declared = request.headers.get("content-length")
        limit = _max_body_bytes()
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _BodyRefused(413, f"the request body is {declared} bytes; the host accepts at most {limit}")
        if self.workers is None:
            await request.body()  # read (bounded) before the function runs in this process
            return await invoke(plan, request, decision.route_params, function_directory=str(self.config.script_root))
        first = await request.receive()  # the body's first piece (all of it, for most requests)
        if first["type"] == "http.disconnect":
            raise ClientDisconnect
        length = int(declared) if declared is not None and declared.isdigit() else None
        return _WorkerCall(self.workers, plan, request, decision.route_params, first, length)


_SCOPE_KEYS = (
    "http_version",
    "method",
    "scheme",
    "path",
    "raw_path",
    "query_string",
    "root_path",
    "headers",
    "client",
    "server",
)


class _WorkerCall:
    """An HTTP function's response from a worker process: sent to the client as the worker produces it.

    The request goes over as its ASGI scope (the parts a function sees) and route params, with the host's
    values for the function's other input bindings and the body's first piece; the rest of the body follows
    piece by piece as it arrives, each sent once the worker's socket has room for it, so devhost never holds a
    whole body (its limits still apply: over the size, or too slow, the worker drops what it got and the
    client gets the 413/408 JSON). The response comes back as ASGI messages, relayed as they come (a stream
    stays a stream). A client that goes away is told to the worker (the function's request sees a
    disconnect). A worker that dies first: 500 JSON if nothing was sent yet.
    """

    def __init__(
        self,
        workers: WorkerPool,
        plan: InvocationPlan,
        request: Request,
        route_params: dict[str, str],
        first: Message,
        length: int | None,
    ) -> None:
        scope = {key: request.scope[key] for key in _SCOPE_KEYS if key in request.scope}
        scope["headers"] = [(bytes(k), bytes(v)) for k, v in scope.get("headers", [])]
        self.workers = workers
        self.receive_body = request.receive
        self.name = plan.function.name
        self.call = HttpCall(
            plan.function.name,
            scope,
            dict(route_params),
            binding_values(plan),
            bytes(first.get("body", b"")),
            bool(first.get("more_body", False)),
            length,
        )

    async def _forward_body(self, call_id: int) -> None:
        """The rest of the body to the worker, piece by piece (`_BodyRefused` over the limits, `ClientDisconnect`)."""
        more = True
        while more:
            message = await self.receive_body()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            more = bool(message.get("more_body", False))
            if not await self.workers.send_body(call_id, message.get("body", b""), more):
                return  # the worker died: the call's end says so

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        messages: asyncio.Queue[HttpStart | HttpBody] = asyncio.Queue()
        exchange = self.workers.http(self.call, messages.put_nowait)
        finished, cancel = exchange.finished, exchange.cancel
        if self.call.more_body:
            try:
                await self._forward_body(exchange.call_id)
            except _BodyRefused as refused:
                cancel()
                await _error(refused.status, refused.message, {"Connection": "close"})(scope, receive, send)
                return
            except ClientDisconnect:
                cancel()
                return

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        started = ended = False
        try:
            while not ended:
                if messages.empty() and not finished.done():
                    getter = asyncio.ensure_future(messages.get())
                    await asyncio.wait({getter, finished}, return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        getter.cancel()
                        continue
                    message = getter.result()
                elif not messages.empty():
                    message = messages.get_nowait()
                else:
                    break
                match message:
                    case HttpStart(_, status, headers):
                        started = True
                        await send({"type": "http.response.start", "status": status, "headers": headers})
                    case HttpBody(_, body, more):
                        ended = not more
                        await send({"type": "http.response.body", "body": body, "more_body": more})
            try:
                await finished
            except Exception as error:  # the worker died (or could not run the call): the client gets a 500
                log.error("Function %s did not complete in its worker process: %s", self.name, error)
                if not started:
                    body = JSONResponse(
                        {
                            "error": f"function {self.name!r} failed: its worker process exited while "
                            "running it; see the devhost log"
                        },
                        status_code=500,
                    )
                    await body(scope, receive, send)
                elif not ended:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()


class _BodyRefused(Exception):
    """The request body is too large or too slow: answered with `status` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def _max_body_bytes() -> int:
    return int(_env_number("DEVHOST_MAX_REQUEST_BODY_BYTES", MAX_BODY_BYTES))


def _body_timeout() -> float:
    return _env_number("DEVHOST_BODY_TIMEOUT_SECONDS", BODY_TIMEOUT_SECONDS)


def _bounded(receive: Receive, limit: int, timeout: float) -> Receive:
    """`receive` that refuses a body over `limit` bytes (413) or a gap of more than `timeout` s between its pieces
    (408)."""
    received = 0
    complete = False

    async def bounded() -> Any:
        nonlocal received, complete
        if complete:  # after the body, receive only waits for a disconnect (a streaming response listens for it)
            return await receive()
        try:
            message = await asyncio.wait_for(receive(), timeout)
        except TimeoutError:
            raise _BodyRefused(408, f"the request body did not arrive within {timeout:g} s") from None
        if message.get("type") == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyRefused(413, f"the request body is over {limit} bytes, the most the host accepts")
            complete = not message.get("more_body", False)
        return message

    return bounded


async def _not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return _error(405, f"method {request.method} is not allowed on {request.url.path}", dict(exc.headers or {}))
    return _error(404, f"no function or host route answers {request.method} {request.url.path}")


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("Unhandled error serving %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal error in devhost; see its log")


def build_app(
    functions: HttpFunctions,
    config: HostConfig,
    keys: HostKeys,
    extensions: Sequence[HostExtension],
    state: HostState,
    workers: WorkerPool | None = None,
) -> Starlette:
    """The ASGI app: host status, extension routes, then the functions (run in `workers` when given)."""

    async def host_status(request: Request) -> Response:
        return JSONResponse({"state": state.state})

    routes: list[BaseRoute] = [Route("/admin/host/status", host_status, methods=["GET"])]
    for extension in extensions:
        routes.extend(extension.routes())
    routes.append(FunctionsRoute(functions, config, keys, workers))
    middleware = [Middleware(LimitPaths), Middleware(WaitForStartup, state=state)]
    if config.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.cors_origins),
                allow_methods=["*"],
                allow_headers=["*"],
                allow_credentials=config.cors_credentials,
            )
        )
    # Innermost: strips forged X-MS-CLIENT-PRINCIPAL* headers from every request; serves /.auth/* when enabled.
    middleware.append(Middleware(EasyAuth, config=config))
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: _not_found, 405: _not_found, Exception: _server_error},
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready socket on host:port (port 0 picks a free one); OSError if it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and
    # without it keep-alive responses (headers and body written apart) wait ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture: devhost installs the handlers (and re-raises none)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listing_lines(
    index: FunctionIndex, functions: HttpFunctions, config: HostConfig, extensions: Sequence[HostExtension]
) -> list[str]:
    served = {t for e in extensions for t in e.trigger_types}
    lines = ["Functions:", ""]
    for function in index.functions:
        if function.trigger_type.lower() == _HTTP_TRIGGER:
            lines.append(_http_line(function, functions, config))
        elif function.trigger_type.lower() in served:
            lines.append(f"\t{function.name}: {function.trigger_type}")
        else:
            lines.append(
                f"\t{function.name}: {function.trigger_type} (not supported by devhost: it serves "
                f"httpTrigger{''.join(', ' + t for t in sorted(served))} only, so this function will not run)"
            )
        lines.append("")
    return lines


def _http_line(function: FunctionSpec, functions: HttpFunctions, config: HostConfig) -> str:
    if function.name in functions.broken:
        return f"\t{function.name}: httpTrigger (route not usable: {functions.broken[function.name]})"
    route = next(r for r in functions.table.routes if r.function_name == function.name)
    methods = ",".join(sorted(route.methods)) if route.methods else "ANY"
    line = f"\t{function.name}: [{methods}] {config.base_url}/{route.template.text}"
    plan = functions.plans[function.name]
    return f"{line} (not runnable by devhost: {plan.unsupported})" if plan.unsupported else line


def print_listing(lines: Sequence[str], out: TextIO = sys.stdout) -> None:
    """Write the start-up listing (stdout, flushed so wrappers see it at once)."""
    out.write("\n".join(lines) + "\n")
    out.flush()


async def serve(
    config: HostConfig,
    index: FunctionIndex | WorkerPool,
    extensions: Sequence[HostExtension],
    keys: HostKeys,
    sock: socket.socket,
    *,
    graceful_seconds: float = DEFAULT_GRACEFUL_SECONDS,
) -> None:
    """Serve until SIGINT/SIGTERM; extensions start once listening and stop after uvicorn.

    `index`: the app loaded in this process, or the worker processes that load it (then the host learns its
    functions from the first worker, and every invocation runs in a worker)."""
    workers: WorkerPool | None = None
    if isinstance(index, WorkerPool):
        workers = index
        for extension in extensions:
            attach = getattr(extension, "attach_workers", None)
            if attach is not None:
                attach(workers)
        try:
            index = remote_index(await workers.start())
        except BaseException:
            workers.close()
            raise
        log.info("App loaded in %d worker process(es): pid %s", workers.count, ", ".join(map(str, workers.pids)))
    try:
        await _serve(config, index, extensions, keys, sock, graceful_seconds, workers)
    finally:
        if workers is not None:
            workers.close()


async def _serve(
    config: HostConfig,
    index: FunctionIndex,
    extensions: Sequence[HostExtension],
    keys: HostKeys,
    sock: socket.socket,
    graceful_seconds: float,
    workers: WorkerPool | None,
) -> None:
    state = HostState()
    functions = build_functions(index, config, extensions)
    app = build_app(functions, config, keys, extensions, state, workers)
    server = _Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=graceful_seconds,
            server_header=False,
            http=protocol_class(),
        )
    )

    def request_exit() -> None:
        log.info("Stopping the host (in-flight calls get up to %gs)", graceful_seconds)
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_exit)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    started: list[HostExtension] = []
    try:
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if serving.done():
            await serving
            return
        for extension in extensions:
            await extension.startup(index)
            started.append(extension)
        print_listing(_listing_lines(index, functions, config, extensions))
        state.running()
        log.info("Host started: %s (route prefix %r)", config.base_url, config.route_prefix)
        await serving
    finally:
        server.should_exit = True
        if not serving.done():
            await serving
        for extension in reversed(started):
            try:
                await extension.shutdown()
            except Exception:
                log.exception("Extension %s failed to shut down cleanly", type(extension).__name__)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("Host stopped")
