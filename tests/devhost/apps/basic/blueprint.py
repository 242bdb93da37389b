"""Routes registered through a func.Blueprint."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="bp/hello/{name}", methods=["GET"])
def bp_hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"hello {req.route_params['name']} from a blueprint")


@bp.route(route="inherits", methods=["GET"])
def bp_inherits(req: func.HttpRequest) -> str:
    """No auth_level: inherits the app's."""
    return "inherited"
