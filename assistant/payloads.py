"""Typed payloads crossing durable boundaries: orchestrator input/output, activity inputs/outputs.

Each is a `@wire` class (`assistant/wire.py`): `to_dict` is what goes into the durable history, `from_dict`
reads it at the receiving edge; fields left out while at their default are `omit_default`. Field order is the
JSON's key order: histories already stored read and write the same (`tests/assistant/test_recorded_histories.py`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer

from assistant.events import EventDraft
from assistant.messages import ChatMessage, Messages, Text, ToolCall
from assistant.state import Usage, UsageField
from assistant.views import MessageView
from assistant.wire import from_dict, omit_default, wire

__all__ = [
    "CompletionRequest",
    "CompletionResult",
    "EventTarget",
    "ToolInvocation",
    "ToolResult",
    "TurnInput",
    "TurnOutput",
]


Calls = Annotated[tuple[ToolCall, ...], BeforeValidator(lambda value: value or ())]
"""Tool calls, a stored `null` read as none."""
ApiMessages = Annotated[
    tuple[ChatMessage, ...],
    PlainSerializer(lambda messages: [MessageView.of(m).to_dict() for m in messages], return_type=list),
]
"""Messages written in the API's form (`assistant.views.MessageView`)."""


@wire
class EventTarget:
    """Where an activity writes its part of the turn's event log: from sequence number `start`, `preface` first."""

    turn_id: str
    chat_id: str
    start: int
    preface: tuple[EventDraft, ...] = omit_default(())
    """Events the orchestrator decided (turn started, calls that did not run), written before the activity's own."""
    end: int | None = omit_default()
    """For a tool call: the sequence number of its `tool_call.completed` (its `tool_call.started` is at `start`)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EventTarget | None:
        """Read from its JSON (`None` stays `None`: no events)."""
        return from_dict(cls, data) if data else None


@wire
class TurnInput:
    """Input of the `post_user_query` orchestration."""

    chat_id: str
    message: str
    max_tool_rounds: int = 5
    """Model answers with tool calls allowed before the model must answer in text (read by the API, so replay never
    depends on settings)."""
    working_messages: int = 64
    """The chat entity's working window (`CHAT_WORKING_MESSAGES`, read by the API like `max_tool_rounds`)."""
    max_tool_calls: int = 16
    """Tool calls of one model answer that run (`CHAT_MAX_TOOL_CALLS`); the rest get an error result."""
    model_attempts: int = 3
    """Times a model call is tried in the turn before the turn fails (`CHAT_MODEL_TURN_ATTEMPTS`)."""
    model_retry_seconds: float = 2.0
    """Wait between the attempts (`CHAT_MODEL_RETRY_SECONDS`)."""
    events: bool = True
    """Publish the turn's events to its log from its start (`CHAT_TURN_EVENTS` on, and the request that started it
    streams, or will follow it: a live turn)."""
    live_on_watch: bool = omit_default(False)
    """The turn starts without events, and publishes them from its next step once a reader asks for them (the
    `live` external event, raised by the first request that follows it): what nobody watches costs nothing."""
    traceparent: str | None = None
    """The W3C trace context of the request that sent the message: the turn's spans join its trace."""
    summary: bool = False
    """Fold what leaves the prompt into the chat's running summary (`CHAT_SUMMARY`)."""
    queue_check_seconds: float = omit_default(30.0)
    """A queued turn's one durable timer (`CHAT_QUEUE_CHECK_SECONDS`): when it fires with the same turn ahead, that
    turn's liveness is checked (a turn terminated by hand never leaves the queue by itself)."""
    request_hash: str = omit_default("")
    """SHA-256 of the request that started the turn (chat and message): an `Idempotency-Key` names one request, and
    a repeat of the key with another request is refused by comparing it ("" for turns started before it existed)."""


@wire
class TurnOutput:
    """Output of the `post_user_query` orchestration (what `statusQueryGetUri` shows when done)."""

    chat_id: str
    found: bool
    """False when the chat did not exist (deleted after the turn was accepted); nothing was written."""
    reply: str = ""
    """The assistant's final text."""
    recent_messages: ApiMessages = ()
    """The turn's messages: the user's, any tool calls and results, and the final reply."""
    usage: UsageField = Field(default_factory=Usage)
    next_turn_id: str | None = None
    """The chat's turn queued next when this one ended (the API wakes it)."""
    cancelled: bool = False
    """A person cancelled the turn: nothing of it was written."""
    request_hash: str = omit_default("")
    """The `TurnInput.request_hash` of the request whose turn this is (a waiting POST checks it is its own)."""


@wire
class CompletionRequest:
    """Input of the `chat_completion` activity."""

    messages: Messages
    """The whole conversation so far; the activity fits it to the prompt budget."""
    allow_tools: bool = True
    """Offer the skills as tools (false for the last call after the round limit)."""
    fold_check: bool = omit_default(False)
    """Report in `CompletionResult.fold_count` how many of the oldest messages to fold into the summary."""
    traceparent: str | None = omit_default()
    """The turn's trace context (the model call's span joins it)."""
    queued_seconds: float | None = omit_default()
    """The first model call of a turn: how long the turn waited in its chat's queue (a metric)."""
    events: EventTarget | None = omit_default()
    """Stream the answer into the turn's event log (None: just answer)."""
    tools: tuple[str, ...] | None = omit_default()
    """The skills to offer (the chat's); None: every registered one."""


@wire
class CompletionResult:
    """Output of the `chat_completion` activity: the model's answer."""

    content: Text
    tool_calls: Calls = ()
    usage: UsageField = Field(default_factory=Usage)
    model: Text = ""
    error: str | None = omit_default()
    """Set when the model refused the request for good (a 4xx other than 408/409/429): retrying cannot help."""
    last_sequence: int = omit_default(0)
    """The last event this call wrote to the turn's log (0: it wrote none)."""
    fold_count: int = omit_default(0)
    """Asked with `fold_check`: how many of the request's oldest messages (after the system messages) to fold into
    the summary (`assistant.memory.fold_point`); 0: none yet."""
    truncated: bool = omit_default(False)
    """The model stopped at its token limit (`finish_reason: length`): the text is kept, marked truncated."""


@wire
class ToolInvocation:
    """Input of a skill's activity: one tool call of one chat."""

    chat_id: str
    call: ToolCall
    idempotency_key: Text = ""
    """Unique to the turn's run and the call, the same when the activity runs again (the skill acts once per key);
    empty means the call id (older payloads)."""
    events: EventTarget | None = omit_default()
    """Where the call's `tool_call.started` (at `start`) and `tool_call.completed` (at `end`) go."""
    traceparent: str | None = omit_default()
    """The turn's trace context (the skill call's span joins it)."""
    generation: str = omit_default("")
    """The chat's generation the turn runs on: a skill's write lands only while the chat is still that one."""

    @property
    def key(self) -> str:
        """The idempotency key the skill uses."""
        return self.idempotency_key or self.call.id


@wire
class ToolResult:
    """Output of a skill's activity: the text given back to the model."""

    tool_call_id: str
    name: str
    content: Text = ""
    ok: bool = True
    """False when the call failed (bad arguments, unknown tool, skill error): `content` says why."""
