"""The `chat_expiry` orchestrator: deletes a chat once it has been idle for its TTL (`ttlSeconds` on PUT).

One instance per chat with a TTL (`{chatId}-expiry`), started by PUT. It asks the entity when the
chat was last active, sleeps on a durable timer until that moment plus the TTL (zero compute while
it waits), and then deletes the chat through `chat_admin` unless it was active meanwhile or a turn
is queued, in which case it sleeps again (`continue_as_new`, so its history stays small). A PUT
that changes the TTL raises `ttl-changed`, which cuts the sleep short. A chat deleted or reset
without a TTL ends it at its next wake.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from assistant.messages import parse_utc
from entities.chat import chat_entity_id
from orchestrators.chat_admin import CHAT_ADMIN, ChatAdminInput

__all__ = ["BUSY_RECHECK_SECONDS", "CHAT_EXPIRY", "TTL_CHANGED_EVENT", "bp", "run_expiry"]

CHAT_EXPIRY = "chat_expiry"
TTL_CHANGED_EVENT = "ttl-changed"
BUSY_RECHECK_SECONDS = 60.0
"""How long an expired chat with a turn queued waits before it is looked at again."""

bp = df.Blueprint()


def run_expiry(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Sleep until the chat's idle deadline, then delete it (or sleep again)."""
    request = context.get_input() or {}
    chat_id = str(request["chatId"])
    info = yield context.call_entity(chat_entity_id(chat_id), "expiry")
    if not info or not info.get("exists") or not info.get("ttlSeconds"):
        return {"chatId": chat_id, "expired": False}
    deadline = parse_utc(info["lastUpdatedAt"]) + timedelta(seconds=int(info["ttlSeconds"]))
    now = context.current_utc_datetime
    if now >= deadline and not info.get("busy"):
        result = yield context.call_sub_orchestrator(
            CHAT_ADMIN, ChatAdminInput(chat_id=chat_id, action="delete").to_dict()
        )
        return {"chatId": chat_id, "expired": True, "turnIds": (result or {}).get("turnIds", [])}
    wake = deadline if now < deadline else now + timedelta(seconds=BUSY_RECHECK_SECONDS)
    timer = context.create_timer(wake)
    changed = context.wait_for_external_event(TTL_CHANGED_EVENT)
    if (yield context.task_any([timer, changed])) is changed:
        timer.cancel()
    context.continue_as_new(request)
    return {"chatId": chat_id, "expired": False}


@bp.function_name(name=CHAT_EXPIRY)
@bp.orchestration_trigger(context_name="context", orchestration=CHAT_EXPIRY)
def chat_expiry(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Expire one idle chat."""
    return (yield from run_expiry(context))
