"""Limits on a request's path, for every route devhost serves: the app's functions, the Durable webhooks (over HTTP
and in-process), the admin and extension routes, unknown paths alike.

The URL as a whole is limited to `MAX_URL_BYTES` (16 KiB, as sent) and each segment of its path to
`MAX_SEGMENT_CHARS` characters once percent-decoded (what a route parameter would hold); over either, the answer is
414 with a JSON body and the connection closes. `devhost.protocol` refuses an over-long URL while it parses the
request line; this module holds for whatever protocol serves devhost, and bounds what a segment can reach: a route
parameter, an instance id, an entity key, a function name. (Azure's front end has limits of its own, e.g. 260
characters a segment on Windows plans; the Azure Storage backend cannot store a durable instance id over 1 KiB.)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import Receive, Scope, Send

from devhost.protocol import MAX_URL_BYTES
from devhost.responses import json_error

__all__ = ["MAX_SEGMENT_CHARS", "LimitPaths", "path_refusal"]

MAX_SEGMENT_CHARS = 1024
"""The longest path segment (the text between two `/`, in characters once percent-decoded) devhost serves."""


def _characters(segment: bytes) -> int:
    """A raw segment's length in characters once percent-decoded (UTF-8; a byte that is none counts as one)."""
    return len(unquote_to_bytes(segment).decode("utf-8", "surrogateescape"))


def path_refusal(raw_path: bytes, query: bytes = b"") -> str | None:
    """Why a request for `raw_path` (as sent) and `query` is refused (414), or None."""
    if len(raw_path) + len(query) > MAX_URL_BYTES:
        return f"the request's URL is over {MAX_URL_BYTES} bytes"
    for segment in raw_path.split(b"/"):
        # as sent it is at least as long as decoded: only a long one needs decoding
        if len(segment) > MAX_SEGMENT_CHARS and (length := _characters(segment)) > MAX_SEGMENT_CHARS:
            return (
                f"a segment of the request's path is {length} characters; the host accepts at most {MAX_SEGMENT_CHARS}"
            )
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
