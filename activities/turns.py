"""Activities that reach other turns through the durable client (an orchestrator cannot: activities with a client
binding can).

`turn_status`: how another turn of the chat is doing. A queued turn asks it about the turn ahead of it when that one
has run for a long while: a turn terminated through the management API (or lost) never leaves the chat's queue by
itself. `wake_turns`: raise `turn-ready` on turns waiting in a queue, so a queued turn waits with no timer polling
(the turn that leaves the queue wakes the next; a reset or delete wakes every one it dropped).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.durable_functions as df

from assistant.queueing import TURN_READY_EVENT

__all__ = ["ALIVE_STATUSES", "TURN_STATUS_ACTIVITY", "WAKE_TURNS_ACTIVITY", "bp"]

TURN_STATUS_ACTIVITY = "turn_status"
WAKE_TURNS_ACTIVITY = "wake_turns"
ALIVE_STATUSES = frozenset({"Pending", "Running", "Suspended", "ContinuedAsNew"})
"""Runtime statuses of a turn that may still finish (and leave the queue) by itself."""

log = logging.getLogger(__name__)

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


@bp.function_name(name=WAKE_TURNS_ACTIVITY)
@bp.activity_trigger(input_name="request")
@bp.durable_client_input(client_name="client")
async def wake_turns(request: Any, client: df.DurableOrchestrationClient) -> int:
    """Activity: raise `turn-ready` on the turns of `{"turnIds": [...]}` (those waiting in a queue end their wait and
    ask the chat where they stand); how many were reached. A turn that is gone or finished is skipped: waking is a
    nudge, the chat entity is the truth."""
    payload = json.loads(request) if isinstance(request, str) else request
    reached = 0
    for turn_id in dict.fromkeys(str(t) for t in payload.get("turnIds") or ()):
        try:
            await client.raise_event(turn_id, TURN_READY_EVENT, None)
            reached += 1
        except Exception as error:  # it finished or was purged meanwhile: nothing waits there
            log.info("could not wake turn %s: %s", turn_id, error)
    return reached
