"""Chat generation marks: what fences off a reset chat from the late writes of a turn of its old self.

Table `CHAT_FENCE_TABLE` (default `chatfences`): one row per chat (PartitionKey = the chat, RowKey = `generation`)
holding the generation the chat is now. A reset or delete marks the new generation before it wipes the chat's
data; a write of a turn checks the mark after writing and undoes itself when the generation moved on
(docs/assistant.md, "Reset and delete").
"""

from __future__ import annotations

import os

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from storage.clients import table

__all__ = ["DEFAULT_FENCE_TABLE", "fence_holds", "set_fence"]

DEFAULT_FENCE_TABLE = "chatfences"
_FENCE_ROW = "generation"


def _fence_table() -> TableClient:
    """The chats' generation markers (`CHAT_FENCE_TABLE`, default `chatfences`)."""
    return table(os.environ.get("CHAT_FENCE_TABLE", "").strip() or DEFAULT_FENCE_TABLE)


def set_fence(chat_id: str, generation: str) -> None:
    """Mark `generation` as the chat's current one (on create or reset; a delete sets a tombstone generation).

    Set BEFORE the chat's old data is wiped: a write of an older generation that lands before this is wiped,
    and one that lands after it sees the new marker and undoes itself (`fence_holds`)."""
    _fence_table().upsert_entity({"PartitionKey": chat_id, "RowKey": _FENCE_ROW, "generation": generation})


def fence_holds(chat_id: str, generation: str) -> bool:
    """Whether `generation` is still the chat's (checked AFTER a write: False means undo it). A chat with no marker
    was created before markers existed and has not been reset since: anything holds."""
    try:
        row = _fence_table().get_entity(chat_id, _FENCE_ROW)
    except ResourceNotFoundError:
        return True
    return str(row.get("generation") or "") == generation
