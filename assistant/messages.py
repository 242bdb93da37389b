"""Chat messages and tool calls: the values every other room passes around, with their JSON forms."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = ["ROLES", "ChatMessage", "ToolCall", "format_utc", "parse_utc"]

ROLES = ("system", "user", "assistant", "tool")


def format_utc(moment: datetime) -> str:
    """ISO-8601 text of `moment` in UTC with microseconds and a `Z` suffix."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_LEAP_SECOND = re.compile(r"(T\d\d:\d\d):60")


def parse_utc(text: str) -> datetime:
    """Parse ISO-8601 / RFC 3339 text to an aware UTC datetime (naive text counts as UTC); ValueError if it does not parse.

    RFC 3339's lower-case `t`/`z` and leap second (`:60`, read as the last instant of that minute) are accepted;
    a moment outside the years 1-9999 once in UTC is a ValueError too.
    """
    normalized, leap = _LEAP_SECOND.subn(r"\1:59", text.strip().upper())
    moment = datetime.fromisoformat(normalized)
    if leap:
        moment = moment.replace(microsecond=999999)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError as error:
        raise ValueError(f"{text!r} is out of range in UTC") from error


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for."""

    id: str
    """The model's id for the call; tool results answer it and skills use it as an idempotency key."""
    name: str
    """The skill (function) name."""
    arguments: str
    """The arguments as the JSON text the model produced (may be invalid: skills validate it)."""

    def to_dict(self) -> dict[str, Any]:
        """Stored and durable-payload form."""
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolCall:
        """Inverse of `to_dict`."""
        return cls(id=str(data["id"]), name=str(data["name"]), arguments=str(data.get("arguments") or ""))

    def to_openai(self) -> dict[str, Any]:
        """The chat-completions wire form of the call."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat, as stored and as sent to the model."""

    role: str
    """`system`, `user`, `assistant` or `tool`."""
    content: str
    """The text; empty for an assistant message that only carries tool calls."""
    created_at: str = ""
    """When the message was created (ISO-8601 UTC, `format_utc`)."""
    tool_calls: tuple[ToolCall, ...] = field(default_factory=tuple)
    """The calls an assistant message asks for."""
    tool_call_id: str | None = None
    """For a tool message: the call it answers."""
    name: str | None = None
    """For a tool message: the skill that produced it."""
    turn_id: str | None = None
    """The orchestration instance id of the turn that wrote the message (none for the system message)."""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown message role {self.role!r}")

    def to_dict(self) -> dict[str, Any]:
        """Stored and durable-payload form (compact: empty fields are left out)."""
        data: dict[str, Any] = {"role": self.role, "content": self.content, "createdAt": self.created_at}
        if self.tool_calls:
            data["toolCalls"] = [call.to_dict() for call in self.tool_calls]
        if self.tool_call_id is not None:
            data["toolCallId"] = self.tool_call_id
        if self.name is not None:
            data["name"] = self.name
        if self.turn_id is not None:
            data["turnId"] = self.turn_id
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatMessage:
        """Inverse of `to_dict`."""
        return cls(
            role=str(data["role"]),
            content=str(data.get("content") or ""),
            created_at=str(data.get("createdAt") or ""),
            tool_calls=tuple(ToolCall.from_dict(c) for c in data.get("toolCalls") or ()),
            tool_call_id=data.get("toolCallId"),
            name=data.get("name"),
            turn_id=data.get("turnId"),
        )

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

    def to_api(self) -> dict[str, Any]:
        """The public form in `GET /api/chats/{chatId}`'s `recentMessages`."""
        data: dict[str, Any] = {
            "role": self.role,
            "content": self.content,
            "toolCalls": [
                {"id": c.id, "functionName": c.name, "arguments": c.arguments} for c in self.tool_calls
            ],
            "createdAt": self.created_at,
        }
        if self.tool_call_id is not None:
            data["toolCallId"] = self.tool_call_id
        return data
