"""Writing a turn's events: inserts that never replace, and the model call's writer that coalesces deltas."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from azure.core.exceptions import AzureError, ResourceExistsError

from assistant.events import DELTA, RESET, TERMINAL, EventDraft, TurnEvent
from assistant.signals import signals
from storage.event_log.reader import read_events
from storage.event_log.rows import event_rows, events_table, row_events

__all__ = ["COALESCE_SECONDS", "EventWriter", "append_events", "end_log", "insert_events", "try_insert_events"]

log = logging.getLogger(__name__)

_END_ATTEMPTS = 3
"""How often `end_log` tries a later number when events keep arriving where it writes."""
COALESCE_SECONDS = 0.04
"""Deltas within this long of the last write go out together in the next one."""


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
    written: list[TurnEvent] = []
    for row in event_rows(turn_id, chat_id, start, drafts, together):
        try:
            client.create_entity(row)
        except ResourceExistsError:
            fresh = False  # written by an earlier run of the same step: it stays (readers read what is there)
            if row.get("count"):
                first = int(row["RowKey"])
                insert_events(turn_id, chat_id, first + 1, drafts[first + 1 - start : first + row["count"] - start])
        else:
            written.extend(row_events(row))
    if written and signals.watched(turn_id):
        signals.publish(turn_id, written)  # this process's readers get them without reading storage
    return fresh


def try_insert_events(
    turn_id: str, chat_id: str, start: int, drafts: Sequence[EventDraft], together: bool = False
) -> bool | None:
    """`insert_events` for a writer to whom the live log is best effort: None when the log's table refused or could
    not be reached (logged; the turn goes on, its outcome is durable without the log), else what it returned."""
    try:
        return insert_events(turn_id, chat_id, start, drafts, together)
    except AzureError as error:
        log.warning("turn %s: the event log refused events %d+: %s", turn_id, start, str(error).splitlines()[0][:200])
        return None


def append_events(turn_id: str, chat_id: str, start: int, drafts: Sequence[EventDraft]) -> int:
    """Insert `drafts` at sequence numbers `start`, `start + 1`, ... (each kept if already there); the last number
    used."""
    insert_events(turn_id, chat_id, start, drafts)
    return start + len(drafts) - 1


def end_log(turn_id: str, chat_id: str, start: int, drafts: Sequence[EventDraft]) -> list[TurnEvent]:
    """Write the turn's last events (`drafts`, its terminal event last) at `start`, or after the events found there,
    unless one of those is a last event already (another reader ended the log first); the events from `start` on as
    stored. One insert per row when `start` is free (events grouped as `insert_events` groups them), a read when it
    was taken."""
    found: list[TurnEvent] = []
    for _ in range(_END_ATTEMPTS):
        written: list[TurnEvent] = []
        for index, row in enumerate(event_rows(turn_id, chat_id, start, drafts, True)):
            try:
                events_table().create_entity(row)
            except ResourceExistsError:
                more = read_events(turn_id, start - 1)
                if index or not more or any(e.type in TERMINAL for e in more):
                    return found + (more if index == 0 else [e for e in more if e.sequence >= start])
                found += more
                start = more[-1].sequence + 1
                break
            written += row_events(row)
        else:
            if written and signals.watched(turn_id):
                signals.publish(turn_id, written)
            return found + written
    return found


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
        self.broken = False
        """The log refused a write: this writer writes nothing more (the model call goes on; the log is best
        effort, the turn's outcome is durable without it)."""

    @property
    def last_sequence(self) -> int:
        """The sequence number of the last event written."""
        return self.next_sequence - 1

    def put(self, drafts: Sequence[EventDraft]) -> None:
        """Append `drafts` now, pending deltas first (in the same write)."""
        self._write([*self._take_pending(), *drafts])

    def _write(self, drafts: Sequence[EventDraft]) -> None:
        if drafts:
            if not self.broken:
                self.broken = not try_insert_events(
                    self.turn_id, self.chat_id, self.next_sequence, drafts, together=True
                )
            self.next_sequence += len(drafts)  # numbered as if written: the turn's numbering does not move
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
