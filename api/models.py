"""The API's request and response bodies, declared once: the handlers build their answers from them, and the OpenAPI
document (`api/spec.py`, `make openapi`) takes its schemas from them.

Request bodies are read by the input checks of `api/inputs.py` and the handlers (their 400 messages say exactly what
is wrong); these classes are the bodies' shape as the document shows it, and schemathesis checks the two agree
(`tests/assistant/test_fuzz_openapi.py`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from api.errors import HttpError
from api.inputs import required_text, whole_seconds
from assistant.views import ChatView, MessageView, PendingCallView, RequiresAction, TodoView, ToolCallView, TurnRef
from assistant.wire import omit_default, wire
from skills import registry

__all__ = [
    "AskBody",
    "AssistantMessage",
    "AssistantState",
    "CancelAccepted",
    "ChatCreated",
    "ChatView",
    "CheckStatus",
    "CreateChat",
    "DecisionBody",
    "Decisions",
    "DecisionsAccepted",
    "Error",
    "Health",
    "MessageView",
    "PatchChat",
    "PendingCallView",
    "PostMessage",
    "RequiresAction",
    "SkillBody",
    "TodoView",
    "ToolCallView",
    "TurnEventBody",
    "TurnRef",
    "TurnReply",
]

DEFAULT_INSTRUCTIONS_NOTE = (
    "The system message. Default: \"Don't make assumptions about what values to plug into functions. "
    'Ask for clarification if a user request is ambiguous."'
)
MAX_TTL_SECONDS = 366 * 24 * 3600
MAX_APPROVAL_TIMEOUT_SECONDS = 30 * 24 * 3600
NotBlank = Annotated[str, Field(min_length=1, pattern=r"\S")]
SkillName = Literal[tuple(sorted(registry.names()))]  # type: ignore[valid-type]
TTL = Annotated[int, Field(ge=1, le=MAX_TTL_SECONDS)]
APPROVAL_TIMEOUT = Annotated[int, Field(ge=1, le=MAX_APPROVAL_TIMEOUT_SECONDS)]


def _instructions(value: Any) -> str | None:
    """`instructions`: text (blank means the default), else 400."""
    if value is not None and not isinstance(value, str):
        raise HttpError(400, "instructions must be a string")
    if value:
        return required_text(value, "instructions") if value.strip() else ""
    return value


def _skills(value: Any) -> list[str] | None:
    """`skills`: a list of registered skill names (null: all), else 400 naming the known ones."""
    if value is None:
        return None
    known = sorted(registry.names())
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise HttpError(400, f"skills must be a list of skill names; known: {', '.join(known)}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise HttpError(400, f"unknown skill(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return list(dict.fromkeys(value))


def _ttl(value: Any) -> int | None:
    return whole_seconds(value, "ttlSeconds", MAX_TTL_SECONDS)


def _approval_timeout(value: Any) -> int | None:
    return whole_seconds(value, "approvalTimeoutSeconds", MAX_APPROVAL_TIMEOUT_SECONDS)


# The bodies' checks run as pydantic "before" validators; a failed one raises `HttpError`, which pydantic lets
# through as it is, so the client gets the same 400 message the check always gave.


@wire
class CreateChat:
    """PUT: create or reset a chat."""

    instructions: Annotated[str | None, BeforeValidator(_instructions)] = Field(
        default=None, description=DEFAULT_INSTRUCTIONS_NOTE
    )
    ttl_seconds: Annotated[TTL | None, BeforeValidator(_ttl)] = Field(
        default=None, description="Delete the chat once it has been idle (no turn) this long. Default: never."
    )
    skills: Annotated[list[SkillName] | None, BeforeValidator(_skills)] = Field(
        default=None, description="The skills offered to the model (names from GET /api/skills). Default: all."
    )
    approval_timeout_seconds: Annotated[APPROVAL_TIMEOUT | None, BeforeValidator(_approval_timeout)] = Field(
        default=None, description="How long a call waits for a person before it counts as denied. Default 86400."
    )


_PATCHABLE = ("approvalTimeoutSeconds", "instructions", "skills")


@wire(schema={"minProperties": 1})
class PatchChat:
    """PATCH: change a chat from its next turn on; the history stays (at least one field)."""

    instructions: Annotated[str | None, BeforeValidator(_instructions)] = Field(
        default=None, description="New system message (replaced in place)."
    )
    skills: Annotated[list[SkillName] | None, BeforeValidator(_skills)] = Field(
        default=None, description="The skills offered from the next turn on (null: all)."
    )
    approval_timeout_seconds: Annotated[APPROVAL_TIMEOUT, BeforeValidator(_approval_timeout)] = Field(
        default=None, description="How long a call waits for a person."
    )

    @model_validator(mode="before")
    @classmethod
    def _something(cls, data: Any) -> Any:
        """At least one field; `approvalTimeoutSeconds` a number when given."""
        if isinstance(data, dict):
            if not set(_PATCHABLE) & set(data):
                raise HttpError(400, f"PATCH changes at least one of {', '.join(_PATCHABLE)}")
            if "approvalTimeoutSeconds" in data and data["approvalTimeoutSeconds"] is None:
                raise HttpError(400, "approvalTimeoutSeconds must be a number of seconds")
        return data


@wire
class PostMessage:
    """POST: one message (or `?message=`)."""

    message: NotBlank = Field(description="At most CHAT_MAX_MESSAGE_BYTES UTF-8 bytes (default 32 KiB); not blank.")


@wire
class DecisionBody:
    """A person's decision about one waiting call."""

    tool_call_id: Annotated[str, Field(min_length=1)]
    approve: bool
    reason: Annotated[str, Field(max_length=1000)] | None = None


