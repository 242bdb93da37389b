"""The turn event log: every turn's events in Azure Table storage, shared by every instance that serves the turn.

Table `TURN_EVENTS_TABLE` (default `turnevents`) of the `AzureWebJobsStorage` account: one
partition per turn (PartitionKey = the turn's instance id, see `assistant/ids.py`),
RowKey = the event's sequence number zero-padded to 10 digits (a partition scan is in order),
`type`, `chatId`, `createdAt`, and the event's own fields as JSON in `d0`, `d1`, ...; or, for up to
`GROUP` consecutive events written at once (a model call's preface; its last text with its
`message.completed`), one row at the first one's sequence number with `count` and the events as a
JSON list (one insert instead of several: inserts are the log's cost). Writes are
inserts that never replace: an event already at its sequence number (written by an earlier run of
the same activity, after a crash) stays as it was, so a re-run can neither duplicate nor reorder
what a client may already have read. Which writer owns which sequence numbers is decided by the
turn orchestrator (see `assistant/events.py` and docs/assistant.md).

`EventWriter` is the model call's writer: it appends deltas, coalesced to at most one write per
`COALESCE_SECONDS`, after whatever the log already holds.

Readers poll the table; when a reader and the writer share a process (one worker serving both, as
a single-instance app on Azure does), every write also wakes that process's readers of the turn
at once (`signals`), so they read without waiting for their next poll.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient

from assistant.events import DELTA, RESET, TERMINAL, EventDraft, TurnEvent
from assistant.ids import chat_turns_range
from assistant.messages import format_utc
from skills.storage import escape_key, join_chunks, row_key, split_chunks, table

__all__ = [
    "COALESCE_SECONDS",
    "DEFAULT_EVENTS_TABLE",
    "PUBLISH_ACTIVITY",
    "EventWriter",
    "LogEnd",
    "append_events",
    "bp",
    "delete_turn_events",
    "events_table",
    "forget_chat_events",
    "forget_events_before",
    "forget_stale_turn_events",
    "insert_events",
    "log_end",
    "read_events",
    "signals",
    "tail_sequence",
]

DEFAULT_EVENTS_TABLE = "turnevents"
PUBLISH_ACTIVITY = "publish_turn_events"
COALESCE_SECONDS = 0.04
"""Deltas within this long of the last write go out together in the next one."""
_BATCH = 100
GROUP = 4
"""At most this many consecutive events in one row (a reader looks this far back for a row holding `after + 1`)."""
GROUP_CHARS = 200_000
"""Events are grouped in one row only while their JSON stays this short (a row holds at most 1 MiB)."""

bp = df.Blueprint()


class TurnSignals:
    """Wakes this process's readers of a turn when an event of it is written here (any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchers: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def watch(self, turn_id: str) -> asyncio.Event:
        """An event set whenever the turn's log gets a write in this process (`unwatch` it when done)."""
        event = asyncio.Event()
        with self._lock:
            self._watchers.setdefault(turn_id, []).append((asyncio.get_running_loop(), event))
        return event

    def unwatch(self, turn_id: str, event: asyncio.Event) -> None:
        with self._lock:
            watchers = [w for w in self._watchers.get(turn_id, []) if w[1] is not event]
            if watchers:
                self._watchers[turn_id] = watchers
            else:
                self._watchers.pop(turn_id, None)

    def notify(self, turn_id: str) -> None:
        with self._lock:
            watchers = list(self._watchers.get(turn_id, ()))
        for loop, event in watchers:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                pass


signals = TurnSignals()
"""The process's turn signals."""


def events_table() -> TableClient:
    """The event log's table (created on first use)."""
    return table(os.environ.get("TURN_EVENTS_TABLE", "").strip() or DEFAULT_EVENTS_TABLE)


def _now() -> str:
    return format_utc(datetime.now(UTC))


def _row_events(row: dict[str, Any]) -> list[TurnEvent]:
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


def _rows(turn_id: str, chat_id: str, start: int, drafts: Sequence[EventDraft], together: bool) -> list[dict[str, Any]]:
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


def insert_events(turn_id: str, chat_id: str, start: int, drafts: Sequence[EventDraft], together: bool = False) -> bool:
    """Insert `drafts` at sequence numbers `start`, `start + 1`, ...; True if none was there before.

    `together` puts up to `GROUP` consecutive events in one row (one insert: each insert costs ~1.3 ms of
    the worker's CPU in the SDK; an entity-group transaction would be one round trip too, but the SDK builds
    its multipart body at ~3.5x the CPU of two single inserts; py-spy, docs/performance.md). An event
    already at its sequence number (written by an earlier run of the same step) stays as it was: when a row
    of several events finds its first sequence number taken, its events are inserted one by one instead,
    and readers keep, for each sequence number, the event of the row that starts first.
    """
    client = events_table()
    fresh = True
    for row in _rows(turn_id, chat_id, start, drafts, together):
        try:
            client.create_entity(row)
        except ResourceExistsError:
            fresh = False  # written by an earlier run of the same step: it stays
            if row.get("count"):
                first = int(row["RowKey"])
                insert_events(turn_id, chat_id, first + 1, drafts[first + 1 - start : first + row["count"] - start])
    if drafts:
        signals.notify(turn_id)
    return fresh


def append_events(turn_id: str, chat_id: str, start: int, drafts: Sequence[EventDraft]) -> int:
    """Insert `drafts` at sequence numbers `start`, `start + 1`, ... (each kept if already there); the last number
    used."""
    insert_events(turn_id, chat_id, start, drafts)
    return start + len(drafts) - 1


