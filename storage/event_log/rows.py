"""The turn event log's table and its rows: one event per row, or up to `GROUP` consecutive events in one."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import TableClient

from assistant.events import EventDraft, TurnEvent
from assistant.messages import format_utc
from storage.clients import table
from storage.rows import join_chunks, row_key, split_chunks

__all__ = ["DEFAULT_EVENTS_TABLE", "GROUP", "GROUP_CHARS", "event_rows", "events_table", "row_events"]

DEFAULT_EVENTS_TABLE = "turnevents"
GROUP = 4
"""At most this many consecutive events in one row (a reader looks this far back for a row holding `after + 1`)."""
GROUP_CHARS = 200_000
"""Events are grouped in one row only while their JSON stays this short (a row holds at most 1 MiB)."""


def events_table() -> TableClient:
    """The event log's table (created on first use)."""
    return table(os.environ.get("TURN_EVENTS_TABLE", "").strip() or DEFAULT_EVENTS_TABLE, live=True)


def _now() -> str:
    return format_utc(datetime.now(UTC))


def row_events(row: dict[str, Any]) -> list[TurnEvent]:
    """The events a row holds: one (its `type` and data), or `count` consecutive ones (a JSON list of them)."""
    first, turn_id = int(row["RowKey"]), str(row["PartitionKey"])
    chat_id, created_at = str(row["chatId"]), str(row["createdAt"])
    payload = json.loads(join_chunks(row) or "{}")
    if not row.get("count"):
        return [
            TurnEvent(
                sequence=first,
                type=str(row["type"]),
                turn_id=turn_id,
                chat_id=chat_id,
                created_at=created_at,
                data=payload,
            )
        ]
    return [
        TurnEvent(
            sequence=first + i,
            type=str(item["type"]),
            turn_id=turn_id,
            chat_id=chat_id,
            created_at=created_at,
            data=item.get("data") or {},
        )
        for i, item in enumerate(payload)
    ]


def event_rows(
    turn_id: str, chat_id: str, start: int, drafts: Sequence[EventDraft], together: bool
) -> list[dict[str, Any]]:
    """Rows for `drafts` from sequence number `start`: one each, or (`together`) up to `GROUP` per row while
    their JSON stays under `GROUP_CHARS` (a row holds at most 1 MiB)."""
    stamp = _now()
    texts = [json.dumps(d.data, ensure_ascii=False, separators=(",", ":")) for d in drafts]
    parts: list[range] = []
    for index, text in enumerate(texts):
        last = parts[-1] if parts else None
        if (
            together
            and last is not None
            and len(last) < GROUP
            and sum(len(texts[i]) for i in last) + len(text) <= GROUP_CHARS
        ):
            parts[-1] = range(last.start, index + 1)
        else:
            parts.append(range(index, index + 1))
    rows = []
    for part in parts:
        row: dict[str, Any] = {
            "PartitionKey": turn_id,
            "RowKey": row_key(start + part.start),
            "chatId": chat_id,
            "createdAt": stamp,
        }
        if len(part) == 1:
            row["type"], payload = drafts[part.start].type, texts[part.start]
        else:
            row["type"], row["count"] = "+".join(drafts[i].type for i in part), len(part)
            payload = "[" + ",".join(f'{{"type":{json.dumps(drafts[i].type)},"data":{texts[i]}}}' for i in part) + "]"
        rows.append({**row, **split_chunks(payload)})
    return rows
