"""Conformance app: instance management through the SDK client (`DurableOrchestrationClient`).

Every HTTP route wraps one client call so the tests can drive the real client running inside
the app: start (with and without an id), wait-for-completion, status queries, events,
terminate, suspend/resume, restart and purge. Client errors come back as 4xx JSON
`{"error": ...}` so the tests can read what the client raised.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _json(value: Any, status_code: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(value, default=str), status_code=status_code, mimetype="application/json")


def _body(req: func.HttpRequest) -> Any:
    raw = req.get_body()
    return json.loads(raw) if raw else None


def _statuses(req: func.HttpRequest) -> list[OrchestrationRuntimeStatus] | None:
    names = req.params.get("status")
    return [OrchestrationRuntimeStatus[n] for n in names.split(",")] if names else None


def _time(req: func.HttpRequest, name: str) -> datetime | None:
    value = req.params.get(name)
    return datetime.fromisoformat(value) if value else None


@app.orchestration_trigger(context_name="context")
def wait_for_go(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Waits for a `go` event; returns its input and the event's data."""
    context.set_custom_status("waiting")
    data = yield context.wait_for_external_event("go")
    context.set_custom_status({"got": data})
    return {"input": context.get_input(), "event": data}


@app.orchestration_trigger(context_name="context")
def quick(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield context.call_activity("shout", context.get_input()))


@app.activity_trigger(input_name="value")
def shout(value: Any) -> str:
    return f"{value}!".upper()


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """start_new(`{name}`, `?instanceId=`, body) then create_check_status_response; 409 if the client refuses."""
    try:
        instance_id = await client.start_new(req.route_params["name"], req.params.get("instanceId") or None, _body(req))
    except Exception as error:  # the SDK client raises a plain Exception with the host's message
        return _json({"error": str(error)}, 409)
    return client.create_check_status_response(req, instance_id)


@app.route(route="run/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """start_new then wait_for_completion_or_create_check_status_response(`?timeout=` ms)."""
    instance_id = await client.start_new(req.route_params["name"], None, _body(req))
    timeout = int(req.params.get("timeout", "20000"))
    return await client.wait_for_completion_or_create_check_status_response(req, instance_id, timeout, 100)


@app.route(route="client/status/{id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def client_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    flags = {k: req.params.get(k) == "true" for k in ("history", "history_output", "input")}
    status = await client.get_status(req.route_params["id"], flags["history"], flags["history_output"], flags["input"])
    body = status.to_json()
    # The host's JSON names the history `historyEvents`; the SDK keeps it as that attribute.
    body["history"] = status.history or getattr(status, "historyEvents", None)
    return _json(body)


@app.route(route="client/instances", methods=["GET"])
@app.durable_client_input(client_name="client")
async def client_instances(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """get_status_all(), or get_status_by(`?from=&to=&status=`) when any filter is given."""
    if any(req.params.get(k) for k in ("from", "to", "status")):
        found = await client.get_status_by(_time(req, "from"), _time(req, "to"), _statuses(req))
    else:
        found = await client.get_status_all()
    return _json([s.to_json() for s in found])


@app.route(route="client/instances/{id}/{action}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def client_action(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """raise_event (`action=event:<name>`), terminate, suspend, resume, restart (`?newId=false`)."""
    instance_id, action = req.route_params["id"], req.route_params["action"]
    try:
        if action.startswith("event:"):
            await client.raise_event(instance_id, action.split(":", 1)[1], _body(req))
            return _json({"raised": True}, 202)
        if action == "terminate":
            await client.terminate(instance_id, req.params.get("reason", "because"))
        elif action == "suspend":
            await client.suspend(instance_id, "paused by test")
        elif action == "resume":
            await client.resume(instance_id, "resumed by test")
        elif action == "restart":
            restarted = await client.restart(instance_id, req.params.get("newId", "true") == "true")
            # On Azure the extension answers the check-status payload, which the SDK returns as is.
            new_id = restarted["id"] if isinstance(restarted, dict) else restarted
            return _json({"id": new_id}, 202)
        else:
            return _json({"error": f"unknown action {action}"}, 400)
    except Exception as error:
        return _json({"error": str(error)}, 409)
    return _json({"done": action}, 202)


@app.route(route="client/purge/{id}", methods=["DELETE"])
@app.durable_client_input(client_name="client")
async def client_purge(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    result = await client.purge_instance_history(req.route_params["id"])
    return _json({"deleted": result.instances_deleted})


@app.route(route="client/purge", methods=["DELETE"])
@app.durable_client_input(client_name="client")
async def client_purge_by(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    result = await client.purge_instance_history_by(_time(req, "from"), _time(req, "to"), _statuses(req))
    return _json({"deleted": result.instances_deleted})
