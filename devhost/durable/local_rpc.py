"""In-process delivery of the SDK client's calls to this devhost's own management API.

The app's `DurableOrchestrationClient` talks to the host over HTTP (`rpcBaseUrl`), as it does on
Azure: every `start_new`, `get_status`, `read_entity_state`... is an aiohttp request to
`/runtime/webhooks/durabletask/...`, here the same process. The SDK's three request helpers are
wrapped: a request for a management URL at this host's own address (the one every `durableClient`
binding value names) made on the engine's event loop goes straight to the same starlette handlers as
an ASGI call, with no loopback HTTP round trip; anything else (another origin, another thread's
loop) goes over HTTP. The worker processes' calls arrive here the same way, over their channel.

What the client sees is unchanged: the same handler answers, the status code and the body
decoded as the SDK's helpers decode it (`response.json(content_type=None)`, empty body -> None,
and `""` for a GET). Set `DEVHOST_DURABLE_LOCAL_RPC=0` to send every call over HTTP.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.routing import BaseRoute, Match, Router
from starlette.types import Message

from devhost.durable.binding import WEBHOOK_PREFIX
from devhost.durable.tally import APP_CALL
from devhost.paths import path_refusal

__all__ = ["LocalRpc", "local_rpc_enabled"]

_CLIENT_MODULE = "azure.durable_functions.models.DurableOrchestrationClient"
_HELPERS = ("get_async_request", "post_async_request", "delete_async_request")
Helper = Callable[..., Awaitable[list[Any]]]
log = logging.getLogger("devhost")


def local_rpc_enabled() -> bool:
    """False when `DEVHOST_DURABLE_LOCAL_RPC` is 0/false/no."""
    return os.environ.get("DEVHOST_DURABLE_LOCAL_RPC", "1").strip().lower() not in ("0", "false", "no")


class LocalRpc:
    """Routes the SDK client's management calls to `routes` in-process (see the module docstring)."""

    def __init__(self, routes: Sequence[BaseRoute], origin: str) -> None:
        self._router = Router(routes=list(routes))
        self.origin = origin.rstrip("/")
        """This host's own local address, the one its client bindings name: only calls to it may go in-process."""
        parts = urlsplit(self.origin)
        self._scheme = parts.scheme
        self._netloc = parts.netloc.encode("latin-1")
        self._server = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._originals: dict[str, Helper] = {}
        self.local_calls = 0
        """Calls delivered in-process so far."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The engine's event loop, once installed: calls made on it may go in-process."""
        return self._loop

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wrap the SDK client's request helpers (once); calls made on `loop` may go in-process."""
        self._loop = loop
        module: Any = importlib.import_module(_CLIENT_MODULE)
        for name in _HELPERS:
            original = getattr(module, name)
            original = getattr(original, "devhost_original", original)
            self._originals[name] = original
            setattr(module, name, self._wrap(name, original))

    def uninstall(self) -> None:
        """Put the SDK's own helpers back."""
        module: Any = importlib.import_module(_CLIENT_MODULE)
        for name, original in self._originals.items():
            setattr(module, name, original)
        self._originals.clear()

    def _local_target(self, url: str) -> tuple[str, str] | None:
        """(path, query) when `url` is one of our management URLs and we are on our loop."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return None
        if running is not self._loop:
            return None
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin or not parts.path.startswith(f"{WEBHOOK_PREFIX}/"):
            return None
        return parts.path, parts.query

    def _wrap(self, name: str, original: Helper) -> Helper:
        method = {"get_async_request": "GET", "post_async_request": "POST", "delete_async_request": "DELETE"}[name]

        async def helper(url: str, *args: Any, **kwargs: Any) -> list[Any]:
            target = self._local_target(url)
            if target is None:
                return await original(url, *args, **kwargs)
            data = (args[0] if args else kwargs.get("data")) if method == "POST" else None
            answer = await self.call(method, *target, None if data is None else json.dumps(data).encode())
            if answer is None:  # no management route for it: let the whole host answer, over HTTP
                return await original(url, *args, **kwargs)
            status, body = answer
            value = json.loads(body.decode("utf-8")) if body.strip() else None
            if method == "GET" and value is None:
                value = ""
            return [status, value]

        helper.devhost_original = original  # type: ignore[attr-defined]
        helper.__name__ = name
        return helper

    async def call(self, method: str, raw: str, query: str, body: bytes | None) -> tuple[int, bytes] | None:
        """One ASGI request to the management routes at this host's own address (`raw`: the percent-encoded path):
        the status and the whole body.

        None when no route matches path and method fully (the host's own 404/405 answers, with
        its error bodies, come from the whole app over HTTP). A handler's unexpected exception
        becomes the 500 the host's error handler answers (`devhost.server`), logged the same way.
        """
        refusal = path_refusal(raw.encode("latin-1"), query.encode("latin-1"))
        if refusal is not None:  # as over HTTP (`devhost.paths`)
            return 414, json.dumps({"error": refusal}).encode()
        path = unquote(raw)
        headers = [(b"host", self._netloc)]
        if body is not None:
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": self._scheme,
            "path": path,
            "raw_path": raw.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 0),
            "server": self._server,
            APP_CALL: True,
        }
        sent = False
        status = 500
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body or b"", "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        if not any(route.matches(scope)[0] == Match.FULL for route in self._router.routes):
            return None
        self.local_calls += 1
        try:
            await self._router(scope, receive, send)
        except Exception:
            log.exception("Unhandled error serving %s %s", method, path)
            return 500, json.dumps({"error": "internal error in devhost; see its log"}).encode()
        return status, b"".join(chunks)
