"""The chat page: `GET /api/ui/` serves `web/` (HTML, one script module, one stylesheet), `/api/ui` redirects to it.

Static files from the deployment package, no CDN and no build step, with a Content-Security-Policy that
allows only this origin's scripts and styles (the page builds every element from text, never HTML; the
policy is the second wall). Anonymous: the page itself holds nothing; it asks for a function key when the
API wants one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import azure.functions as func
from azurefunctions.extensions.http.fastapi import RedirectResponse, Request, Response

from api.errors import json_response
from api.spec import ERROR, Reply, operation, path_param

__all__ = ["WEB_ROOT", "bp"]

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
MAX_NAME_BYTES = 255
"""The longest file name looked up (longer ones are a 404 at once)."""
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

bp = func.Blueprint()


@lru_cache(maxsize=32)
def _file(name: str) -> bytes | None:
    """A file of `web/` by its name (no folders, nothing outside), or None."""
    if not name or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return None  # no file of the page has such a name (and the file system would refuse it)
    if "/" in name or "\\" in name or name.startswith(".") or Path(name).suffix not in _TYPES:
        return None
    path = WEB_ROOT / name
    return path.read_bytes() if path.is_file() else None


def _serve(name: str) -> Response:
    body = _file(name)
    if body is None:
        shown = name if len(name) <= 80 else name[:80] + "..."
        return json_response({"error": f"the page has no file {shown!r}"}, status=404)
    headers = {
        "Cache-Control": "no-cache",
        "Content-Security-Policy": _POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return Response(content=body, media_type=_TYPES[Path(name).suffix], headers=headers)


_FILES = {media: {"type": "string"} for media in sorted(set(_TYPES.values()))}
path_param(
    "path",
    "A file of the page (`index.html`, `app.js`, `style.css`, ...).",
    {"type": "string", "maxLength": MAX_NAME_BYTES},
)


@bp.function_name(name="ui")
@bp.route(route="ui/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@operation(
    "GET",
    "/ui/{path}",
    operation_id="pageFile",
    tags=("Page",),
    anonymous=True,
    summary="A file of the chat page (its HTML, script and stylesheet), with a Content-Security-Policy.",
    replies={200: Reply("The file.", media=_FILES), 404: ERROR},
)
async def ui(req: Request) -> Response:
    """A file of the page."""
    return _serve(str(req.path_params.get("path") or "").strip("/") or "index.html")


@bp.function_name(name="ui_root")
@bp.route(route="ui", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@operation(
    "GET",
    "/ui",
    operation_id="page",
    tags=("Page",),
    anonymous=True,
    summary="The chat page: `/api/ui/` answers it; `/api/ui` redirects there (the page's links are relative).",
    replies={
        200: Reply("The page.", media={"text/html; charset=utf-8": {"type": "string"}}),
        308: Reply("To `/api/ui/`.", headers={"Location": "The page's address."}),
    },
)
async def ui_root(req: Request) -> Response:
    """`/api/ui/`: the page; `/api/ui` (routing ignores the slash, the page's relative links need it): a redirect."""
    if req.url.path.endswith("/"):
        return _serve("index.html")
    return RedirectResponse(url=f"{req.url.path}/", status_code=308)
