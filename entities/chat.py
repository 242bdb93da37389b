"""The `chat` entity (one per chat id): a thin adapter from entity operations to `assistant.state`.

Operations: `create` (creates or resets, emptying the turn queue), `read`, `expiry` (what the chat's
expiry orchestration needs: last activity, TTL, whether a turn is queued), `enqueue_turn` and
`poll_turn` (the turn queue, see `assistant.queueing`), `append_turn` (appends a running turn and
lets the next one run; refused for a turn the queue no longer holds), `note_failed_turn` (the turn
leaves the queue, nothing appended), `summarized` (a fold of the running summary, applied once; see
`assistant.window.apply_fold`), `archived` (the window's oldest messages are now in the
archive: drop them, see `assistant.window`), `delete`, `patch` (instructions, skills, approval timeout;
the history stays), the approvals (`await_approval`, `decide`, `approval_state`, `approvals_done`, see
`assistant.approvals`) and cancelling (`cancel_turn`, `note_cancelled_turn`). Entity operations run one at a time, so
the queue's
order is the order the turns' `enqueue_turn` requests reached the entity. The state is the
`ChatState` dataclass, stored as its dict form and converted here, at the edge.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import azure.durable_functions as df

from assistant.approvals import DecisionError, PendingApproval, apply_decisions, parse_decisions
from assistant.messages import parse_utc
from assistant.queueing import cancel_turn, enqueue_turn, poll_turn
from assistant.state import ChatState, TurnRecord, append_turn, new_chat, note_failed_turn, patch_chat
from assistant.window import apply_archived, apply_fold, plan_archive, plan_fold, summarized_part

__all__ = ["CHAT_ENTITY", "apply_operation", "bp", "chat_entity_id"]

CHAT_ENTITY = "chat"
FOLD_LEASE_MESSAGES = 8
"""A fold planned this many messages ago whose turn never reported back (it was terminated) no longer blocks others."""

bp = df.Blueprint()

_WITH_INPUT = frozenset(
    {
        "create",
        "append_turn",
        "note_failed_turn",
        "enqueue_turn",
        "poll_turn",
        "archived",
        "summarized",
        "patch",
        "await_approval",
        "decide",
        "approval_state",
        "approvals_done",
        "cancel_turn",
        "note_cancelled_turn",
    }
)


def chat_entity_id(chat_id: str) -> df.EntityId:
    """The entity id of chat `chat_id`."""
    return df.EntityId(CHAT_ENTITY, chat_id)


class UnknownOperation(ValueError):
    """The operation name is not one of the chat entity's."""


def _total(state: ChatState) -> int:
    return state.archived_count + len(state.messages)


def _head(state: ChatState) -> str | None:
    return state.queue[0] if state.queue else None


