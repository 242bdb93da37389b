"""Liveness route: answers while the app is loaded and serving."""
from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """200 with `{"status": "ok"}`."""
    return func.HttpResponse('{"status": "ok"}', mimetype="application/json")
