"""Integration tests of the HTTP server: `python -m devhost start` serving `apps/basic` on a free port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from devhost.config import HostConfig
from devhost.keys import AuthLevel, HostKeys
from devhost.loader import index_register
from devhost.server import HostState, build_app, build_functions
from tests.devhost.conftest import ServeApp
from tests.support.devhost import DevhostProcess

CONFIG = HostConfig(
    script_root=Path("/app"), host="127.0.0.1", port=1, data_dir=Path("/d"), route_prefix="api", hub_name="h"
)
"""A config for in-process tests (nothing is read from disk)."""


@pytest.fixture(scope="module")
def host(serve_app: ServeApp) -> DevhostProcess:
    """One devhost for the module, serving the basic app (no keys enforced)."""
    return serve_app("basic")


@pytest.fixture(scope="module")
def client(host: DevhostProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.base_url, timeout=30) as c:
        yield c


def test_host_status_running(client: httpx.Client) -> None:
    """`/admin/host/status` answers Running."""
    response = client.get("/admin/host/status")
    assert response.status_code == 200
    assert response.json() == {"state": "Running"}


def test_request_carries_method_url_headers_params_route_and_body(client: httpx.Client) -> None:
    """The function gets a real HttpRequest with everything the client sent."""
    response = client.post(
        "/api/echo/a/b%20c",
        params=[("q", "1"), ("q", "2"), ("x", "y")],
        headers={"X-Thing": "v", "Content-Type": "application/json"},
        content=b'{"k": [1, 2]}',
    )
    assert response.status_code == 200
    data = response.json()
    assert data["method"] == "POST"
    assert data["url"].startswith(f"{client.base_url}/api/echo/a/b%20c?")
    assert data["headers"]["x-thing"] == "v"
    assert data["params"] == {"q": "1,2", "x": "y"}
    assert data["route_params"] == {"rest": "a/b c"}
    assert data["body"] == '{"k": [1, 2]}'
    assert data["json"] == {"k": [1, 2]}


def test_default_route_is_function_name_case_insensitive(client: httpx.Client) -> None:
    """No `route` means the function name; matching ignores case and a trailing slash."""
    assert client.get("/api/defaultroute").text == "default route"
    assert client.get("/API/DefaultRoute/").text == "default route"


def test_route_constraints_and_literal_precedence(client: httpx.Client) -> None:
    """Literal beats constrained parameters; int and alpha constraints pick the function."""
    assert client.get("/api/items/new").text == "literal new"
    assert client.get("/api/items/42").text == "id 42"
    assert client.get("/api/items/Widget").text == "name Widget"
    assert client.get("/api/items/abc123").status_code == 404


def test_same_path_other_method_goes_to_other_function(client: httpx.Client) -> None:
    """Two functions share `items/{id:int}` by method."""
    assert client.delete("/api/items/7").text == "deleted 7"


def test_optional_parameter(client: httpx.Client) -> None:
    assert client.get("/api/opt").text == "opt <none>"
    assert client.get("/api/opt/x").text == "opt x"


def test_unknown_path_is_404_json(client: httpx.Client) -> None:
    response = client.get("/api/no/such/route")
    assert response.status_code == 404
    assert "no function" in response.json()["error"]


def test_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    """A known path with a method no function accepts: 405 with the union of allowed methods."""
    response = client.post("/api/items/5")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET"
    assert "POST" in response.json()["error"]


def test_sibling_module_and_blueprint(client: httpx.Client) -> None:
    """A sibling import works, and func.Blueprint routes are served."""
    assert client.get("/api/shout/hey").text == "HEY!"
    assert client.get("/api/bp/hello/ann").text == "hello ann from a blueprint"


def test_http_response_status_headers_and_cookies(client: httpx.Client) -> None:
    response = client.get("/api/returns/response")
    assert response.status_code == 201
    assert response.text == "created!"
    assert response.headers["x-custom"] == "yes"
    assert response.headers["content-type"].startswith("text/plain")
    assert sorted(response.headers.get_list("set-cookie")) == ["a=1; Path=/", "b=2; Path=/"]


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "body"),
    [
        ("str", 200, "text/plain; charset=utf-8", b"plain text"),
        ("bytes", 200, "application/octet-stream", b"\x00\x01raw"),
        ("dict", 200, "application/json", b'{"a": 1, "b": [true, null]}'),
        ("list", 200, "application/json", b'[1, "two"]'),
        ("empty", 204, None, b""),
    ],
)
def test_return_types(client: httpx.Client, kind: str, status: int, content_type: str | None, body: bytes) -> None:
    """str, bytes, dict and list returns become responses as documented."""
    response = client.get(f"/api/returns/{kind}")
    assert response.status_code == status
    if content_type is not None:
        assert response.headers["content-type"] == content_type
    assert response.content == body


@pytest.mark.parametrize("kind", ["none", "unserializable"])
def test_unusable_return_is_500(client: httpx.Client, host: DevhostProcess, kind: str) -> None:
    """None (which the worker rejects too) and non-JSON values give a 500 JSON error."""
    response = client.get(f"/api/returns/{kind}")
    assert response.status_code == 500
    assert "unusable value" in response.json()["error"]


@pytest.mark.parametrize(("path", "secret"), [("/api/boom", "secret-detail-42"), ("/api/aboom", "async-secret-43")])
def test_raising_function_is_500_without_leak(
    client: httpx.Client, host: DevhostProcess, path: str, secret: str
) -> None:
    """500 JSON with no exception text; the traceback is in the log; the host keeps serving."""
    response = client.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert secret not in response.text
    assert "Traceback" not in response.text
    assert set(response.json()) == {"error"}
    log = host.log_text()
    assert "Traceback" in log and secret in log
    assert client.get("/api/defaultroute").status_code == 200


def test_context_argument(client: httpx.Client, host: DevhostProcess) -> None:
    """A `context` parameter gets the invocation context, as from the worker."""
    data = client.get("/api/context", headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}).json()
    assert data["function_name"] == "with_context"
    assert len(data["invocation_id"]) == 36
    assert data["thread_invocation_id"] == data["invocation_id"]
    assert data["function_directory"] == str(host.script_root)
    assert data["trace_parent"] == "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    assert data["retry_count"] == 0


def test_unsupported_binding_answers_501(client: httpx.Client) -> None:
    """A function with an output binding devhost cannot provide gets 501 JSON, not a crash."""
    response = client.post("/api/queued")
    assert response.status_code == 501
    assert "queue" in response.json()["error"]


def test_keys_not_enforced_by_default(client: httpx.Client) -> None:
    """Like Core Tools: without --require-keys, function and admin routes need no key."""
    assert client.get("/api/keys/function").text == "function level ok"
    assert client.get("/api/keys/admin").text == "admin level ok"


def _wait_for(path: Path, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert thread.is_alive(), "the blocking call ended before it started"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_slow_sync_function_blocks_nothing(host: DevhostProcess, tmp_path: Path) -> None:
    """While one sync call is in flight, another sync call starts and fast sync/async calls complete."""
    results: dict[str, str] = {}

    def call_block(key: str) -> None:
        with httpx.Client(base_url=host.base_url, timeout=60) as c:
            results[key] = c.get(
                "/api/block", params={"started": str(tmp_path / f"{key}.started"), "release": str(tmp_path / "release")}
            ).text

    first = threading.Thread(target=call_block, args=("first",))
    second = threading.Thread(target=call_block, args=("second",))
    first.start()
    _wait_for(tmp_path / "first.started", first)
    second.start()
    _wait_for(tmp_path / "second.started", second)  # two sync calls run at once
    with httpx.Client(base_url=host.base_url, timeout=30) as c:
        assert c.get("/api/fast/async").text == "fast async"
        assert c.get("/api/fast/sync").text == "fast sync"
    assert first.is_alive() and second.is_alive(), "the blocked calls must still be in flight"
    (tmp_path / "release").touch()
    first.join(30)
    second.join(30)
    assert results == {"first": "released", "second": "released"}


def test_startup_listing(host: DevhostProcess) -> None:
    """Each function is listed like `func start` does (the timer with its trigger type)."""
    log = host.log_text()
    base = host.base_url
    assert "Functions:" in log
    assert f"\titem_by_id: [GET] {base}/api/items/{{id:int}}\n" in log
    assert f"\techo: [GET,POST,PUT] {base}/api/echo/{{*rest}}\n" in log
    assert f"\tdefaultroute: [ANY] {base}/api/defaultroute\n" in log
    assert f"\tbp_hello: [GET] {base}/api/bp/hello/{{name}}\n" in log
    assert "\ttick: timerTrigger\n" in log
    assert "\tqueued: [POST] " in log and "not runnable by devhost" in log
    assert "\tbad_route: httpTrigger (route not usable: unknown route constraint 'nosuchconstraint')" in log


def test_conflicting_routes_are_warned(caplog: pytest.LogCaptureFixture) -> None:
    """Two functions on one route and method: a warning (the Functions host would refuse them)."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="same", methods=["GET"])
    def one(req: func.HttpRequest) -> str:
        return "1"

    @app.route(route="SAME", methods=["GET", "POST"])
    def two(req: func.HttpRequest) -> str:
        return "2"

    @app.route(route="same", methods=["PUT"])
    def three(req: func.HttpRequest) -> str:
        return "3"

    with caplog.at_level("WARNING", logger="devhost"):
        functions = build_functions(index_register(app), CONFIG, [])
    assert len(functions.table.routes) == 3
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "one and two" in warnings[0]


