"""Conformance app: durable entities used from HTTP clients and from orchestrations.

`counter` (add/reset/get/fail/delete) and `ledger` (an ordered list of appended items) are
function-based entities; HTTP routes wrap the SDK client's `signal_entity` and
`read_entity_state`; `counter_workflow` signals and calls them from an orchestration.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    value = int(context.get_state(lambda: 0))
    operation = context.operation_name
    if operation == "add":
        value += int(context.get_input())
    elif operation == "reset":
        value = 0
    elif operation == "get":
        context.set_result(value)
    elif operation == "fail":
        raise ValueError(f"counter refused at {value}")
    elif operation == "delete":
        context.destruct_on_exit()
        return
    else:
        raise ValueError(f"unknown operation {operation!r}")
    context.set_state(value)


@app.entity_trigger(context_name="context")
def ledger(context: df.DurableEntityContext) -> None:
    items: list[Any] = list(context.get_state(list))
    if context.operation_name == "append":
        items.append(context.get_input())
    context.set_result(len(items))
    context.set_state(items)


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start `{name}` with the JSON body as input; 202 + management URLs."""
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], None, json.loads(body) if body else None)
    return client.create_check_status_response(req, instance_id)


@app.route(route="entities/{name}/{key}/{operation}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def signal(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """signal_entity(`{name}@{key}`, `{operation}`, JSON body)."""
    body = req.get_body()
    entity_id = df.EntityId(req.route_params["name"], req.route_params["key"])
    await client.signal_entity(entity_id, req.route_params["operation"], json.loads(body) if body else None)
    return func.HttpResponse(status_code=202)


@app.route(route="entities/{name}/{key}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def read(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """read_entity_state(`{name}@{key}`) as `{"exists": ..., "state": ...}`."""
    entity_id = df.EntityId(req.route_params["name"], req.route_params["key"])
    response = await client.read_entity_state(entity_id)
    return func.HttpResponse(
        json.dumps({"exists": response.entity_exists, "state": response.entity_state}),
        mimetype="application/json",
    )


@app.orchestration_trigger(context_name="context")
def counter_workflow(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Signal `adds` increments, read back, add 10 by call, read again, then hit a failing operation."""
    spec = context.get_input()
    entity_id = df.EntityId("counter", spec["key"])
    for _ in range(int(spec["adds"])):
        context.signal_entity(entity_id, "add", 1)
    after_signals = yield context.call_entity(entity_id, "get")
    yield context.call_entity(entity_id, "add", 10)
    after_call = yield context.call_entity(entity_id, "get")
    try:
        yield context.call_entity(entity_id, "fail")
        failure = None
    except Exception as error:  # the SDK raises a plain Exception for a failed operation
        failure = str(error)
    return {"after_signals": after_signals, "after_call": after_call, "failure": failure}
