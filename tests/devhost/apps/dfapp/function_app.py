"""Test app for devhost: a df.DFApp composing a df.Blueprint and a func.Blueprint."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func
from durable_routes import dbp
from plain_routes import pbp

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(dbp)
app.register_functions(pbp)


@app.route(route="df/ping", methods=["GET"])
def df_ping(req: func.HttpRequest) -> str:
    return "pong from DFApp"