def test_status_initialized_until_running_and_extension_routes_first() -> None:
    """In-process: the status reflects HostState; extension routes answer before function routes."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="{*anything}")
    def everything(req: func.HttpRequest) -> str:
        return "function"

    class RouteExtension:
        trigger_types = frozenset({"customtrigger"})
        binding_types: frozenset[str] = frozenset()

        def routes(self) -> list[Route]:
            return [Route("/runtime/webhooks/custom", lambda request: PlainTextResponse("extension"))]

    config = HostConfig(
        script_root=Path("/app"), host="127.0.0.1", port=1, data_dir=Path("/d"), route_prefix="", hub_name="h"
    )
    extensions = [RouteExtension()]
    state = HostState()
    asgi = build_app(
        build_functions(index_register(app), config, extensions),
        config,
        HostKeys("m"),  # type: ignore[arg-type]
        extensions,
        state,
    )
    with TestClient(asgi) as test_client:
        assert test_client.get("/admin/host/status").json() == {"state": "Initialized"}
        state.running()
        assert test_client.get("/admin/host/status").json() == {"state": "Running"}
        assert test_client.get("/runtime/webhooks/custom").text == "extension"
        assert test_client.get("/runtime/webhooks/other").text == "function"


def test_route_without_auth_level_inherits_the_apps() -> None:
    """`@app.route` / blueprint routes without auth_level take the app's `http_auth_level`."""
    bp = func.Blueprint()

    @bp.route(route="from-blueprint")
    def from_blueprint(req: func.HttpRequest) -> str:
        return "b"

    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(bp)

    @app.route(route="plain")
    def plain(req: func.HttpRequest) -> str:
        return "p"

    @app.route(route="open", auth_level=func.AuthLevel.ANONYMOUS)
    def open_route(req: func.HttpRequest) -> str:
        return "o"

    levels = build_functions(index_register(app), CONFIG, []).levels
    assert levels == {
        "from_blueprint": AuthLevel.FUNCTION,
        "plain": AuthLevel.FUNCTION,
        "open_route": AuthLevel.ANONYMOUS,
    }