def read_events(turn_id: str, after: int = 0) -> list[TurnEvent]:
    """The turn's events with sequence numbers above `after`, in order (rows that start up to `GROUP - 1`
    before `after + 1` are read too: they may hold some)."""
    low = max(after - GROUP + 1, 0)
    query = f"PartitionKey eq '{escape_key(turn_id)}' and RowKey gt '{row_key(low)}'"
    rows = sorted(events_table().query_entities(query), key=lambda r: str(r["RowKey"]))
    events: dict[int, TurnEvent] = {}
    for row in rows:
        for event in _row_events(row):
            if event.sequence > after:
                events.setdefault(event.sequence, event)
    return [events[n] for n in sorted(events)]


@dataclass(frozen=True)
class LogEnd:
    """Where a turn's log ends: its highest sequence number, and the terminal event's (None: not written yet)."""

    last: int
    terminal: int | None


def log_end(turn_id: str) -> LogEnd:
    """Where the turn's log ends (one query reading only the rows' keys, counts and types)."""
    rows = events_table().query_entities(f"PartitionKey eq '{escape_key(turn_id)}'", select=["RowKey", "count", "type"])
    last, terminal = 0, None
    for row in rows:
        first = int(row["RowKey"])
        types = str(row.get("type") or "").split("+")
        last = max(last, first + len(types) - 1)
        for offset, kind in enumerate(types):
            if kind in TERMINAL:
                terminal = first + offset if terminal is None else min(terminal, first + offset)
    return LogEnd(last=last, terminal=terminal)


def tail_sequence(turn_id: str) -> int:
    """The highest sequence number in the turn's log (0 when empty)."""
    rows = events_table().query_entities(f"PartitionKey eq '{escape_key(turn_id)}'", select=["RowKey", "count"])
    return max((int(r["RowKey"]) + int(r.get("count") or 1) - 1 for r in rows), default=0)


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


class EventWriter:
    """Appends one model call's events to a turn's log, after what is there, deltas coalesced."""

    def __init__(
        self,
        turn_id: str,
        chat_id: str,
        next_sequence: int,
        clock: Callable[[], float] = time.monotonic,
        last_write: float | None = None,
    ) -> None:
        self.turn_id = turn_id
        self.chat_id = chat_id
        self.next_sequence = next_sequence
        self._clock = clock
        self._pending: list[str] = []
        self._last_write = clock() if last_write is None else last_write
        self.streamed = ""
        """The text written as deltas since this writer began (or since its last reset)."""

    @property
    def last_sequence(self) -> int:
        """The sequence number of the last event written."""
        return self.next_sequence - 1

    def put(self, drafts: Sequence[EventDraft]) -> None:
        """Append `drafts` now, pending deltas first (in the same write)."""
        self._write([*self._take_pending(), *drafts])

    def _write(self, drafts: Sequence[EventDraft]) -> None:
        if drafts:
            insert_events(self.turn_id, self.chat_id, self.next_sequence, drafts, together=True)
            self.next_sequence += len(drafts)
            self._last_write = self._clock()

    def delta(self, text: str, write: bool = True) -> None:
        """The model wrote `text`: it goes out with the next write, at most `COALESCE_SECONDS` from the last
        (`write=False`: not yet, more has arrived; `write_due` then writes it if it is due)."""
        if text:
            self._pending.append(text)
        if write:
            self.write_due()

    def write_due(self) -> None:
        """Write the pending deltas if `COALESCE_SECONDS` have passed since the last write."""
        if self._pending and self._clock() - self._last_write >= COALESCE_SECONDS:
            self.flush()

    def flush_due(self) -> float | None:
        """Seconds until the pending deltas are due (None: nothing pending)."""
        if not self._pending:
            return None
        return max(COALESCE_SECONDS - (self._clock() - self._last_write), 0.0)

    def _take_pending(self) -> list[EventDraft]:
        """The pending deltas as one event (now counted as streamed), or nothing."""
        if not self._pending:
            return []
        text = "".join(self._pending)
        self._pending = []
        self.streamed += text
        return [EventDraft(DELTA, {"text": text})]

    def flush(self) -> None:
        """Write the pending deltas as one event."""
        self._write(self._take_pending())

    def reset(self, attempt: int) -> None:
        """The model call starts again: what was streamed is void."""
        self._pending = []
        self.streamed = ""
        self._write([EventDraft(RESET, {"attempt": attempt})])

    def finish_text(self, content: str, attempt: int) -> None:
        """Make the deltas spell `content` exactly (the final text may differ from the stream: cut to the bound).

        What is left to write stays pending: it goes out with the next `put` (the call's `message.completed`)
        in one write, or with `flush`.
        """
        sent = self.streamed + "".join(self._pending)
        if content.startswith(sent):
            rest = content[len(sent) :]
            if rest:
                self._pending.append(rest)
            return
        self.reset(attempt)
        self._pending.append(content)


@bp.function_name(name=PUBLISH_ACTIVITY)
@bp.activity_trigger(input_name="request")
def publish_turn_events(request: Any) -> int:
    """Activity: append `{"turnId", "chatId", "start", "events": [drafts]}` to the log; the last sequence number."""
    payload = json.loads(request) if isinstance(request, str) else request
    drafts = [EventDraft.from_dict(d) for d in payload["events"]]
    return append_events(str(payload["turnId"]), str(payload["chatId"]), int(payload["start"]), drafts)
