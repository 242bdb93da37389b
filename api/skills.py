"""`GET /api/skills`: every skill the assistant can offer, with its parameters and approval policy."""
from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from api.errors import json_response
from skills import registry

__all__ = ["bp"]

bp = func.Blueprint()


@bp.function_name(name="skills")
@bp.route(route="skills", methods=["GET"])
async def skills(req: Request) -> Response:
    """200: `[{"name", "description", "parameters", "approval": "never" | "always" | "conditional"}]`."""
    return json_response([skill.describe() for skill in registry.skills()])