def test_bound_socket_is_tcp_so_accepted_connections_get_nodelay() -> None:
    """asyncio sets TCP_NODELAY on accepted sockets only for proto IPPROTO_TCP (else ~40 ms per keep-alive call)."""
    import socket

    from devhost.server import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockname()[1] != 0
    finally:
        sock.close()


def test_binding_requests_carry_nothing_of_the_request() -> None:
    """Extensions get the function and its binding only: no origin a Host header could choose."""
    seen: list[object] = []

    class ClientExtension:
        trigger_types: frozenset[str] = frozenset()
        binding_types = frozenset({"customclient"})

        def routes(self) -> list[Route]:
            return []

        def binding_value(self, request: object) -> str:
            seen.append(request)
            return "value"

    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="uses-client")
    @app.generic_input_binding(arg_name="client", type="customClient")
    def uses_client(req: func.HttpRequest, client: str) -> str:
        return client

    extensions = [ClientExtension()]
    asgi = build_app(
        build_functions(index_register(app), CONFIG, extensions),
        CONFIG,
        HostKeys("m"),  # type: ignore[arg-type]
        extensions,
        HostState("Running"),
    )
    with TestClient(asgi, base_url="http://attacker.example:9999") as test_client:
        assert test_client.get("/api/uses-client").text == "value"
    assert len(seen) == 1 and set(vars(seen[0])) == {"function", "binding"}
