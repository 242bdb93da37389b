"""The public views of the domain: how messages, waiting calls and chats look in the API's answers.

They are `@wire` classes like the payloads: the API builds its bodies from them, the OpenAPI document takes their
schemas (`api/models.py`, `api/spec.py`), and the turn's output (what `statusQueryGetUri` shows), its custom status
while it waits for a person and its events carry the same forms.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from assistant.approvals import PendingApproval, PendingCall
from assistant.messages import ChatMessage
from assistant.wire import omit_default, wire

__all__ = ["ChatView", "MessageView", "PendingCallView", "RequiresAction", "TodoView", "ToolCallView", "TurnRef"]


@wire
class ToolCallView:
    """A tool call as the API shows it."""

    id: str
    function_name: str
    arguments: str = Field(description="JSON text as the model sent it.")


@wire
class MessageView:
    """A message of a chat as the API shows it."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCallView, ...]
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    tool_call_id: str | None = omit_default()
    """For tool messages: the call answered."""
    truncated: bool = omit_default(False)
    """The model stopped writing it at its token limit."""

    @classmethod
    def of(cls, message: ChatMessage) -> MessageView:
        """The view of a stored message."""
        return cls(
            role=message.role,
            content=message.content,
            tool_calls=tuple(ToolCallView(c.id, c.name, c.arguments) for c in message.tool_calls),
            created_at=message.created_at,
            tool_call_id=message.tool_call_id,
            truncated=message.truncated,
        )


@wire
class PendingCallView:
    """A call waiting for a person."""

    tool_call_id: str
    name: str
    arguments: str
    requested_at: str
    expires_at: str

    @classmethod
    def of(cls, call: PendingCall) -> PendingCallView:
        """The view of a waiting call."""
        return cls(call.tool_call_id, call.name, call.arguments, call.requested_at, call.expires_at)


@wire
class RequiresAction:
    """What a turn waits for: calls a person approves or denies at `approvalsUrl`."""

    turn_id: str
    tool_calls: tuple[PendingCallView, ...]
    approvals_url: str

    @classmethod
    def of(cls, pending: PendingApproval, approvals_url: str) -> RequiresAction:
        """The calls still undecided, and where to decide them."""
        undecided = tuple(PendingCallView.of(c) for c in pending.calls if c.approved is None)
        return cls(pending.turn_id, undecided, approvals_url)


@wire
class TurnRef:
    """A turn running (the first) or queued, with its events."""

    turn_id: str
    state: Literal["running", "queued"]
    events_url: str


@wire
class ChatView:
    """A chat as `GET /api/chats/{chatId}` shows it (`exists` false when there is none)."""

    id: str
    exists: bool
    created_at: str | None = None
    last_updated_at: str | None = None
    total_messages: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)
    recent_messages: tuple[MessageView, ...] = ()
    turn_in_progress: bool = False
    """Whether a turn of this chat is running now."""
    pending_turns: int = Field(default=0, ge=0)
    """Accepted turns queued behind the running one; they run one at a time in arrival order."""
    instructions: str | None = None
    skills: tuple[str, ...] | None = None
    approval_timeout_seconds: int | None = None
    summary: str | None = None
    """The running summary of the chat's earliest messages, which are no longer sent to the model."""
    summarized_through: int = Field(default=0, ge=0)
    """The summary covers messages 1 to this one."""
    turns: tuple[TurnRef, ...] | None = omit_default()
    """The turns running (first) or queued, with their events URLs."""
    requires_action: RequiresAction | None = None
    """The running turn's calls waiting for a person (null: none)."""


@wire
class TodoView:
    """A todo of a chat, as `GetTodos` gives it to the model and `GET /api/chats/{chatId}/todos` to a client."""

    id: str
    task_description: str
    done: bool
    created_at: str
