"""The chat entity's working window: which old messages move to the archive, and dropping them once archived.

The entity keeps the system message and the newest messages; when more than `working_messages`
follow the system message, the oldest whole turns beyond the newest `working_messages // 2`
become an `ArchiveBatch`. The turn orchestration hands the batch to the `archive_messages`
activity (idempotent upserts into Table storage) and then tells the entity `archived`, which
drops them from the window. Sequence numbers are contiguous (the system message is 0), so the
entity's `archived_count` says exactly which archive rows belong to the chat. `generation` (the
chat's `created_at`) keeps a batch planned before a reset from touching the fresh chat.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from assistant.messages import ChatMessage, message_dicts
from assistant.state import ChatState

__all__ = ["ArchiveBatch", "apply_archived", "plan_archive"]


@dataclass(frozen=True)
class ArchiveBatch:
    """Messages of one chat to write to the archive (the `archive_messages` activity's input)."""

    chat_id: str
    generation: str
    """The chat's `created_at` when planned."""
    from_seq: int
    """Sequence number of the first message."""
    messages: tuple[ChatMessage, ...]

    @property
    def upto_seq(self) -> int:
        """Sequence number of the last message."""
        return self.from_seq + len(self.messages) - 1

    def to_dict(self) -> dict[str, Any]:
        """Durable-payload form."""
        return {
            "chatId": self.chat_id,
            "generation": self.generation,
            "fromSeq": self.from_seq,
            "messages": message_dicts(self.messages),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchiveBatch:
        """Inverse of `to_dict`."""
        return cls(
            chat_id=str(data["chatId"]),
            generation=str(data["generation"]),
            from_seq=int(data["fromSeq"]),
            messages=tuple(ChatMessage.from_dict(m) for m in data["messages"]),
        )


def plan_archive(state: ChatState, working_messages: int) -> ArchiveBatch | None:
    """The oldest whole turns to archive when the window holds more than `working_messages`, else None."""
    rest = state.messages[1:]
    if len(rest) <= working_messages:
        return None
    keep_target = max(working_messages // 2, 1)
    cut = len(rest)
    # Walk back over whole turns (runs of one turn_id) while they fit the target; keep at least one turn.
    while cut > 0:
        start = cut - 1
        while start > 0 and rest[start - 1].turn_id == rest[cut - 1].turn_id:
            start -= 1
        if cut != len(rest) and len(rest) - start > keep_target:
            break
        cut = start
    if cut == 0:
        return None
    return ArchiveBatch(
        chat_id=state.chat_id, generation=state.created_at, from_seq=state.archived_count + 1, messages=tuple(rest[:cut])
    )


def apply_archived(state: ChatState, generation: str, upto_seq: int) -> ChatState:
    """`state` without the window's messages up to sequence number `upto_seq` (now in the archive)."""
    if generation != state.created_at or upto_seq <= state.archived_count:
        return state
    drop = min(upto_seq - state.archived_count, len(state.messages) - 1)
    return replace(state, messages=state.messages[:1] + state.messages[1 + drop :], archived_count=state.archived_count + drop)
