"""devhost's HTTP/1.1 protocol: uvicorn's httptools protocol with the limits a public host needs.

uvicorn reads a request line and headers of any length, waits for them without limit, and answers
what it cannot parse with a plain-text 400. Here, as the Functions host (Kestrel) does, a request
line over `MAX_URL_BYTES` is a 414, headers over `MAX_HEADER_BYTES` a 431, headers not complete
`HEADER_TIMEOUT_SECONDS` after the request began a 408, and anything unparseable a 400, each with
a JSON body `{"error": ...}` like every other error devhost answers. Body limits and the body read
time-out are the HTTP route's (`devhost.server`).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HEADER_TIMEOUT_SECONDS", "MAX_HEADER_BYTES", "MAX_URL_BYTES", "LimitedHttpToolsProtocol", "json_http_error"]

MAX_URL_BYTES = 16 * 1024
MAX_HEADER_BYTES = 64 * 1024
HEADER_TIMEOUT_SECONDS = 30.0
_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    413: b"Content Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
}


def json_http_error(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 response with a JSON error body that closes the connection."""
    body = json.dumps({"error": message}).encode("utf-8")
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        % (status, _REASONS.get(status, b"Error"), len(body))
    ) + body


def _header_timeout() -> float:
    """`DEVHOST_HEADER_TIMEOUT_SECONDS`, else `HEADER_TIMEOUT_SECONDS`."""
    raw = os.environ.get("DEVHOST_HEADER_TIMEOUT_SECONDS", "").strip()
    try:
        return float(raw) if raw else HEADER_TIMEOUT_SECONDS
    except ValueError:
        return HEADER_TIMEOUT_SECONDS


class _Refused(Exception):
    """Raised in a parser callback to stop parsing (httptools turns it into a parser error)."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """See the module docstring."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._refusal: tuple[int, str] | None = None
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self.header_timeout = _header_timeout()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _disarm(self) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._header_timer.cancel()  # type: ignore[union-attr]
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(
                json_http_error(408, f"the request's headers did not arrive within {self.header_timeout:g} s")
            )
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self._refusal = (414, f"the request line's URL is over {MAX_URL_BYTES} bytes")
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > MAX_HEADER_BYTES:
            self._refusal = (431, f"the request's headers are over {MAX_HEADER_BYTES} bytes")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        status, message = self._refusal or (400, "the request is not valid HTTP/1.1")
        self._disarm()
        self.transport.write(json_http_error(status, message))
        self.transport.close()


def protocol_class() -> Any:
    """The protocol for uvicorn's `http=`: ours over httptools when it is installed, else uvicorn's choice."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "auto"
    return LimitedHttpToolsProtocol
