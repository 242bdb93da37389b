"""A func.Blueprint registered on a DFApp."""

from __future__ import annotations

import azure.functions as func

pbp = func.Blueprint()


@pbp.route(route="pbp/ping/{n:int}", methods=["GET"])
def pbp_ping(req: func.HttpRequest) -> str:
    return f"pong {req.route_params['n']} from func.Blueprint"
