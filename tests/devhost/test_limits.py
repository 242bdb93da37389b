"""devhost's limits on what a client sends: every refusal is a JSON error, and a slow or huge request cannot hold the
host."""

from __future__ import annotations

import json
import socket
import time

import httpx

from tests.devhost.conftest import ServeApp


def _raw(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send `data` on a fresh connection; everything answered until the host closes it (or `wait` s pass)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        chunks: list[bytes] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def _status_and_json(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_protocol_refusals_are_json(serve_app: ServeApp) -> None:
    """A 100 KB URL: 414; 100 KB of headers: 431; garbage: 400 — each with a JSON body saying why."""
    host = serve_app("basic", env={"DEVHOST_HEADER_TIMEOUT_SECONDS": "1"})
    long_url = b"GET /api/echo?message=" + b"x" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, body = _status_and_json(_raw(host.port, long_url))
    assert status == 414 and "URL" in str(body["error"])
    big_headers = (
        b"GET /api/echo HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: %s\r\n" % (i, b"y" * 1000) for i in range(100))
        + b"\r\n"
    )
    status, body = _status_and_json(_raw(host.port, big_headers))
    assert status == 431 and "headers" in str(body["error"])
    status, body = _status_and_json(_raw(host.port, b"NOT HTTP AT ALL\r\n\r\n"))
    assert status == 400 and "not valid HTTP" in str(body["error"])
    # A slow client (slowloris): half a request line, then nothing; the host answers 408 and closes.
    started = time.monotonic()
    status, body = _status_and_json(_raw(host.port, b"GET /api/echo HTTP/1.1\r\nHost: x\r\n", wait=10))
    assert status == 408 and time.monotonic() - started < 5
    assert httpx.get(f"{host.base_url}/admin/host/status").json()["state"] == "Running"


def test_request_bodies_are_bounded_in_size_and_time(serve_app: ServeApp) -> None:
    """Content-Length over the host limit: 413 before a byte of body is read; a body that stalls: 408."""
    host = serve_app("basic", env={"DEVHOST_MAX_REQUEST_BODY_BYTES": "1000", "DEVHOST_BODY_TIMEOUT_SECONDS": "1"})
    declared = b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 300000000\r\n\r\n"
    status, body = _status_and_json(_raw(host.port, declared))
    assert status == 413 and "300000000" in str(body["error"])
    chunked = httpx.post(f"{host.base_url}/api/echo", content=iter([b"a" * 600, b"b" * 600]))
    assert chunked.status_code == 413 and "1000" in chunked.json()["error"]
    stalled = b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"
    status, body = _status_and_json(_raw(host.port, stalled, wait=10))
    assert status == 408 and "body" in str(body["error"])
    assert httpx.post(f"{host.base_url}/api/echo", content=b"fine").status_code == 200


def test_an_over_long_path_segment_is_a_414_on_every_route(serve_app: ServeApp) -> None:
    """An 8,000-character segment (under the URL limit): 414 JSON on a function route (with and without a route
    constraint), the Durable management API, the admin API and an unknown path; never a 5xx, never a function
    call. A segment at the limit (in characters: percent-encoded it may be longer) is served, and a constraint given
    more digits than any integer has is no match."""
    host = serve_app("dfapp")
    long = "9" * 8000
    refused = [
        ("GET", f"/api/pbp/ping/{long}"),
        ("GET", f"/api/df/ping/{long}"),
        ("POST", f"/runtime/webhooks/durabletask/orchestrators/orch/{long}"),
        ("GET", f"/runtime/webhooks/durabletask/instances/{long}"),
        ("POST", f"/runtime/webhooks/durabletask/entities/counter/{long}?op=add"),
        ("POST", f"/admin/functions/{long}"),
        ("GET", f"/{long}/x"),
        ("GET", f"/api/{'%41' * 1100}"),
    ]
    for method, path in refused:
        response = httpx.request(method, f"{host.base_url}{path}", timeout=30)
        assert response.status_code == 414, (method, path[:60], response.status_code, response.text[:200])
        assert "segment" in response.json()["error"]
    at_limit = httpx.post(f"{host.base_url}/runtime/webhooks/durabletask/orchestrators/orch/{'i' * 1024}")
    assert at_limit.status_code == 202 and at_limit.json()["id"] == "i" * 1024
    encoded = "%C3%A9" * 1000  # 1,000 characters, 6,000 bytes as sent
    assert httpx.get(f"{host.base_url}/api/pbp/ping/{encoded}").status_code == 404
    digits = httpx.get(f"{host.base_url}/api/pbp/ping/{'9' * 1000}")
    assert digits.status_code == 404 and digits.headers["content-type"] == "application/json"
    assert httpx.get(f"{host.base_url}/api/pbp/ping/7").text == "pong 7 from func.Blueprint"
    assert "Executed 'Functions.df_ping'" not in host.log_text()
