"""The SDK's orchestration versioning flow (its `orchestration_versioning` sample's shape) as a devhost test app:
an orchestrator that branches on `context.version` and calls a sub-orchestration at the default version and at 0.9."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="start/{name}")
@app.durable_client_input(client_name="client")
async def starter(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    payload = req.get_json() if req.get_body() else None
    instance_id = await client.start_new(req.route_params["name"], None, payload, version=req.params.get("version"))
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def versioned(context: df.DurableOrchestrationContext):
    path = "new path" if context.version and context.version >= "2.0" else "old path"
    if context.get_input() == "wait":
        yield context.wait_for_external_event("go")
    default_child = yield context.call_sub_orchestrator("report")
    pinned_child = yield context.call_sub_orchestrator("report", version="0.9")
    return {"version": context.version, "path": path, "defaultChild": default_child, "pinnedChild": pinned_child}


@app.orchestration_trigger(context_name="context")
def report(context: df.DurableOrchestrationContext):
    return context.version
