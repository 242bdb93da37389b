"""Chat messages and tool calls: the values every other room passes around, with their JSON forms."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, overload

from pydantic import BeforeValidator, PlainSerializer

from assistant.wire import omit_default, wire

__all__ = [
    "ROLES",
    "ChatMessage",
    "Messages",
    "StoredMessages",
    "Text",
    "ToolCall",
    "format_utc",
    "message_dicts",
    "parse_utc",
]

ROLES = ("system", "user", "assistant", "tool")
Role = Literal["system", "user", "assistant", "tool"]
Text = Annotated[str, BeforeValidator(lambda value: "" if value is None else value)]
"""A text field where a stored `null` reads as empty."""


def format_utc(moment: datetime) -> str:
    """ISO-8601 text of `moment` in UTC with microseconds and a `Z` suffix."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_LEAP_SECOND = re.compile(r"(T\d\d:\d\d):60")


def parse_utc(text: str) -> datetime:
    """Parse ISO-8601 / RFC 3339 text to an aware UTC datetime (naive text counts as UTC); ValueError if it does not
    parse.

    RFC 3339's lower-case `t`/`z` and leap second (`:60`, read as the last instant of that minute) are accepted;
    a moment outside the years 1-9999 once in UTC is a ValueError too.
    """
    normalized, leap = _LEAP_SECOND.subn(r"\1:59", text.strip().upper())
    moment = datetime.fromisoformat(normalized)
    if leap:
        moment = moment.replace(microsecond=999999)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as error:
        raise ValueError(f"{text!r} is out of range in UTC") from error


@wire
class ToolCall:
    """One function call the model asked for."""

    id: str
    """The model's id for the call; tool results answer it and skills use it as an idempotency key."""
    name: str
    """The skill (function) name."""
    arguments: Text = ""
    """The arguments as the JSON text the model produced (may be invalid: skills validate it)."""

    def to_openai(self) -> dict[str, Any]:
        """The chat-completions wire form of the call."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@wire
class ChatMessage:
    """One message of a chat, as stored and as sent to the model (stored form: empty fields are left out)."""

    role: Role
    """`system`, `user`, `assistant` or `tool`."""
    content: Text = ""
    """The text; empty for an assistant message that only carries tool calls."""
    created_at: Text = ""
    """When the message was created (ISO-8601 UTC, `format_utc`)."""
    tool_calls: tuple[ToolCall, ...] = omit_default(())
    """The calls an assistant message asks for."""
    tool_call_id: str | None = omit_default()
    """For a tool message: the call it answers."""
    name: str | None = omit_default()
    """For a tool message: the skill that produced it."""
    turn_id: str | None = omit_default()
    """The orchestration instance id of the turn that wrote the message (none for the system message)."""
    truncated: bool = omit_default(False)
    """An assistant message the model stopped writing at its token limit (`finish_reason: length`)."""

    def to_openai(self) -> dict[str, Any]:
        """The chat-completions wire form of the message."""
        if self.role == "tool":
            return {"role": "tool", "tool_call_id": self.tool_call_id or "", "content": self.content}
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [call.to_openai() for call in self.tool_calls]
            if not self.content:
                message["content"] = None
        return message


class StoredMessages(Sequence[ChatMessage]):
    """An immutable sequence of messages kept in their stored (`to_dict`) form, each parsed when first read.

    A chat's working window crosses several durable boundaries in every turn (the chat entity's
    state, the turn's start, the model request), and at most of them it is only passed on: kept as
    dicts, it is neither rebuilt message by message nor encoded again at each one. Slicing and `+`
    stay in stored form; indexing and iteration give `ChatMessage`s.
    """

    __slots__ = ("_parsed", "_raw")

    def __init__(self, stored: Iterable[dict[str, Any]] = ()) -> None:
        self._raw: tuple[dict[str, Any], ...] = tuple(stored)
        self._parsed: dict[int, ChatMessage] = {}

    @classmethod
    def of(cls, messages: Iterable[ChatMessage] | StoredMessages) -> StoredMessages:
        """`messages` as a `StoredMessages` (itself when it already is one)."""
        if isinstance(messages, StoredMessages):
            return messages
        return cls(m.to_dict() for m in messages)

    def to_dicts(self) -> list[dict[str, Any]]:
        """The stored form of every message."""
        return list(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> ChatMessage: ...

    @overload
    def __getitem__(self, index: slice) -> StoredMessages: ...

    def __getitem__(self, index: int | slice) -> ChatMessage | StoredMessages:
        if isinstance(index, slice):
            return StoredMessages(self._raw[index])
        if index < 0:
            index += len(self._raw)
        message = self._parsed.get(index)
        if message is None:
            message = ChatMessage.from_dict(self._raw[index])  # IndexError when out of range
            self._parsed[index] = message
        return message

    def __iter__(self) -> Iterator[ChatMessage]:
        for index in range(len(self._raw)):
            yield self[index]

    def __add__(self, other: object) -> StoredMessages:
        if isinstance(other, StoredMessages):
            return StoredMessages(self._raw + other._raw)
        if isinstance(other, (tuple, list)):
            return StoredMessages(self._raw + tuple(m.to_dict() for m in other))
        return NotImplemented

    def __radd__(self, other: object) -> StoredMessages:
        if isinstance(other, (tuple, list)):
            return StoredMessages(tuple(m.to_dict() for m in other) + self._raw)
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StoredMessages):
            return self._raw == other._raw or tuple(self) == tuple(other)
        if isinstance(other, (tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"StoredMessages({list(self)!r})"


def _stored(value: Any) -> StoredMessages:
    """A `StoredMessages` from what a payload holds: itself, stored dicts, or messages."""
    if isinstance(value, StoredMessages):
        return value
    items = tuple(value or ())
    if all(isinstance(item, dict) for item in items):
        return StoredMessages(items)
    return StoredMessages(m if isinstance(m, dict) else m.to_dict() for m in items)


Messages = Annotated[
    StoredMessages,
    BeforeValidator(_stored),
    PlainSerializer(lambda messages: messages.to_dicts(), return_type=list[dict[str, Any]]),
]
"""A payload field of messages kept in stored form (read without parsing them; written as they were)."""


def message_dicts(messages: Iterable[ChatMessage]) -> list[dict[str, Any]]:
    """The stored form of `messages` (without re-encoding what is already stored)."""
    if isinstance(messages, StoredMessages):
        return messages.to_dicts()
    return [m.to_dict() for m in messages]
