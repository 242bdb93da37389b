"""A reverse proxy in front of one Azurite service, over real HTTP: it counts, holds back or refuses requests.

Tests point the app's connection string at the proxy (`connection_string`), then:
- count the app's storage requests by table and operation (`requests`, `count`), for storage budgets;
- hold requests that match a rule until the test lets them go (`hold`), which makes races deterministic (a skill's
  insert held until a reset has wiped the chat);
- refuse requests that match a rule with a 503 and a Storage error body, or by closing the connection (`refuse`),
  to break one table mid-turn while the rest of the account works.

Requests keep their path, query, headers and body, so the SharedKey signatures stay valid.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import unquote

from aiohttp import ClientSession, ClientTimeout, web
from yarl import URL

from tests.support.azurite import ACCOUNT_KEY, ACCOUNT_NAME, Azurite

__all__ = ["Gate", "ProxiedRequest", "StorageProxy"]

_ENTITY = re.compile(r"^(?P<table>[A-Za-z0-9]+)\((?P<keys>.*)\)$")
_HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"})


@dataclass(frozen=True)
class ProxiedRequest:
    """One request the app made, as the proxy saw it."""

    method: str
    path: str
    """The path after the account name, decoded (e.g. `todos123(PartitionKey='c',RowKey='r')`)."""
    query: str
    table: str
    """The table it addressed (`Tables` for table management, `$batch` for a batch)."""
    operation: str
    """`insert`, `get`, `query`, `update`, `upsert`, `delete`, `batch`, `create-table`, `list-tables`."""
    at: float
    """`time.monotonic()` when it arrived."""


def _classify(method: str, path: str, conditional: bool) -> tuple[str, str]:
    """The table and the operation of a Table service request."""
    if path == "$batch":
        return "$batch", "batch"
    if path.startswith("Tables"):
        return "Tables", "create-table" if method == "POST" else "list-tables"
    match = _ENTITY.match(path)
    if match:
        table, keys = match.group("table"), match.group("keys")
        if method == "GET":
            return table, "get" if keys else "query"
        if method == "DELETE":
            return table, "delete"
        return table, "update" if conditional else "upsert"
    if method == "POST":
        return path, "insert"
    return path, "query"


@dataclass
class Gate:
    """Requests matching `matches` wait here until `release`."""

    matches: Callable[[ProxiedRequest], bool]
    held: threading.Event = field(default_factory=threading.Event)
    """Set once a matching request is being held."""
    _open: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Let every held request (and every later one) through."""
        self._open.set()

    def wait_held(self, timeout: float) -> bool:
        """Whether a matching request arrived within `timeout` seconds."""
        return self.held.wait(timeout)


@dataclass
class StorageProxy:
    """The proxy: `with StorageProxy(azurite) as proxy:` then use `proxy.connection_string`."""

    azurite: Azurite
    port: int = 0
    requests: list[ProxiedRequest] = field(default_factory=list)
    _gates: list[Gate] = field(default_factory=list)
    _refusals: list[tuple[Callable[[ProxiedRequest], bool], str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    @property
    def table_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        """Azurite's connection string with the Table endpoint through the proxy (blobs and queues direct)."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.azurite.blob_endpoint};QueueEndpoint={self.azurite.queue_endpoint};"
            f"TableEndpoint={self.table_endpoint};"
        )

    def count(self, predicate: Callable[[ProxiedRequest], bool] = lambda r: True, since: float = 0.0) -> int:
        """How many requests since `since` (monotonic time) match."""
        with self._lock:
            return sum(1 for r in self.requests if r.at >= since and predicate(r))

    def hold(self, matches: Callable[[ProxiedRequest], bool]) -> Gate:
        """Hold back the requests that match until the returned gate is released."""
        gate = Gate(matches)
        with self._lock:
            self._gates.append(gate)
        return gate

    def refuse(self, matches: Callable[[ProxiedRequest], bool], how: str = "503") -> None:
        """Refuse the requests that match: `503` (a Storage error body) or `close` (the connection is dropped)."""
        with self._lock:
            self._refusals.append((matches, how))

    def clear(self) -> None:
        """Forget every rule (held requests are released) and the recorded requests."""
        with self._lock:
            for gate in self._gates:
                gate.release()
            self._gates.clear()
            self._refusals.clear()
            self.requests.clear()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        prefix = f"/{ACCOUNT_NAME}/"
        raw_path = request.raw_path.split("?", 1)[0]
        path = unquote(raw_path[len(prefix) :]) if raw_path.startswith(prefix) else unquote(raw_path)
        table, operation = _classify(request.method, path, "If-Match" in request.headers)
        seen = ProxiedRequest(request.method, path, unquote(request.query_string), table, operation, time.monotonic())
        with self._lock:
            self.requests.append(seen)
            gates = [g for g in self._gates if g.matches(seen)]
            refusal = next((how for matches, how in self._refusals if matches(seen)), None)
        for gate in gates:
            gate.held.set()
            await asyncio.get_running_loop().run_in_executor(None, gate._open.wait)
        if refusal == "close":
            assert request.transport is not None
            request.transport.close()
            raise ConnectionResetError("refused by the test's storage proxy")
        if refusal is not None:
            body = b'{"odata.error":{"code":"ServerBusy","message":{"lang":"en-US","value":"refused by the test"}}}'
            return web.Response(status=503, body=body, content_type="application/json")
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS and k.lower() != "host"}
        target = URL(f"http://127.0.0.1:{self.azurite.table_port}{request.raw_path}", encoded=True)  # as signed
        async with (
            ClientSession(timeout=ClientTimeout(total=60), auto_decompress=False) as session,
            session.request(
                request.method,
                target,
                data=body or None,  # no body, no Content-Type: the signature covers it
                headers=headers,
                allow_redirects=False,
                skip_auto_headers=("Content-Type", "Accept-Encoding", "User-Agent"),
            ) as answer,
        ):
            content = await answer.read()
            out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS | {"content-length"}}
            return web.Response(status=answer.status, body=content, headers=out)

    def start(self) -> StorageProxy:
        """Listen on a free loopback port (bound here, so there is no race)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.SockSite(self._runner, sock).start())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="storage-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the storage proxy did not start")
        return self

    def stop(self) -> None:
        """Release held requests, stop serving."""
        self.clear()
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> StorageProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
