"""Unit tests of invocation: binding plans, parameters by binding name, return-value conversion."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
from starlette.requests import Request
from starlette.routing import BaseRoute

from devhost.extension import BindingRequest
from devhost.invoke import InvocationPlan, UnusableReturn, build_http_request, invoke, plan_function, to_response
from devhost.loader import AppLoadError, FunctionIndex, FunctionSpec, index_register


class RecordingExtension:
    """A HostExtension that provides `durableClient` values and records each request."""

    trigger_types = frozenset({"orchestrationtrigger"})
    binding_types = frozenset({"durableclient"})

    def __init__(self) -> None:
        self.requests: list[BindingRequest] = []

    def routes(self) -> list[BaseRoute]:
        return []

    def binding_value(self, request: BindingRequest) -> Any:
        self.requests.append(request)
        return json.dumps(
            {
                "taskHubName": "hub",
                "creationUrls": {},
                "managementUrls": {},
                "rpcBaseUrl": "http://127.0.0.1:1234/runtime/webhooks/durabletask/",
            }
        )

    async def startup(self, index: FunctionIndex) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def _specs(app: func.FunctionRegister) -> dict[str, FunctionSpec]:
    return {f.name: f for f in index_register(app).functions}


def _request(
    method: str = "GET",
    path: str = "/api/x",
    query: bytes = b"",
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Request:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": headers or [(b"host", b"127.0.0.1:1234")],
        "scheme": "http",
        "server": ("127.0.0.1", 1234),
    }
    return Request(scope, receive)


def _plan(function: FunctionSpec) -> InvocationPlan:
    return plan_function(function, [])


def test_plan_finds_request_context_and_unsupported_bindings() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="a")
    def plain(req: func.HttpRequest, context: func.Context) -> str:
        return "x"

    @app.route(route="b")
    @app.queue_output(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    def with_queue(req: func.HttpRequest, msg: func.Out[str]) -> str:
        return "x"

    specs = _specs(app)
    plain_plan = _plan(specs["plain"])
    assert plain_plan.request_parameter == "req" and plain_plan.wants_context
    assert plain_plan.unsupported is None
    assert "'queue'" in (_plan(specs["with_queue"]).unsupported or "")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (
            "stray",
            "cannot load the stray function: the following parameters are declared in Python but not in "
            "function.json: {'other'}",
        ),
        (
            "misnamed",
            "cannot load the misnamed function: the following parameters are declared in Python but not in "
            "function.json: {'request'}",
        ),
        (
            "unbound",
            "cannot load the unbound function: the following parameters are declared in function.json but not "
            "in Python: {'msg'}",
        ),
    ],
)
def test_functions_the_worker_refuses_are_refused_at_load_with_its_message(kind: str, message: str) -> None:
    """A parameter without a binding, or a binding without a parameter, stops the load as the Python worker does."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    if kind == "stray":

        @app.route(route="c")
        def stray(req: func.HttpRequest, other: str) -> str:
            return "x"
    elif kind == "misnamed":

        @app.route(route="d")
        def misnamed(request: func.HttpRequest) -> str:
            return "x"
    else:

        @app.route(route="e")
        @app.queue_output(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
        def unbound(req: func.HttpRequest) -> str:
            return "x"

    with pytest.raises(AppLoadError) as refused:
        index_register(app)
    assert str(refused.value) == "FunctionLoadError: " + message


def test_extension_binding_value_reaches_the_function() -> None:
    """A `durableClient` input is filled by the extension owning that type, through the DFApp wrapper."""
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    seen: dict[str, Any] = {}

    @app.route(route="start")
    @app.durable_client_input(client_name="client")
    async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> str:
        seen["client"] = client
        return "started"

    extension = RecordingExtension()
    plan = plan_function(_specs(app)["start"], [extension])
    assert plan.unsupported is None and [i.parameter for i in plan.extension_inputs] == ["client"]
    response = asyncio.run(invoke(plan, _request(), {}, function_directory="/app"))
    assert response.status_code == 200 and response.body == b"started"
    assert isinstance(seen["client"], df.DurableOrchestrationClient)
    assert extension.requests[0].binding["type"] == "durableClient"


def test_build_http_request() -> None:
    request = _request("POST", "/api/x%2Fy", b"a=1&a=2", b"{}", [(b"host", b"h:1"), (b"x-a", b"1"), (b"x-a", b"2")])
    built = asyncio.run(_built(request))
    assert isinstance(built, func.HttpRequest)
    assert built.url == "http://h:1/api/x%2Fy?a=1&a=2"
    assert built.params == {"a": "1,2"}
    assert built.headers["X-A"] == "1,2"
    assert built.route_params == {"r": "v"}
    assert built.get_json() == {}


async def _built(request: Request) -> func.HttpRequest:
    return build_http_request(request, await request.body(), {"r": "v"})


def _any_plan() -> InvocationPlan:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="r")
    def r(req: func.HttpRequest) -> str:
        return ""

    return _plan(_specs(app)["r"])


def test_http_response_mimetype_becomes_content_type() -> None:
    plan = _any_plan()
    text = to_response(plan, func.HttpResponse("hi", mimetype="text/html", charset="latin-1"))
    assert text.headers["content-type"] == "text/html; charset=latin-1"
    binary = to_response(plan, func.HttpResponse(b"\x00", mimetype="image/png", status_code=202))
    assert binary.headers["content-type"] == "image/png" and binary.status_code == 202
    explicit = to_response(plan, func.HttpResponse("{}", headers={"Content-Type": "application/problem+json"}))
    assert explicit.headers.getlist("content-type") == ["application/problem+json"]


@pytest.mark.parametrize("result", [None, 42, {"x": {1, 2}}])
def test_unusable_returns_raise(result: object) -> None:
    """None (as in the worker), numbers and non-JSON values have no HTTP response."""
    with pytest.raises(UnusableReturn):
        to_response(_any_plan(), result)


def test_plain_returns() -> None:
    plan = _any_plan()
    assert to_response(plan, "hé").body == "hé".encode()
    assert to_response(plan, bytearray(b"\x01")).headers["content-type"] == "application/octet-stream"
    assert to_response(plan, [1]).body == b"[1]"


def test_repeated_binding_names_and_inout_bindings_are_refused() -> None:
    """Two bindings of one name (the host's check) and an `inout` binding (the worker's) stop the load."""
    from devhost.loader import check_like_worker

    def handler(req: Any) -> str:
        return "x"

    trigger = {"type": "httpTrigger", "name": "req", "direction": "in"}
    with pytest.raises(AppLoadError, match="multiple bindings with name 'req'"):
        check_like_worker("f", (trigger, {"type": "blob", "name": "req", "direction": "in"}), handler)
    with pytest.raises(AppLoadError, match='cannot load the f function: "inout" bindings are not supported'):
        check_like_worker("f", ({**trigger, "direction": "inout"},), handler)
    check_like_worker("f", (trigger, {"type": "http", "name": "$return", "direction": "out"}), handler)
