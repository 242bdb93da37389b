"""Reading a turn's events: after a sequence number, in order; where the log ends."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.events import TERMINAL, TurnEvent
from storage.event_log.rows import GROUP, events_table, row_events
from storage.rows import escape_key, row_key

__all__ = ["LogEnd", "log_end", "read_events", "tail_sequence"]


def read_events(turn_id: str, after: int = 0) -> list[TurnEvent]:
    """The turn's events with sequence numbers above `after`, in order (rows that start up to `GROUP - 1`
    before `after + 1` are read too: they may hold some)."""
    low = max(after - GROUP + 1, 0)
    query = f"PartitionKey eq '{escape_key(turn_id)}' and RowKey gt '{row_key(low)}'"
    rows = sorted(events_table().query_entities(query), key=lambda r: str(r["RowKey"]))
    events: dict[int, TurnEvent] = {}
    for row in rows:
        for event in row_events(row):
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
