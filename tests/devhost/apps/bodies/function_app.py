"""Test app for request bodies: a function that reads the whole body and answers its size and digest."""

from __future__ import annotations

import hashlib
import json

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="digest", methods=["POST"])
def digest(req: func.HttpRequest) -> func.HttpResponse:
    """The body's length, SHA-256 and type (the worker must hand over one `bytes` object)."""
    body = req.get_body()
    answer = {"length": len(body), "sha256": hashlib.sha256(body).hexdigest(), "type": type(body).__name__}
    return func.HttpResponse(json.dumps(answer), mimetype="application/json")
