"""Deleting turn event logs: one turn's (run again), a chat's (on DELETE), a purged turn's leftovers, and everything
past the retention."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import TableClient

from assistant.ids import chat_turns_range
from assistant.messages import format_utc
from storage.event_log.rows import events_table
from storage.rows import escape_key

__all__ = ["delete_turn_events", "forget_chat_events", "forget_events_before", "forget_stale_turn_events"]

_BATCH = 100


def _delete(client: TableClient, rows: Iterable[dict[str, Any]]) -> int:
    by_partition: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_partition.setdefault(str(row["PartitionKey"]), []).append(row)
    deleted = 0
    for partition, items in by_partition.items():
        for start in range(0, len(items), _BATCH):
            batch = items[start : start + _BATCH]
            client.submit_transaction([("delete", {"PartitionKey": partition, "RowKey": r["RowKey"]}) for r in batch])
            deleted += len(batch)
    return deleted


def delete_turn_events(turn_id: str) -> int:
    """Delete one turn's log (a failed turn run again starts a fresh one); rows deleted."""
    client = events_table()
    return _delete(
        client, client.query_entities(f"PartitionKey eq '{escape_key(turn_id)}'", select=["PartitionKey", "RowKey"])
    )


def forget_stale_turn_events(turn_id: str, before: datetime) -> int:
    """Delete what a turn's log holds from before `before`: the log of an earlier turn with the same id (an
    `Idempotency-Key` reused after its turn was purged), never rows of a run that started after `before`; rows
    deleted (one query, usually finding nothing)."""
    client = events_table()
    stamp = format_utc(before)
    query = f"PartitionKey eq '{escape_key(turn_id)}' and createdAt lt '{stamp}'"
    return _delete(client, client.query_entities(query, select=["PartitionKey", "RowKey"]))


def forget_chat_events(chat_id: str) -> int:
    """Delete the logs of every turn of the chat (its turn ids are one key range, `assistant.ids.chat_turns_range`;
    the chat id column tells apart two chats whose digests would share it); rows deleted."""
    client = events_table()
    low, high = chat_turns_range(chat_id)
    query = (
        f"PartitionKey ge '{escape_key(low)}' and PartitionKey lt '{escape_key(high)}' "
        f"and chatId eq '{escape_key(chat_id)}'"
    )
    return _delete(client, client.query_entities(query, select=["PartitionKey", "RowKey"]))


def forget_events_before(cutoff: datetime) -> int:
    """Delete every event written before `cutoff` (the retention of finished turns); rows deleted."""
    client = events_table()
    stamp = cutoff.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return _delete(client, client.query_entities(f"createdAt lt '{stamp}'", select=["PartitionKey", "RowKey"]))
