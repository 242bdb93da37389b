"""The `chat_admin` orchestrator: creating/resetting, changing and deleting a chat, deciding a turn's
approvals and cancelling a turn, so the API can wait for the entity's answer.

Creating or resetting also deletes an old archive of the chat. Creating goes through `call_entity`, so when the
orchestration completes the entity has applied
the reset and a GET or POST sent afterwards sees the new chat. Deleting removes the entity's state,
then the skills' data and the archive of the chat, and returns the turn instance ids the API purges
(those the entity remembers and those of the archived messages).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Annotated, Any

import azure.durable_functions as df
from pydantic import BeforeValidator

from activities.archive import FORGET_ARCHIVE_ACTIVITY
from activities.turns import WAKE_TURNS_ACTIVITY
from assistant.messages import format_utc
from assistant.wire import omit_default, wire
from entities.chat import chat_entity_id
from orchestrators.retry import ACTIVITY_RETRY
from skills.blueprint import FORGET_CHAT_ACTIVITY

__all__ = ["CHAT_ADMIN", "ChatAdminInput", "bp", "run_admin"]

CHAT_ADMIN = "chat_admin"

bp = df.Blueprint()


@wire
class ChatAdminInput:
    """Input of `chat_admin`."""

    chat_id: str
    action: str
    """`create`, `delete`, `patch`, `decide` or `cancel`."""
    instructions: str | None = None
    ttl_seconds: Annotated[int | None, BeforeValidator(lambda value: value or None)] = None
    """`create`: delete the chat after this long idle (None: never)."""
    options: Annotated[dict[str, Any] | None, BeforeValidator(lambda value: value or None)] = omit_default()
    """The rest of the action's input: `create` (`skills`, `approvalTimeoutSeconds`), `patch` (the fields to change),
    `decide` (`turnId`, `decisions`), `cancel` (`turnId`, `known`)."""


def _wake_dropped(context: df.DurableOrchestrationContext, result: Any) -> Generator[Any, Any, None]:
    """Wake the turns a reset or delete dropped from the chat's queue: they end their wait and write nothing (best
    effort: their durable timer ends it anyway)."""
    dropped = result.get("dropped") if isinstance(result, dict) else None
    if not dropped:
        return
    try:
        yield context.call_activity_with_retry(WAKE_TURNS_ACTIVITY, ACTIVITY_RETRY, {"turnIds": list(dropped)})
    except Exception:
        pass


def run_admin(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Create/reset or delete one chat; the output is the entity's result."""
    request = ChatAdminInput.from_dict(context.get_input())
    entity = chat_entity_id(request.chat_id)
    options = request.options or {}
    if request.action == "create":
        created_at = format_utc(context.current_utc_datetime)
        generation = str(context.new_uuid())
        created = yield context.call_entity(
            entity,
            "create",
            {
                "instructions": request.instructions,
                "createdAt": created_at,
                "ttlSeconds": request.ttl_seconds,
                "generation": generation,
                **options,
            },
        )
        yield from _wake_dropped(context, created)
        # A reset chat is a fresh chat: its skills' data (its todos) go too, as on DELETE; the new generation is
        # marked first, so a skill of a turn of the old chat that writes late undoes its write.
        yield context.call_activity_with_retry(
            FORGET_CHAT_ACTIVITY, ACTIVITY_RETRY, {"chatId": request.chat_id, "generation": generation}
        )
        yield context.call_activity_with_retry(FORGET_ARCHIVE_ACTIVITY, ACTIVITY_RETRY, {"chatId": request.chat_id})
        return created
    if request.action == "patch":
        return (yield context.call_entity(entity, "patch", {**options, "at": format_utc(context.current_utc_datetime)}))
    if request.action == "decide":
        return (yield context.call_entity(entity, "decide", options))
    if request.action == "cancel":
        return (yield context.call_entity(entity, "cancel_turn", options))
    if request.action == "delete":
        result = yield context.call_entity(entity, "delete")
        yield from _wake_dropped(context, result)
        tombstone = f"deleted-{context.new_uuid()}"  # a generation no turn has: late writes undo themselves
        yield context.call_activity_with_retry(
            FORGET_CHAT_ACTIVITY, ACTIVITY_RETRY, {"chatId": request.chat_id, "generation": tombstone}
        )
        archived_turns = yield context.call_activity_with_retry(
            FORGET_ARCHIVE_ACTIVITY, ACTIVITY_RETRY, {"chatId": request.chat_id}
        )
        turn_ids = list(dict.fromkeys([*(result or {}).get("turnIds", []), *(archived_turns or [])]))
        return {**(result or {}), "turnIds": turn_ids}
    raise ValueError(f"unknown chat_admin action {request.action!r}")


@bp.function_name(name=CHAT_ADMIN)
@bp.orchestration_trigger(context_name="context", orchestration=CHAT_ADMIN)
def chat_admin(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Create/reset or delete one chat."""
    return (yield from run_admin(context))
