"""The chat archive: older messages of each chat, in Table storage.

Table `CHAT_ARCHIVE_TABLE` (default `chatmessages`) of the `AzureWebJobsStorage` account:
PartitionKey = chat id, RowKey = the message's sequence number zero-padded to 10 digits (so a
partition scan returns the chat in order), `createdAt` (fixed-width UTC text, so time filters
run in the table query), `turnId`, and the message's JSON in `d0`, `d1`, ... (Table string
properties hold at most 32K characters). Writes are upserts that replace whole rows in batch
transactions, so a re-run after a crash writes the same rows again and nothing else. Rows with
a sequence number above the entity's `archivedCount` are not (yet) the chat's and are never read;
rows of a batch planned before the chat was reset are undone (`storage.fences`).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from azure.data.tables import TableClient, UpdateMode

from assistant.messages import ChatMessage, format_utc
from assistant.window import ArchiveBatch
from storage.clients import table
from storage.fences import fence_holds
from storage.rows import escape_key, join_chunks, row_key, split_chunks

__all__ = ["DEFAULT_ARCHIVE_TABLE", "forget_archive", "read_archive", "write_archive"]

DEFAULT_ARCHIVE_TABLE = "chatmessages"
_BATCH = 100


def archive_table() -> TableClient:
    """The archive table (created on first use)."""
    return table(os.environ.get("CHAT_ARCHIVE_TABLE", "").strip() or DEFAULT_ARCHIVE_TABLE)


def _row(chat_id: str, seq: int, message: ChatMessage) -> dict[str, Any]:
    text = json.dumps(message.to_dict(), ensure_ascii=False, separators=(",", ":"))
    return {
        "PartitionKey": chat_id,
        "RowKey": row_key(seq),
        "createdAt": message.created_at,
        "turnId": message.turn_id or "",
        **split_chunks(text),
    }


def _message(row: dict[str, Any]) -> ChatMessage:
    return ChatMessage.from_dict(json.loads(join_chunks(row)))


def write_archive(batch: ArchiveBatch) -> int:
    """Upsert the batch's rows (replacing whole rows), in transactions of up to 100; the rows written."""
    client = archive_table()
    operations = [
        ("upsert", _row(batch.chat_id, batch.from_seq + i, m), {"mode": UpdateMode.REPLACE})
        for i, m in enumerate(batch.messages)
    ]
    for start in range(0, len(operations), _BATCH):
        client.submit_transaction(operations[start : start + _BATCH])
    if batch.fence and not fence_holds(batch.chat_id, batch.fence):
        # The chat was reset while this batch was on its way: the fresh chat's archive must not keep these rows.
        deletes = [("delete", {"PartitionKey": op[1]["PartitionKey"], "RowKey": op[1]["RowKey"]}) for op in operations]
        for start in range(0, len(deletes), _BATCH):
            client.submit_transaction(deletes[start : start + _BATCH])
        return 0
    return len(operations)


def read_archive(chat_id: str, upto_seq: int, after: datetime | None = None) -> tuple[ChatMessage, ...]:
    """The chat's archived messages 1..`upto_seq` in order, only those created after `after` (filtered in the query)."""
    if upto_seq <= 0:
        return ()
    query = f"PartitionKey eq '{escape_key(chat_id)}' and RowKey le '{row_key(upto_seq)}'"
    if after is not None:
        query += f" and createdAt gt '{format_utc(after)}'"
    rows = archive_table().query_entities(query)
    return tuple(_message(r) for r in sorted(rows, key=lambda r: r["RowKey"]))


def forget_archive(chat_id: str) -> list[str]:
    """Delete every archived row of the chat; the distinct turn ids they held (their histories can be purged)."""
    client = archive_table()
    rows = list(
        client.query_entities(f"PartitionKey eq '{escape_key(chat_id)}'", select=["PartitionKey", "RowKey", "turnId"])
    )
    for start in range(0, len(rows), _BATCH):
        client.submit_transaction(
            [
                ("delete", {"PartitionKey": r["PartitionKey"], "RowKey": r["RowKey"]})
                for r in rows[start : start + _BATCH]
            ]
        )
    return sorted({r["turnId"] for r in rows if r.get("turnId")})