@wire
class Decisions:
    """POST …/approvals: decisions about the turn's waiting calls (each call decided once per request)."""

    decisions: Annotated[list[DecisionBody], Field(min_length=1)]


@wire
class AskBody:
    """POST /api/ask."""

    prompt: NotBlank


# ---- responses --------------------------------------------------------------------------------------------------


@wire
class Error:
    """What is wrong (every 4xx and 5xx the app answers)."""

    error: str
    instance_id: str | None = omit_default()
    reason: str | None = omit_default(None)
    """A failed turn: what failed (e.g. the model's HTTP status)."""
    recorded: bool | None = omit_default()
    """A failed turn: true when tool calls had run and are recorded in the chat (the same Idempotency-Key resumes
    the turn without running them again); false when the chat is unchanged."""


@wire
class AssistantMessage:
    """A message in the Functions OpenAI extension's `AssistantState` shape (`toolCalls` as a JSON string)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: str = Field(description="The calls as a JSON string (the extension's AssistantState shape).")
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    tool_call_id: str | None = omit_default()
    truncated: bool = omit_default(False)


@wire
class AssistantState:
    """GET of a chat under `/api/assistants` (the Functions OpenAI extension's shape)."""

    id: str
    exists: bool
    created_at: str | None
    last_updated_at: str | None
    total_messages: Annotated[int, Field(ge=0)]
    total_tokens: Annotated[int, Field(ge=0)]
    recent_messages: list[AssistantMessage]
    turn_in_progress: bool
    pending_turns: Annotated[int, Field(ge=0)]
    instructions: str | None = None
    skills: list[str] | None = None
    approval_timeout_seconds: int | None = None
    summary: str | None = None
    summarized_through: Annotated[int, Field(ge=0)] = 0
    turns: list[TurnRef] | None = omit_default()
    requires_action: RequiresAction | None = omit_default()


@wire
class ChatCreated:
    """PUT's answer (`assistantId` under `/api/assistants`)."""

    chat_id: str


@wire
class TurnReply:
    """A POST's reply as JSON (`Accept: application/json`)."""

    chat_id: str
    reply: str
    recent_messages: list[MessageView]
    instance_id: str


@wire
class CheckStatus:
    """A POST past its wait (or waiting for a person): the Durable check-status payload and the turn's URLs."""

    id: str
    status_query_get_uri: str
    send_event_post_uri: str | None = omit_default()
    terminate_post_uri: str | None = omit_default()
    rewind_post_uri: str | None = omit_default()
    purge_history_delete_uri: str | None = omit_default()
    restart_post_uri: str | None = omit_default()
    suspend_post_uri: str | None = omit_default()
    resume_post_uri: str | None = omit_default()
    events_url: str | None = omit_default()
    """The turn's events (SSE, or a JSON long poll)."""
    status: Literal["running", "requires_action"] | None = omit_default()
    """requires_action: the turn waits for a person (see requiresAction)."""
    requires_action: RequiresAction | None = omit_default()


@wire
class TurnEventBody:
    """One event of a turn, with the fields of its type beside these (see docs/assistant.md, "The events")."""

    sequence: Annotated[int, Field(ge=1)]
    type: str
    turn_id: str
    chat_id: str
    created_at: str


@wire
class DecisionsAccepted:
    """The decisions are recorded; the turn goes on."""

    turn_id: str
    status: Literal["accepted"]
    events_url: str


@wire
class CancelAccepted:
    """The turn is being cancelled (`was`: queued, running or pending)."""

    turn_id: str
    status: Literal["cancelling"]
    was: str


@wire
class SkillBody:
    """A skill: what the model is told, its parameters' schema, its approval policy."""

    name: str
    description: str
    parameters: dict[str, Any]
    approval: Literal["never", "always", "conditional"]


@wire
class Health:
    """Liveness."""

    status: Literal["ok"]
