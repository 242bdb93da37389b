"""`GET /api/openapi.json`: the OpenAPI 3.1 document kept at the repository root."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

__all__ = ["OPENAPI_PATH", "bp", "openapi_document"]

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.json"

bp = func.Blueprint()


@lru_cache(maxsize=1)
def openapi_document() -> bytes:
    """The document's bytes (read once)."""
    return OPENAPI_PATH.read_bytes()


@bp.function_name(name="openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def openapi(req: Request) -> Response:
    """200 application/json: the API's OpenAPI document."""
    return Response(content=openapi_document(), media_type="application/json")
