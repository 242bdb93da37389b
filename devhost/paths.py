"""Limits on a request's path, for every route devhost serves: the app's functions, the Durable webhooks (over HTTP
and in-process), the admin and extension routes, unknown paths alike.

The URL as a whole is limited to `MAX_URL_BYTES` (16 KiB, as sent) and each segment of its path to
`MAX_SEGMENT_BYTES` (1 KiB, as sent: percent-encoded); over either, the answer is 414 with a JSON body and the
connection closes. `devhost.protocol` refuses an over-long URL while it parses the request line; this module holds
for whatever protocol serves devhost, and bounds what a segment can reach: a route parameter, an instance id, an
entity key, a function name. (Azure's front end has limits of its own, e.g. 260 characters a segment on Windows
plans; a durable instance id longer than 1 KiB cannot be stored by the Azure Storage backend.)
"""

from __future__ import annotations

from typing import Any

from starlette.types import Receive, Scope, Send

from devhost.protocol import MAX_URL_BYTES
from devhost.responses import json_error

__all__ = ["MAX_SEGMENT_BYTES", "LimitPaths", "path_refusal"]

MAX_SEGMENT_BYTES = 1024
"""The longest path segment (the text between two `/`, percent-encoded as sent) devhost serves."""


def path_refusal(raw_path: bytes, query: bytes = b"") -> str | None:
    """Why a request for `raw_path` (as sent) and `query` is refused (414), or None."""
    if len(raw_path) + len(query) > MAX_URL_BYTES:
        return f"the request's URL is over {MAX_URL_BYTES} bytes"
    longest = max(map(len, raw_path.split(b"/")))
    if longest > MAX_SEGMENT_BYTES:
        return f"a segment of the request's path is {longest} bytes; the host accepts at most {MAX_SEGMENT_BYTES}"
    return None


class LimitPaths:
    """ASGI middleware: a request whose path is over the limits gets 414 JSON before any route sees it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path")
            refusal = path_refusal(
                raw if isinstance(raw, bytes) else str(scope["path"]).encode(), scope.get("query_string", b"")
            )
            if refusal is not None:
                await json_error(414, refusal, {"Connection": "close"})(scope, receive, send)
                return
        await self.app(scope, receive, send)
