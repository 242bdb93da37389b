"""Test app for devhost's App Service Authentication emulation: one anonymous function that echoes its headers."""

from __future__ import annotations

import json

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="headers", methods=["GET", "POST"])
def headers(req: func.HttpRequest) -> func.HttpResponse:
    """The request's headers as JSON, names lower-cased (repeated headers arrive joined with `,`)."""
    seen = {name.lower(): value for name, value in req.headers.items()}
    return func.HttpResponse(json.dumps(seen), mimetype="application/json")
