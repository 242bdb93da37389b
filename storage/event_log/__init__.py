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

`EventWriter` (`writer.py`) is the model call's writer: it appends deltas, coalesced to at most one write per
`COALESCE_SECONDS`, after whatever the log already holds.

Readers poll the table; when a reader and the writer share a process (one worker serving both, as
a single-instance app on Azure does), every write also wakes that process's readers of the turn
at once with what it wrote (`assistant.signals`), so they need no read of storage for it.
"""

from __future__ import annotations

from storage.event_log.reader import LogEnd, log_end, read_events, tail_sequence
from storage.event_log.retention import (
    delete_turn_events,
    forget_chat_events,
    forget_events_before,
    forget_stale_turn_events,
)
from storage.event_log.writer import (
    COALESCE_SECONDS,
    EventWriter,
    append_events,
    end_log,
    insert_events,
    try_insert_events,
)

__all__ = [
    "COALESCE_SECONDS",
    "EventWriter",
    "LogEnd",
    "append_events",
    "delete_turn_events",
    "end_log",
    "forget_chat_events",
    "forget_events_before",
    "forget_stale_turn_events",
    "insert_events",
    "log_end",
    "read_events",
    "tail_sequence",
    "try_insert_events",
]
