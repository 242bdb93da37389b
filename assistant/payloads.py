"""Typed payloads crossing durable boundaries: orchestrator input/output, activity inputs/outputs.

Each has `to_dict` (what goes into the durable history) and `from_dict` (at the receiving edge).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.events import EventDraft
from assistant.messages import ChatMessage, ToolCall, message_dicts
from assistant.state import Usage

__all__ = [
    "CompletionRequest",
    "CompletionResult",
    "EventTarget",
    "ToolInvocation",
    "ToolResult",
    "TurnInput",
    "TurnOutput",
]


@dataclass(frozen=True)
class EventTarget:
    """Where an activity writes its part of the turn's event log: from sequence number `start`, `preface` first."""

    turn_id: str
    chat_id: str
    start: int
    preface: tuple[EventDraft, ...] = ()
    """Events the orchestrator decided (turn started, calls that did not run), written before the activity's own."""
    end: int | None = None
    """For a tool call: the sequence number of its `tool_call.completed` (its `tool_call.started` is at `start`)."""

    def to_dict(self) -> dict[str, Any]:
        """Durable-payload form."""
        data: dict[str, Any] = {"turnId": self.turn_id, "chatId": self.chat_id, "start": self.start}
        if self.preface:
            data["preface"] = [d.to_dict() for d in self.preface]
        if self.end is not None:
            data["end"] = self.end
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EventTarget | None:
        """Inverse of `to_dict` (None stays None)."""
        if not data:
            return None
        return cls(
            turn_id=str(data["turnId"]),
            chat_id=str(data["chatId"]),
            start=int(data["start"]),
            preface=tuple(EventDraft.from_dict(d) for d in data.get("preface") or ()),
            end=int(data["end"]) if data.get("end") is not None else None,
        )


@dataclass(frozen=True)
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
    """Publish the turn's events to its log (`CHAT_TURN_EVENTS`, on by default)."""
    traceparent: str | None = None
    """The W3C trace context of the request that sent the message: the turn's spans join its trace."""
    summary: bool = False
    """Fold what leaves the prompt into the chat's running summary (`CHAT_SUMMARY`)."""
    request_hash: str = ""
    """SHA-256 of the request that started the turn (chat and message): an `Idempotency-Key` names one request, and
    a repeat of the key with another request is refused by comparing it ("" for turns started before it existed)."""

    def to_dict(self) -> dict[str, Any]:
        """Durable-payload form (plain JSON)."""
        data = {
            "chatId": self.chat_id,
            "message": self.message,
            "maxToolRounds": self.max_tool_rounds,
            "workingMessages": self.working_messages,
            "maxToolCalls": self.max_tool_calls,
            "modelAttempts": self.model_attempts,
            "modelRetrySeconds": self.model_retry_seconds,
            "events": self.events,
            "traceparent": self.traceparent,
            "summary": self.summary,
        }
        if self.request_hash:
            data["requestHash"] = self.request_hash
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnInput:
        """Inverse of `to_dict`, at the receiving edge."""
        return cls(
            chat_id=str(data["chatId"]),
            message=str(data["message"]),
            max_tool_rounds=int(data.get("maxToolRounds", 5)),
            working_messages=int(data.get("workingMessages", 64)),
            max_tool_calls=int(data.get("maxToolCalls", 16)),
            model_attempts=int(data.get("modelAttempts", 3)),
            model_retry_seconds=float(data.get("modelRetrySeconds", 2.0)),
            events=bool(data.get("events", False)),
            traceparent=data.get("traceparent"),
            summary=bool(data.get("summary", False)),
            request_hash=str(data.get("requestHash") or ""),
        )


@dataclass(frozen=True)
class TurnOutput:
    """Output of the `post_user_query` orchestration (what `statusQueryGetUri` shows when done)."""

    chat_id: str
    found: bool
    """False when the chat did not exist (deleted after the turn was accepted); nothing was written."""
    reply: str = ""
    """The assistant's final text."""
    recent_messages: tuple[ChatMessage, ...] = ()
    """The turn's messages: the user's, any tool calls and results, and the final reply."""
    usage: Usage = Usage()
    next_turn_id: str | None = None
    """The chat's turn queued next when this one ended (the API wakes it)."""
    cancelled: bool = False
    """A person cancelled the turn: nothing of it was written."""
    request_hash: str = ""
    """The `TurnInput.request_hash` of the request whose turn this is (a waiting POST checks it is its own)."""

    def to_dict(self) -> dict[str, Any]:
        """Durable-payload form (plain JSON)."""
        data = {
            "chatId": self.chat_id,
            "found": self.found,
            "reply": self.reply,
            "recentMessages": [m.to_api() for m in self.recent_messages],
            "usage": self.usage.to_dict(),
            "nextTurnId": self.next_turn_id,
            "cancelled": self.cancelled,
        }
        if self.request_hash:
            data["requestHash"] = self.request_hash
        return data


