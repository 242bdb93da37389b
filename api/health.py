"""Liveness route: answers while the app is loaded and serving."""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from api.errors import json_response
from api.models import Health
from api.spec import Reply, operation

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@operation(
    "GET",
    "/health",
    operation_id="health",
    tags=("Meta",),
    summary="Liveness.",
    anonymous=True,
    replies={200: Reply("Serving.", json=Health)},
)
async def health(req: Request) -> Response:
    """200 with `{"status": "ok"}`."""
    return json_response(Health("ok").to_dict())
