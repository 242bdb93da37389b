"""Approvals: tool calls that wait for a person, and the decisions about them. Pure: the chat entity applies it.

When a model answer calls a skill whose approval policy says so, the turn records a
`PendingApproval` in its chat (the entity is the one truth about decisions, so they survive any
restart), waits on a durable timer raced by an external event, and runs what was approved. A
decision names a pending call: approving or denying it once; the same decision again is accepted
(a client that lost the answer may repeat it); a different one, an unknown call, or a turn that is
not waiting is refused with the HTTP status to answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any

from pydantic import BeforeValidator

from assistant.messages import Text
from assistant.wire import from_dict, wire

__all__ = ["Decision", "DecisionError", "PendingApproval", "PendingCall", "apply_decisions", "parse_decisions"]

MAX_REASON_CHARS = 1000


@wire
class PendingCall:
    """One tool call waiting for a person, and what was decided about it."""

    tool_call_id: str
    name: str
    arguments: Text
    requested_at: str
    expires_at: str
    approved: bool | None = None
    """None while undecided."""
    reason: str | None = None


@wire
class PendingApproval:
    """The calls of one turn waiting for a person."""

    turn_id: str
    calls: Annotated[tuple[PendingCall, ...], BeforeValidator(lambda value: value or ())]

    @property
    def decided(self) -> bool:
        """Whether every call has a decision."""
        return all(c.approved is not None for c in self.calls)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PendingApproval | None:
        """Read from its JSON (`None` stays `None`: nothing waits)."""
        return from_dict(cls, data) if data else None


@dataclass(frozen=True)
class Decision:
    """A person's decision about one call."""

    tool_call_id: str
    approve: bool
    reason: str | None = None


class DecisionError(ValueError):
    """A decision that cannot be taken; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_decisions(body: Any) -> tuple[Decision, ...]:
    """`{"decisions": [{"toolCallId", "approve", "reason"?}]}` as decisions, else `DecisionError(400)`."""
    items = body.get("decisions") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise DecisionError(
            400, 'the body must be {"decisions": [{"toolCallId": "...", "approve": true|false, "reason": "..."}]}'
        )
    decisions: list[Decision] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise DecisionError(400, f"decisions[{index}] must be an object")
        call_id, approve, reason = item.get("toolCallId"), item.get("approve"), item.get("reason")
        if not isinstance(call_id, str) or not call_id:
            raise DecisionError(400, f"decisions[{index}].toolCallId must be a non-empty string")
        if not isinstance(approve, bool):
            raise DecisionError(400, f"decisions[{index}].approve must be true or false")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
            raise DecisionError(
                400, f"decisions[{index}].reason must be a string of at most {MAX_REASON_CHARS} characters"
            )
        decisions.append(Decision(call_id, approve, reason or None))
    if len({d.tool_call_id for d in decisions}) != len(decisions):
        raise DecisionError(400, "each toolCallId may be decided once per request")
    return tuple(decisions)


def apply_decisions(pending: PendingApproval | None, turn_id: str, decisions: Sequence[Decision]) -> PendingApproval:
    """`pending` with `decisions` taken, all or none; `DecisionError(409)` for a turn not waiting, an unknown call
    or a call already decided otherwise."""
    if pending is None or pending.turn_id != turn_id:
        raise DecisionError(409, f"turn {turn_id!r} is not waiting for an approval")
    calls = {c.tool_call_id: c for c in pending.calls}
    for decision in decisions:
        call = calls.get(decision.tool_call_id)
        if call is None:
            raise DecisionError(
                409,
                f"turn {turn_id!r} has no call {decision.tool_call_id!r} waiting for an approval; "
                f"waiting: {', '.join(sorted(calls)) or 'none'}",
            )
        if call.approved is not None and (call.approved, call.reason) != (decision.approve, decision.reason):
            raise DecisionError(
                409, f"call {decision.tool_call_id!r} was already {'approved' if call.approved else 'denied'}"
            )
        calls[call.tool_call_id] = replace(call, approved=decision.approve, reason=decision.reason)
    return replace(pending, calls=tuple(calls[c.tool_call_id] for c in pending.calls))
