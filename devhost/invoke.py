"""Invoking one HTTP-triggered function the way the Python worker does.

At start each function gets an `InvocationPlan`: which parameter receives the request,
whether it wants `context`, which input bindings an extension provides, or why devhost
cannot run it. Per request it builds the worker's own `HttpRequest` type, fills parameters
by binding name, runs sync functions in a thread pool (async ones on the loop) and turns the
return value into an HTTP response as the worker and host would.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio.to_thread
import azure.functions as func
from anyio import CapacityLimiter
from azure.functions import _abc as func_abc
from azure.functions.http import HttpRequest as WorkerHttpRequest
from starlette.requests import Request
from starlette.responses import Response

from devhost.extension import BindingRequest, HostExtension
from devhost.http_types import annotation_of, is_http_v2_type
from devhost.loader import FunctionSpec
from devhost.responses import JSONResponse

__all__ = [
    "InvocationContext",
    "InvocationPlan",
    "UnusableReturn",
    "binding_values",
    "build_http_request",
    "invoke",
    "plan_function",
    "thread_count",
    "to_response",
    "to_v2_response",
]

log = logging.getLogger("devhost.invoke")

_THREAD_LOCAL = threading.local()
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = weakref.WeakKeyDictionary()


def thread_count(environ: Mapping[str, str] | None = None) -> int:
    """How many sync functions run at once (each on a thread), as the Python worker sizes its pool:
    `PYTHON_THREADPOOL_THREAD_COUNT` (1-32), else its default for Python 3.9+, min(32, CPUs + 4)."""
    raw = str((os.environ if environ is None else environ).get("PYTHON_THREADPOOL_THREAD_COUNT", "")).strip()
    if raw.isdigit() and 1 <= int(raw) <= 32:
        return int(raw)
    return min(32, (os.cpu_count() or 1) + 4)


def _thread_limiter() -> CapacityLimiter:
    """The thread limiter of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = CapacityLimiter(thread_count())
    return limiter


