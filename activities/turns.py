"""The `turn_status` activity: how another turn of the chat is doing, from the durable client.

A queued turn asks it about the turn ahead of it when that one has run for a while: a turn
terminated through the management API (or lost) never leaves the chat's queue by itself, and
an orchestrator cannot read another instance's status, an activity with a client binding can.
"""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df

__all__ = ["ALIVE_STATUSES", "TURN_STATUS_ACTIVITY", "bp"]

TURN_STATUS_ACTIVITY = "turn_status"
ALIVE_STATUSES = frozenset({"Pending", "Running", "Suspended", "ContinuedAsNew"})
"""Runtime statuses of a turn that may still finish (and leave the queue) by itself."""

bp = df.Blueprint()


@bp.function_name(name=TURN_STATUS_ACTIVITY)
@bp.activity_trigger(input_name="request")
@bp.durable_client_input(client_name="client")
async def turn_status(request: Any, client: df.DurableOrchestrationClient) -> str | None:
    """Activity: the runtime status of turn `{"turnId": ...}` (None when it does not exist, e.g. purged)."""
    payload = json.loads(request) if isinstance(request, str) else request
    status = await client.get_status(str(payload["turnId"]))
    if not status or status.runtime_status is None:
        return None
    return str(status.runtime_status.value)
