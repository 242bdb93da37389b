"""The turn's events: one model, one wire format, used by the publisher, the stream, the tests and the page.

Every turn publishes ordered events; each is JSON with `sequence` (per turn, from 1, no gaps),
`type`, `turnId`, `chatId`, `createdAt` and the fields of its type:

| type | fields | written by |
|---|---|---|
| `turn.queued` | `position` (turns ahead; 0 = next) | the first model call, or the queue wait when the turn waits |
| `turn.started` | | the first model call |
| `message.delta` | `text`: the next piece of the reply as the model writes it | the model call (coalesced) |
| `message.reset` | `attempt`: the call is retried; drop the text since the last `message.completed` | the model call |
| `message.completed` | `content`, `toolCalls`, `truncated` if cut at the token limit | the model call |
| `tool_call.started` | `toolCallId`, `name`, `arguments` | the skill's activity (or the next model call) |
| `tool_call.completed` | `toolCallId`, `name`, `ok`, `result` (cut to `RESULT_CHARS`) | likewise |
| `turn.completed` | `reply`, `usage`, `recentMessages` | the stream's reader, from the finished turn |
| `turn.failed` | `error`, `retryable`, `recorded` | likewise |
| `turn.cancelled` | | likewise (a person cancelled the turn) |
| `approval.required` | `toolCalls` (`toolCallId`, `name`, `arguments`, `requestedAt`, `expiresAt`) | the turn |
| `approval.decided` | `toolCallId`, `approved`, `reason` (one per call; `no answer in time`: timed out) | the turn |

A turn's stream always ends with `turn.completed`, `turn.failed` or `turn.cancelled`. Invariant: the `text` of the
`message.delta` events after the last `message.reset`, concatenated, equals the final reply. The
format is versioned by adding types and fields, never by changing them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from assistant.wire import wire

__all__ = [
    "APPROVAL_DECIDED",
    "APPROVAL_REQUIRED",
    "DELTA",
    "MESSAGE_COMPLETED",
    "RESET",
    "RESULT_CHARS",
    "TERMINAL",
    "TOOL_COMPLETED",
    "TOOL_STARTED",
    "TURN_CANCELLED",
    "TURN_COMPLETED",
    "TURN_FAILED",
    "TURN_QUEUED",
    "TURN_STARTED",
    "EventDraft",
    "TurnEvent",
    "drafts_to_dicts",
    "final_text",
    "sse_comment",
    "sse_frame",
    "tool_completed",
    "tool_started",
    "turn_record",
]

TURN_QUEUED = "turn.queued"
TURN_STARTED = "turn.started"
DELTA = "message.delta"
RESET = "message.reset"
MESSAGE_COMPLETED = "message.completed"
TOOL_STARTED = "tool_call.started"
TOOL_COMPLETED = "tool_call.completed"
TURN_COMPLETED = "turn.completed"
TURN_FAILED = "turn.failed"
TURN_CANCELLED = "turn.cancelled"
APPROVAL_REQUIRED = "approval.required"
APPROVAL_DECIDED = "approval.decided"
TERMINAL = frozenset({TURN_COMPLETED, TURN_FAILED, TURN_CANCELLED})
"""Types that end a turn's stream."""
RESULT_CHARS = 4000
"""The most of a tool result a `tool_call.completed` event carries."""


@wire
class EventDraft:
    """An event before it has its place in the log: its type and its own fields."""

    type: str
    data: Annotated[dict[str, Any], BeforeValidator(lambda value: value or {})] = Field(default_factory=dict)