class _TraceContext(func_abc.TraceContext):
    def __init__(self, trace_parent: str, trace_state: str) -> None:
        self._parent, self._state = trace_parent, trace_state

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def trace_state(self) -> str:
        return self._state

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(func_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        """None: HTTP triggers are never retried, so there is no previous failure."""
        return None


class InvocationContext(func.Context):
    """The `context` argument: what the worker passes a function that asks for it."""

    def __init__(
        self, function: FunctionSpec, invocation_id: str, function_directory: str, trace_parent: str, trace_state: str
    ) -> None:
        self._function = function
        self._invocation_id = invocation_id
        self._directory = function_directory
        self._trace = _TraceContext(trace_parent, trace_state)
        self._retry = _RetryContext()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:
        return _THREAD_LOCAL

    @property
    def function_name(self) -> str:
        return self._function.name

    @property
    def function_directory(self) -> str:
        return self._directory

    @property
    def trace_context(self) -> func_abc.TraceContext:
        return self._trace

    @property
    def retry_context(self) -> func_abc.RetryContext:
        return self._retry


@dataclass(frozen=True)
class ExtensionInput:
    """An input binding whose value an extension provides."""

    parameter: str
    binding: dict[str, Any]
    extension: HostExtension


@dataclass(frozen=True)
class InvocationPlan:
    """How to call one HTTP-triggered function, decided once at start."""

    function: FunctionSpec
    request_parameter: str
    """The parameter named by the httpTrigger binding."""
    wants_context: bool = False
    extension_inputs: tuple[ExtensionInput, ...] = ()
    unsupported: str | None = None
    """Why devhost cannot run it (answered with 501), or None."""
    warned_types: set[str] = field(default_factory=set, compare=False)
    """Return types already warned about (dict/list/bytes are devhost-only conveniences)."""
    http_v2: bool = False
    """The request parameter is the `azurefunctions-extensions-http-fastapi` `Request` (HTTP streams): the function
    gets a FastAPI request and returns a FastAPI/starlette response, streamed as it is produced."""


def plan_function(function: FunctionSpec, extensions: Sequence[HostExtension]) -> InvocationPlan:
    """Match the function's parameters to its bindings, as the worker does when it loads a function."""
    request_parameter = str(function.trigger.get("name", "req"))
    inputs: list[ExtensionInput] = []
    problems: list[str] = []
    names: set[str] = set()
    for binding in function.bindings:
        name, kind = str(binding.get("name", "")), str(binding.get("type", ""))
        direction = str(binding.get("direction", "IN")).lower()
        if binding is function.trigger:
            names.add(name)
            continue
        if name == "$return":
            if kind.lower() != "http":
                problems.append(f"return binding type {kind!r} is not supported by devhost")
            continue
        names.add(name)
        owner = next((e for e in extensions if kind.lower() in e.binding_types), None)
        if owner is not None and direction == "in":
            inputs.append(ExtensionInput(name, binding, owner))
        else:
            problems.append(f"{direction} binding {name!r} of type {kind!r} is not supported by devhost")
    try:
        parameters = inspect.signature(function.func).parameters
    except (TypeError, ValueError):
        parameters = {}
    wants_context = "context" in parameters and "context" not in names
    http_v2 = request_parameter in parameters and is_http_v2_type(annotation_of(function.func, request_parameter))
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    for name, parameter in parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name not in names and name != "context" and parameter.default is parameter.empty:
            problems.append(f"parameter {name!r} has no binding")
    if parameters and not takes_any:
        # As the worker: every binding needs a parameter of the same name.
        problems.extend(f"binding {n!r} has no parameter of that name" for n in sorted(names - set(parameters)))
    return InvocationPlan(
        function=function,
        request_parameter=request_parameter,
        wants_context=wants_context,
        extension_inputs=tuple(inputs),
        unsupported="; ".join(problems) or None,
        http_v2=http_v2,
    )


def _joined(items: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Repeated names joined with `,` as the host does for query and header values."""
    merged: dict[str, str] = {}
    for key, value in items:
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    return merged


def _request_url(request: Request) -> str:
    """The URL as the client sent it (starlette's `request.url` re-quotes the decoded path)."""
    raw = request.scope.get("raw_path")
    if not isinstance(raw, bytes):
        return str(request.url)
    query = request.scope.get("query_string", b"")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    return origin + raw.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")


def build_http_request(request: Request, body: bytes, route_params: Mapping[str, str]) -> func.HttpRequest:
    """The worker's `HttpRequest` for a starlette request (body already read)."""
    return WorkerHttpRequest(
        method=request.method,
        url=_request_url(request),
        headers=_joined(request.headers.items()),
        params=_joined(request.query_params.multi_items()),
        route_params=dict(route_params),
        body_type="bytes",
        body=body,
    )


def _json_or_none(value: Any) -> bytes | None:
    try:
        return json.dumps(value).encode("utf-8")
    except (TypeError, ValueError):
        return None


class UnusableReturn(TypeError):
    """A function returned something no HTTP response can carry (None, a number, a non-JSON dict...)."""


def to_response(plan: InvocationPlan, result: Any) -> Response:
    """The HTTP response for a function's return value; UnusableReturn if there is none.

    `func.HttpResponse` and `str` are what the Python worker accepts; `bytes`, `dict` and `list`
    are served too (with a warning, since the worker on Azure fails them); `None` fails as it
    does in the worker.
    """
    if isinstance(result, func_abc.HttpResponse):
        response = Response(content=result.get_body() or b"", status_code=int(result.status_code))
        content_type_set = False
        for name, value in result.headers.items():
            if name.lower() in ("content-length", "transfer-encoding"):
                continue
            content_type_set |= name.lower() == "content-type"
            response.headers.append(name, value)
        if not content_type_set:
            mimetype = result.mimetype or "text/plain"
            charset = result.charset or "utf-8"
            response.headers["content-type"] = (
                f"{mimetype}; charset={charset}" if mimetype.startswith("text/") else mimetype
            )
        return response
    if isinstance(result, str):
        return Response(result, media_type="text/plain; charset=utf-8")
    if isinstance(result, (bytes, bytearray, dict, list)):
        kind = type(result).__name__
        if kind not in plan.warned_types:
            plan.warned_types.add(kind)
            log.warning(
                "Function %s returned %s: devhost serves it, but the Python worker on Azure only "
                "accepts func.HttpResponse or str for an HTTP output and fails the call",
                plan.function.name,
                kind,
            )
        if isinstance(result, (bytes, bytearray)):
            return Response(bytes(result), media_type="application/octet-stream")
        body = _json_or_none(result)
        if body is not None:
            return Response(body, media_type="application/json")
    raise UnusableReturn(
        f"Function {plan.function.name} returned {type(result).__name__}, which an HTTP output cannot "
        "carry (return func.HttpResponse or str)"
    )


async def _fastapi_request(request: Request, route_params: Mapping[str, str]) -> Any:
    """The FastAPI request the extension's functions get: the same connection, its route params, the body read."""
    from fastapi import Request as FastApiRequest

    body = await request.body()
    scope = dict(request.scope)
    scope["path_params"] = dict(route_params)
    value = FastApiRequest(scope, request.receive)
    value._body = body  # starlette's own cache of the read body: .body(), .json() and .stream() serve it
    return value


def to_v2_response(plan: InvocationPlan, result: Any) -> Response:
    """What an HTTP-streams function returns, as the extension's worker turns it into a response: a starlette/FastAPI
    response is sent as it is (a `StreamingResponse` chunk by chunk), a `str` as text, JSON values as JSON."""
    if isinstance(result, Response):
        return result
    if isinstance(result, str):
        return Response(result, media_type="text/plain; charset=utf-8")
    if isinstance(result, (dict, list, bool, int, float)):
        return JSONResponse(result)
    dump = getattr(result, "model_dump", None)
    if callable(dump):
        return JSONResponse(dump(mode="json"))
    raise UnusableReturn(
        f"Function {plan.function.name} returned {type(result).__name__}, which an HTTP-streams function cannot "
        "return (return a FastAPI response, str or a JSON value)"
    )


def binding_values(plan: InvocationPlan) -> dict[str, Any]:
    """The extensions' values for the plan's input bindings (the host computes them for a worker process)."""
    return {
        item.parameter: item.extension.binding_value(BindingRequest(function=plan.function, binding=item.binding))
        for item in plan.extension_inputs
    }


def _run_sync(plan: InvocationPlan, invocation_id: str, kwargs: dict[str, Any]) -> Any:
    _THREAD_LOCAL.invocation_id = invocation_id
    try:
        return plan.function.func(**kwargs)
    finally:
        _THREAD_LOCAL.invocation_id = None


async def invoke(
    plan: InvocationPlan,
    request: Request,
    route_params: Mapping[str, str],
    *,
    function_directory: str,
    binding_values: Mapping[str, Any] | None = None,
) -> Response:
    """Call the function for this request; a raising function gets a short 500 JSON. `binding_values`: the
    extensions' input values, computed by the host (in a worker process, which has no extensions)."""
    function = plan.function
    invocation_id = str(uuid.uuid4())
    log.info(
        "Executing 'Functions.%s' (Reason='This function was programmatically called via the host APIs.', Id=%s)",
        function.name,
        invocation_id,
    )
    started = time.perf_counter()
    outcome = "Failed"
    try:
        if plan.http_v2:
            request_value: Any = await _fastapi_request(request, route_params)
        else:
            request_value = build_http_request(request, await request.body(), route_params)
        kwargs: dict[str, Any] = {plan.request_parameter: request_value}
        for item in plan.extension_inputs:
            kwargs[item.parameter] = (
                binding_values[item.parameter]
                if binding_values is not None
                else item.extension.binding_value(BindingRequest(function=function, binding=item.binding))
            )
        if plan.wants_context:
            kwargs["context"] = InvocationContext(
                function,
                invocation_id,
                function_directory,
                request.headers.get("traceparent", f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00"),
                request.headers.get("tracestate", ""),
            )
        if function.is_async:
            _THREAD_LOCAL.invocation_id = invocation_id
            result = await function.func(**kwargs)
        else:
            result = await anyio.to_thread.run_sync(
                partial(_run_sync, plan, invocation_id, kwargs), limiter=_thread_limiter()
            )
        response = to_v2_response(plan, result) if plan.http_v2 else to_response(plan, result)
        outcome = "Succeeded"
        return response
    except UnusableReturn as unusable:
        log.error("%s (Id=%s)", unusable, invocation_id)
        return JSONResponse({"error": f"function {function.name!r} returned an unusable value"}, 500)
    except Exception:
        log.exception("Function %s (Id=%s) raised", function.name, invocation_id)
        return JSONResponse(
            {"error": f"function {function.name!r} failed; see the devhost log (invocation {invocation_id})"},
            status_code=500,
        )
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        log.info("Executed 'Functions.%s' (%s, Id=%s, Duration=%.0fms)", function.name, outcome, invocation_id, elapsed)
