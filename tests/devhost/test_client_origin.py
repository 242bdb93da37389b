"""Nothing from a request decides where the durable client calls: its binding, the activities' binding and the
in-process calls use devhost's own local address, whatever Host or X-Forwarded-* headers the request carried.

A trap (a listening socket of the test's own) stands for the host a request names: it must never be called.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.keys import DURABLETASK_SYSTEM_KEY, KEYS_FILE
from tests.devhost.conftest import ServeApp
from tests.support.devhost import DevhostProcess

WEBHOOKS = "/runtime/webhooks/durabletask"


class Trap:
    """A listening socket on loopback that counts (and closes) every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def trap() -> Iterator[Trap]:
    listening = Trap()
    try:
        yield listening
    finally:
        listening.close()


def _urls(value: Any) -> list[str]:
    """Every URL in a binding value (nested objects included)."""
    if isinstance(value, dict):
        return [url for item in value.values() for url in _urls(item)]
    if isinstance(value, str) and "://" in value:
        return [value]
    return []


def _binding(state: Path, name: str, timeout: float = 30.0) -> dict[str, Any]:
    """The client binding a function of the test app kept (it writes it to a file: it may carry the system key)."""
    path = state / f"{name}.json"
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"the app kept no binding {name!r}")
        time.sleep(0.05)
    return json.loads(path.read_text(encoding="utf-8"))


def _serve(serve_app: ServeApp, tmp_path: Path, *, keys: bool = False, in_process: bool = False) -> DevhostProcess:
    env = {"CLIENT_ORIGIN_STATE_DIR": str(tmp_path)}
    if keys:
        env |= {
            "DEVHOST_MASTER_KEY": "master-" + secrets.token_hex(8),
            "DEVHOST_FUNCTION_KEY": "fn-" + secrets.token_hex(8),
        }
    if in_process:
        env["DEVHOST_WORKER_PROCESS"] = "0"
    return serve_app("client_origin", env=env, extra_args=("--require-keys",) if keys else ())


def _start(host: DevhostProcess, tag: str, headers: dict[str, str]) -> httpx.Response:
    key = host.env.get("DEVHOST_FUNCTION_KEY")
    extra = {"x-functions-key": key} if key else {}
    return httpx.post(f"{host.base_url}/api/start/{tag}", headers={**headers, **extra}, timeout=60)


def _finished(host: DevhostProcess, instance_id: str) -> dict[str, Any]:
    key = host.env.get("DEVHOST_MASTER_KEY")
    headers = {"x-functions-key": key} if key else {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = httpx.get(f"{host.base_url}{WEBHOOKS}/instances/{instance_id}", headers=headers, timeout=10).json()
        if status["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"{instance_id} did not finish")


def _steering_headers(port: int) -> dict[str, dict[str, str]]:
    """Requests that name another origin: by Host, by the forwarding headers a front end adds, or both."""
    elsewhere = f"127.0.0.1:{port}"
    forwarded = {
        "X-Forwarded-Host": elsewhere,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": str(port),
        "X-Forwarded-For": "203.0.113.7",
        "X-Original-Host": elsewhere,
    }
    return {"host": {"Host": elsewhere}, "forwarded": forwarded, "both": {"Host": elsewhere, **forwarded}}


@pytest.mark.parametrize("in_process", [False, True], ids=["worker", "in-process"])
def test_a_request_naming_another_host_never_steers_the_client(
    serve_app: ServeApp, tmp_path: Path, trap: Trap, in_process: bool
) -> None:
    """Host / X-Forwarded-Host naming a listening socket: the starter works, the socket gets no connection, and
    every URL of the HTTP function's and the activity's binding is devhost's own local origin."""
    host = _serve(serve_app, tmp_path, in_process=in_process)
    for tag, headers in _steering_headers(trap.port).items():
        response = _start(host, tag, headers)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["status"] in ("Pending", "Running", "Completed") and answer["entityExists"] is False
        assert _finished(host, answer["instanceId"])["output"] == tag
        for kept in (f"http-{tag}", f"activity-{tag}"):
            urls = _urls(_binding(tmp_path, kept))
            assert urls and all(url.startswith(f"{host.base_url}/") for url in urls), (kept, urls)
    assert trap.connections == 0


def test_forwarded_headers_and_the_requests_own_url_reach_the_function(serve_app: ServeApp, tmp_path: Path) -> None:
    """As Azure's front end does, devhost passes X-Forwarded-* through; the function's URL is the request's own."""
    host = _serve(serve_app, tmp_path)
    forwarded = {
        "X-Forwarded-Host": "chat.example.com",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Port": "443",
    }
    answer = _start(host, "seen", forwarded).json()
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    assert {k: headers.get(k.lower()) for k in forwarded} == forwarded
    assert headers["host"] == f"127.0.0.1:{host.port}"
    assert answer["url"].endswith(f"://127.0.0.1:{host.port}/api/start/seen")


def test_with_keys_the_system_key_goes_only_to_the_local_origin(
    serve_app: ServeApp, tmp_path: Path, trap: Trap
) -> None:
    """--require-keys: a function-key caller naming another host gets its call done locally; the system key (in
    `rpcBaseUrl`'s path and the URLs' `code=`) appears in no URL built from the request."""
    host = _serve(serve_app, tmp_path, keys=True)
    system_key = json.loads((host.data_dir / KEYS_FILE).read_text(encoding="utf-8"))[DURABLETASK_SYSTEM_KEY]
    for tag, headers in _steering_headers(trap.port).items():
        response = _start(host, f"keys-{tag}", headers)
        assert response.status_code == 200, response.text
        assert system_key not in response.text
        _finished(host, response.json()["instanceId"])
        for kept in (f"http-keys-{tag}", f"activity-keys-{tag}"):
            binding = _binding(tmp_path, kept)
            urls = _urls(binding)
            keyed = [url for url in urls if system_key in url]
            assert binding["rpcBaseUrl"] in keyed
            assert all(url.startswith(f"{host.base_url}/") for url in urls), kept
    assert trap.connections == 0
    assert system_key not in host.log_text()


def test_a_public_host_name_does_not_break_the_client(serve_app: ServeApp, tmp_path: Path) -> None:
    """Host: myapp.example (a front end, a tunnel): the durable client's calls still reach devhost."""
    host = _serve(serve_app, tmp_path)
    response = _start(host, "public", {"Host": "myapp.example"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["url"] == "http://myapp.example/api/start/public"
    assert _finished(host, answer["instanceId"])["runtimeStatus"] == "Completed"