@dataclass(frozen=True)
class CompletionRequest:
    """Input of the `chat_completion` activity."""

    messages: Sequence[ChatMessage]
    """The whole conversation so far; the activity fits it to the prompt budget."""
    allow_tools: bool = True
    """Offer the skills as tools (false for the last call after the round limit)."""
    events: EventTarget | None = None
    """Stream the answer into the turn's event log (None: just answer)."""
    tools: tuple[str, ...] | None = None
    """The skills to offer (the chat's); None: every registered one."""
    traceparent: str | None = None
    """The turn's trace context (the model call's span joins it)."""
    queued_seconds: float | None = None
    """The first model call of a turn: how long the turn waited in its chat's queue (a metric)."""
    fold_check: bool = False
    """Report in `CompletionResult.fold_count` how many of the oldest messages to fold into the summary."""

    def to_dict(self) -> dict[str, Any]:
        """Durable-payload form (plain JSON)."""
        data: dict[str, Any] = {"messages": message_dicts(self.messages), "allowTools": self.allow_tools}
        if self.fold_check:
            data["foldCheck"] = True
        if self.traceparent:
            data["traceparent"] = self.traceparent
        if self.queued_seconds is not None:
            data["queuedSeconds"] = self.queued_seconds
        if self.events is not None:
            data["events"] = self.events.to_dict()
        if self.tools is not None:
            data["tools"] = list(self.tools)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompletionRequest:
        """Inverse of `to_dict`, at the receiving edge."""
        return cls(
            messages=tuple(ChatMessage.from_dict(m) for m in data["messages"]),
            allow_tools=bool(data.get("allowTools", True)),
            events=EventTarget.from_dict(data.get("events")),
            tools=tuple(data["tools"]) if data.get("tools") is not None else None,
            traceparent=data.get("traceparent"),
            queued_seconds=data.get("queuedSeconds"),
            fold_check=bool(data.get("foldCheck")),
        )


@dataclass(frozen=True)
class CompletionResult:
    """Output of the `chat_completion` activity: the model's answer."""

    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage()
    model: str = ""
    error: str | None = None
    """Set when the model refused the request for good (a 4xx other than 408/409/429): retrying cannot help."""
    last_sequence: int = 0
    """The last event this call wrote to the turn's log (0: it wrote none)."""
    truncated: bool = False
    """The model stopped at its token limit (`finish_reason: length`): the text is kept, marked truncated."""
    fold_count: int = 0
    """Asked with `fold_check`: how many of the request's oldest messages (after the system messages) to fold into
    the summary (`assistant.memory.fold_point`); 0: none yet."""

    def to_dict(self) -> dict[str, Any]:
        """Durable-payload form (plain JSON)."""
        data: dict[str, Any] = {
            "content": self.content,
            "toolCalls": [c.to_dict() for c in self.tool_calls],
            "usage": self.usage.to_dict(),
            "model": self.model,
        }
        if self.error is not None:
            data["error"] = self.error
        if self.last_sequence:
            data["lastSequence"] = self.last_sequence
        if self.fold_count:
            data["foldCount"] = self.fold_count
        if self.truncated:
            data["truncated"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompletionResult:
        """Inverse of `to_dict`, at the receiving edge."""
        return cls(
            content=str(data.get("content") or ""),
            tool_calls=tuple(ToolCall.from_dict(c) for c in data.get("toolCalls") or ()),
            usage=Usage.from_dict(data.get("usage")),
            model=str(data.get("model") or ""),
            error=data.get("error"),
            last_sequence=int(data.get("lastSequence") or 0),
            fold_count=int(data.get("foldCount") or 0),
            truncated=bool(data.get("truncated")),
        )


@dataclass(frozen=True)
class ToolInvocation:
    """Input of a skill's activity: one tool call of one chat."""

    chat_id: str
    call: ToolCall
    idempotency_key: str = ""
    """Unique to the turn's run and the call, the same when the activity runs again (the skill acts once per key);
    empty means the call id (older payloads)."""
    events: EventTarget | None = None
    """Where the call's `tool_call.started` (at `start`) and `tool_call.completed` (at `end`) go."""
    traceparent: str | None = None
    """The turn's trace context (the skill call's span joins it)."""
    generation: str = ""
    """The chat's generation the turn runs on: a skill's write lands only while the chat is still that one."""

    @property
    def key(self) -> str:
        """The idempotency key the skill uses."""
        return self.idempotency_key or self.call.id

    def to_dict(self) -> dict[str, Any]:
        """Durable-payload form (plain JSON)."""
        data = {"chatId": self.chat_id, "call": self.call.to_dict(), "idempotencyKey": self.idempotency_key}
        if self.events is not None:
            data["events"] = self.events.to_dict()
        if self.traceparent:
            data["traceparent"] = self.traceparent
        if self.generation:
            data["generation"] = self.generation
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolInvocation:
        """Inverse of `to_dict`, at the receiving edge."""
        return cls(
            chat_id=str(data["chatId"]),
            call=ToolCall.from_dict(data["call"]),
            idempotency_key=str(data.get("idempotencyKey") or ""),
            events=EventTarget.from_dict(data.get("events")),
            traceparent=data.get("traceparent"),
            generation=str(data.get("generation") or ""),
        )


@dataclass(frozen=True)
class ToolResult:
    """Output of a skill's activity: the text given back to the model."""

    tool_call_id: str
    name: str
    content: str
    ok: bool = True
    """False when the call failed (bad arguments, unknown tool, skill error): `content` says why."""

    def to_dict(self) -> dict[str, Any]:
        """Durable-payload form (plain JSON)."""
        return {"toolCallId": self.tool_call_id, "name": self.name, "content": self.content, "ok": self.ok}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolResult:
        """Inverse of `to_dict`, at the receiving edge."""
        return cls(
            tool_call_id=str(data["toolCallId"]),
            name=str(data["name"]),
            content=str(data.get("content") or ""),
            ok=bool(data.get("ok", True)),
        )
