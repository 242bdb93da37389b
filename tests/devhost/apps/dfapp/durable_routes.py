"""A df.Blueprint: an HTTP route and an orchestrator."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

dbp = df.Blueprint()


@dbp.route(route="dbp/ping", methods=["GET"])
def dbp_ping(req: func.HttpRequest) -> str:
    return "pong from df.Blueprint"


@dbp.orchestration_trigger(context_name="context")
def orch(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    return "done"
    yield  # a generator, as orchestrators are