@wire
class TurnEvent:
    """One event as stored and sent. Its wire form is flat (the type's own fields beside `sequence`, `type`,
    `turnId`, `chatId`, `createdAt`), which fields cannot declare: it has its own `to_dict` and `from_dict`."""

    sequence: int
    type: str
    turn_id: str
    chat_id: str
    created_at: str
    data: dict[str, Any] = Field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The wire form."""
        return {
            "sequence": self.sequence,
            "type": self.type,
            "turnId": self.turn_id,
            "chatId": self.chat_id,
            "createdAt": self.created_at,
            **self.data,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> TurnEvent:
        """Inverse of `to_dict`."""
        known = {"sequence", "type", "turnId", "chatId", "createdAt"}
        return cls(
            sequence=int(value["sequence"]),
            type=str(value["type"]),
            turn_id=str(value["turnId"]),
            chat_id=str(value["chatId"]),
            created_at=str(value["createdAt"]),
            data={k: v for k, v in value.items() if k not in known},
        )


def tool_started(call_id: str, name: str, arguments: str) -> EventDraft:
    """`tool_call.started`."""
    return EventDraft(TOOL_STARTED, {"toolCallId": call_id, "name": name, "arguments": arguments})


def tool_completed(call_id: str, name: str, ok: bool, result: str) -> EventDraft:
    """`tool_call.completed`, the result cut to `RESULT_CHARS`."""
    cut = result if len(result) <= RESULT_CHARS else result[:RESULT_CHARS] + "…"
    return EventDraft(TOOL_COMPLETED, {"toolCallId": call_id, "name": name, "ok": ok, "result": cut})


def turn_record(messages: Iterable[Mapping[str, Any]]) -> list[EventDraft]:
    """The events of a turn that published none while it ran, from its messages as the API shows them (a late
    reader's record of it): each assistant message's `message.completed` (content, tool calls) and each tool
    call's `tool_call.started` and `tool_call.completed` (`ok` unless its result is an error, which skills and
    the turn write as `error: ...`). The model's usage per call is not in the messages: the `turn.completed` that
    follows has the turn's."""
    drafts: list[EventDraft] = []
    calls: dict[str, tuple[str, str]] = {}
    for message in messages:
        if message.get("role") == "assistant":
            made = [
                {"id": c["id"], "name": c["functionName"], "arguments": c["arguments"]}
                for c in message.get("toolCalls") or ()
            ]
            calls.update((c["id"], (c["name"], c["arguments"])) for c in made)
            data: dict[str, Any] = {"content": message.get("content") or "", "toolCalls": made}
            if message.get("truncated"):
                data["truncated"] = True
            drafts.append(EventDraft(MESSAGE_COMPLETED, data))
        elif message.get("role") == "tool":
            call_id = str(message.get("toolCallId") or "")
            name, arguments = calls.get(call_id, ("", ""))
            result = str(message.get("content") or "")
            drafts += [
                tool_started(call_id, name, arguments),
                tool_completed(call_id, name, not result.startswith("error: "), result),
            ]
    return drafts


def final_text(events: Iterable[TurnEvent]) -> str:
    """The reply the deltas spell: the `message.delta` texts after the last `message.reset` and after the last
    message that called tools (a client shows the text of each message; this is the last one's)."""
    text: list[str] = []
    for event in events:
        if event.type == DELTA:
            text.append(str(event.data.get("text", "")))
        elif event.type == RESET or (event.type == MESSAGE_COMPLETED and event.data.get("toolCalls")):
            text = []
    return "".join(text)


def sse_frame(event: TurnEvent) -> bytes:
    """One event as Server-Sent Events: `id`, `event`, `data` (one line of JSON), a blank line."""
    data = json.dumps(event.to_dict(), separators=(",", ":"))
    return f"id: {event.sequence}\nevent: {event.type}\ndata: {data}\n\n".encode()


def sse_comment(text: str = "keep-alive") -> bytes:
    """An SSE comment line (ignored by clients; keeps proxies from closing an idle stream)."""
    return f": {text}\n\n".encode()


def drafts_to_dicts(drafts: Sequence[EventDraft]) -> list[dict[str, Any]]:
    """Durable-payload form of several drafts."""
    return [d.to_dict() for d in drafts]
