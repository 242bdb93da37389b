"""The HTTP edge: requests and responses of the HTTP-streams extension (FastAPI types), for every route.

On Azure an app that uses `azurefunctions-extensions-http-fastapi` (needed to stream a turn's events)
serves all its HTTP functions through it, so every route takes the extension's `Request` and
returns a FastAPI response. `read_request` turns the request into a `RequestView` once (body read,
headers and query as the Functions host joins them), which is what the input checks read;
responses are built here and in `errors.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from azurefunctions.extensions.http.fastapi import Request, Response

from api.urls import public_url

__all__ = ["RequestView", "empty_response", "read_request", "text_response"]


@dataclass(frozen=True)
class RequestView:
    """What the handlers read of one request (the names `func.HttpRequest` uses, so checks work on either)."""

    method: str
    url: str
    """The request's URL on the public origin (`api/urls.py`): every URL handed out is derived from it."""
    headers: Mapping[str, str]
    """Case-insensitive."""
    params: dict[str, str]
    """Query parameters; a repeated one joined with `,` as the Functions host does."""
    route_params: dict[str, str]
    body: bytes = field(default=b"", repr=False)

    def get_body(self) -> bytes:
        """The whole body."""
        return self.body


async def read_request(req: Request) -> RequestView:
    """The request as a `RequestView` (its body read)."""
    params: dict[str, str] = {}
    for key, value in req.query_params.multi_items():
        params[key] = f"{params[key]},{value}" if key in params else value
    return RequestView(
        method=req.method,
        url=public_url(req.headers, str(req.url)),
        headers=req.headers,
        params=params,
        route_params={k: str(v) for k, v in req.path_params.items()},
        body=await req.body(),
    )


def text_response(text: str, status: int = 200) -> Response:
    """`text/plain; charset=utf-8`."""
    return Response(content=text.encode("utf-8"), status_code=status, media_type="text/plain; charset=utf-8")


def empty_response(status: int = 204) -> Response:
    """No body."""
    return Response(status_code=status)