def apply_operation(chat_id: str, state: ChatState | None, operation: str, data: Any) -> tuple[ChatState | None, Any]:
    """The new state (None: deleted) and the result of `operation` on `state`; pure."""
    if operation == "create":
        data = data or {}
        ttl, skills, timeout = data.get("ttlSeconds"), data.get("skills"), data.get("approvalTimeoutSeconds")
        created = new_chat(
            chat_id,
            data.get("instructions"),
            parse_utc(data["createdAt"]),
            int(ttl) if ttl else None,
            tuple(skills) if skills is not None else None,
            int(timeout) if timeout else None,
            generation=str(data.get("generation") or ""),
        )
        result = {"chatId": chat_id, "createdAt": created.created_at}
        if state is not None and state.queue:
            result["dropped"] = list(state.queue)  # queued turns of the old chat: woken, they learn they were dropped
        return created, result
    if operation == "patch":
        if state is None:
            return None, {"found": False}
        skills, timeout = data.get("skills"), data.get("approvalTimeoutSeconds")
        patched = patch_chat(
            state,
            parse_utc(data["at"]),
            instructions=data.get("instructions"),
            skills=tuple(skills) if skills is not None else None,
            approval_timeout_seconds=int(timeout) if timeout else None,
            clear_skills=bool(data.get("allSkills")),
        )
        return patched, {"found": True}
    if operation == "await_approval":
        pending = PendingApproval.from_dict(data)
        if state is None or pending is None or _head(state) != pending.turn_id:
            return state, {"waiting": False}
        if state.pending_approval is not None and state.pending_approval.turn_id == pending.turn_id:
            return state, {"waiting": True}  # the same wait, recorded before a crash
        return replace(state, pending_approval=pending), {"waiting": True}
    if operation == "decide":
        if state is None:
            return None, {"ok": False, "status": 404, "error": "the chat does not exist"}
        try:
            decided = apply_decisions(state.pending_approval, str(data["turnId"]), parse_decisions(data))
        except DecisionError as error:
            return state, {"ok": False, "status": error.status, "error": error.message}
        return replace(state, pending_approval=decided), {"ok": True}
    if operation == "approval_state":
        pending = state.pending_approval if state is not None else None
        return state, pending.to_dict() if pending is not None and pending.turn_id == str(data) else None
    if operation == "approvals_done":
        if state is None or state.pending_approval is None or state.pending_approval.turn_id != str(data):
            return state, None
        return replace(state, pending_approval=None), None
    if operation == "cancel_turn":
        if state is None:
            return None, {"state": "finished"}
        cancelled, where = cancel_turn(state, str(data["turnId"]), bool(data.get("known")))
        return cancelled, {"state": where}
    if operation == "note_cancelled_turn":
        if state is None:
            return None, {"nextTurnId": None}
        turn_id = str(data)
        left = replace(
            state,
            queue=tuple(t for t in state.queue if t != turn_id),
            pending_approval=None
            if state.pending_approval and state.pending_approval.turn_id == turn_id
            else state.pending_approval,
        )
        return left, {"nextTurnId": _head(left)}
    if operation == "expiry":
        if state is None:
            return None, {"exists": False}
        return state, {
            "exists": True,
            "lastUpdatedAt": state.last_updated_at,
            "ttlSeconds": state.ttl_seconds,
            "busy": bool(state.queue),
        }
    if operation == "read":
        return state, None if state is None else state.to_dict()
    if operation == "enqueue_turn":
        request = data if isinstance(data, dict) else {"turnId": data}  # turns started before hashes send the id
        queued, slot = enqueue_turn(state, str(request["turnId"]), str(request.get("requestHash") or ""))
        return queued, slot.to_dict()
    if operation == "poll_turn":
        return state, poll_turn(state, str(data)).to_dict()
    if operation == "append_turn":
        if state is None:
            return None, {
                "appended": False,
                "cancelled": True,
                "totalMessages": 0,
                "archive": None,
                "fold": None,
                "nextTurnId": None,
            }
        record = TurnRecord.from_dict(data)
        if record.turn_id in state.turn_ids:
            return state, {
                "appended": True,
                "cancelled": False,
                "totalMessages": _total(state),
                "archive": None,
                "fold": None,
                "nextTurnId": _head(state),
            }
        if record.turn_id not in state.queue or (record.generation and record.generation != state.generation):
            # The chat was reset (or the turn never queued): it ran on a chat that no longer exists.
            return state, {
                "appended": False,
                "cancelled": True,
                "totalMessages": _total(state),
                "archive": None,
                "fold": None,
                "nextTurnId": _head(state),
            }
        updated = append_turn(state, record)
        working = int(data.get("workingMessages") or 64)
        memory = data.get("summary")
        fold = None
        lease = updated.fold_lease
        leaving = plan_archive(updated, working)
        if memory and not record.incomplete and (lease is None or _total(updated) - lease[1] >= FOLD_LEASE_MESSAGES):
            # Fold what the model said has grown too long, and what the window is about to archive.
            upto = max(int(memory.get("foldUpto") or 0), leaving.upto_seq if leaving else 0)
            fold = plan_fold(updated, min(upto, _total(state) - 1), int(memory.get("maxTokens") or 0))
            if fold is not None:
                updated = replace(updated, fold_lease=(record.turn_id, _total(updated)))
        batch = summarized_part(updated, leaving, working) if memory else leaving
        return updated, {
            "appended": True,
            "cancelled": False,
            "totalMessages": _total(updated),
            "archive": batch.to_dict() if batch else None,
            "fold": fold.to_dict() if fold else None,
            "nextTurnId": _head(updated),
        }
    if operation == "summarized":
        if state is None:
            return None, {"applied": False, "archive": None}
        if state.fold_lease and state.fold_lease[0] == data.get("turnId"):
            state = replace(state, fold_lease=None)
        if data.get("summary") is None:  # the fold could not be written: another turn may plan it
            return state, {"applied": False, "archive": None}
        folded, applied = apply_fold(
            state, str(data["generation"]), int(data["fromSeq"]), int(data["uptoSeq"]), str(data["summary"])
        )
        batch = plan_archive(folded, int(data.get("workingMessages") or 64), summarized_only=True) if applied else None
        return folded, {"applied": applied, "archive": batch.to_dict() if batch else None}
    if operation == "archived":
        if state is None:
            return None, None
        return apply_archived(state, str(data["generation"]), int(data["uptoSeq"])), None
    if operation == "note_failed_turn":
        if state is None:
            return None, {"nextTurnId": None}
        left = note_failed_turn(state, str(data))
        return left, {"nextTurnId": _head(left)}
    if operation == "delete":
        turn_ids = list(state.turn_ids + state.failed_turn_ids + state.queue) if state else []
        result: dict[str, Any] = {"existed": state is not None, "turnIds": turn_ids}
        if state is not None and state.queue:
            result["dropped"] = list(state.queue)
        return None, result
    raise UnknownOperation(f"unknown chat operation {operation!r}")


@bp.entity_trigger(context_name="context", entity_name=CHAT_ENTITY)
def chat(context: df.DurableEntityContext) -> None:
    """Apply one operation to one chat's state."""
    stored = context.get_state(lambda: None)
    state = ChatState.from_dict(stored) if stored else None
    operation = context.operation_name or ""
    data = context.get_input() if operation in _WITH_INPUT else None
    new_state, result = apply_operation(context.entity_key, state, operation, data)
    # The SDK's set_result marks the entity as existing, so a chat without state (deleted,
    # or never created) is destructed after it, or a read would bring it into existence.
    context.set_result(result)
    if new_state is None:
        context.destruct_on_exit()
    elif new_state is not state:
        context.set_state(new_state.to_dict())
