"""Test app for where the durable client calls: an HTTP starter, an orchestrator and an activity, each with a
`durableClient` binding read as its raw JSON (a generic input binding), so the test sees exactly what devhost gave.

The binding JSON carries the system key under `--require-keys`, so the functions write it to a file under
`$CLIENT_ORIGIN_STATE_DIR` for the test to read instead of answering it.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


def _keep(name: str, binding: str) -> None:
    Path(os.environ["CLIENT_ORIGIN_STATE_DIR"], f"{name}.json").write_text(binding, encoding="utf-8")


@app.route(route="start/{tag}", methods=["POST"])
@app.generic_input_binding(arg_name="client", type="durableClient")
async def start(req: func.HttpRequest, client: str) -> func.HttpResponse:
    """Start `hello`, read its status and an entity through the client; answer what the request looked like."""
    _keep(f"http-{req.route_params['tag']}", client)
    durable = df.DurableOrchestrationClient(client)
    instance_id = await durable.start_new("hello", f"origin-{uuid.uuid4().hex}", req.route_params["tag"])
    status = await durable.get_status(instance_id)
    entity = await durable.read_entity_state(df.EntityId("counter", "none"))
    answer = {
        "instanceId": instance_id,
        "status": status.runtime_status.value if status.runtime_status else None,
        "entityExists": entity.entity_exists,
        "url": req.url,
        "headers": {k: v for k, v in req.headers.items() if k.lower().startswith(("x-forwarded-", "host"))},
    }
    return func.HttpResponse(json.dumps(answer), mimetype="application/json")


@app.orchestration_trigger(context_name="context")
def hello(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    return (yield context.call_activity("peek", context.get_input()))


@app.activity_trigger(input_name="tag")
@app.generic_input_binding(arg_name="client", type="durableClient")
def peek(tag: str, client: str) -> str:
    """Keep the client binding an activity gets."""
    _keep(f"activity-{tag}", client)
    return tag


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    context.set_state((context.get_state(lambda: 0) or 0) + 1)
