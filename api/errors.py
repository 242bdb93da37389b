"""One HTTP error type and the one place it becomes a JSON response."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

from azurefunctions.extensions.http.fastapi import Response

__all__ = ["HttpError", "json_errors", "json_response", "json_text"]

P = ParamSpec("P")


class HttpError(Exception):
    """A client-facing error: `status` with a JSON body `{"error": message, ...details}`."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        """Headers of the answer (`Retry-After` on a 429 or 503)."""
        self.details = details


def json_text(body: Any) -> str:
    """`body` as JSON text that UTF-8 can always encode (anything that cannot be is written as a `\\u` escape)."""
    text = json.dumps(body, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body)
    return text


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """`body` as an `application/json` response."""
    return Response(
        content=json_text(body).encode("utf-8"), status_code=status, media_type="application/json", headers=headers
    )


def json_errors(
    handler: Callable[P, Awaitable[Response]],
) -> Callable[P, Awaitable[Response]]:
    """Decorator: an `HttpError` raised by `handler` becomes its JSON response."""

    @functools.wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await handler(*args, **kwargs)
        except HttpError as error:
            return json_response({"error": error.message, **error.details}, status=error.status, headers=error.headers)

    return wrapper
