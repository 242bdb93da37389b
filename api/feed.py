"""One feed per turn per process: what every reader of the turn's live events in this process reads from.

The readers of one turn in one process (an SSE stream, a resumed stream, a JSON long poll) share one `TurnFeed`:
one task that keeps the turn's events in memory and reads storage for them within a budget, whatever the number
of readers. What it reads:

- Events written in this process arrive with no read (`assistant.signals`: the writer hands them over). Where the
  writers are elsewhere (the normal case on Azure: HTTP and Durable functions scale apart), the feed reads the log
  at most every `READ_EVERY` (0.4 s), and only when nothing arrived here for that long or a gap waits for an event
  written elsewhere; once events arrive with no read, only after `QUIET_SECONDS` without one; while the turn waits
  for a person or for the turn ahead of it, at most every `WAITING_EVERY` (1 s).
- The turn's status, to end the log with `turn.completed` / `turn.failed` from its output when nobody has: when
  this process's orchestrator says the turn ended, once the final answer is in the log, and every `STATUS_EVERY`
  (2 s) while nothing happens. A status read takes a read's place in the same budget: at most 3 storage reads a
  second per turn per process, however many readers. The feed outlives its last reader by `LINGER_SECONDS`, so a
  long poll's next request keeps what it knows and its budget.
- When the log's table fails (refuses or cannot be reached), the feed says so to its readers (`LogUnavailable`) and
  stops; the turn goes on durably (its writers write the log best effort) and its status URL has its outcome.

Readers get events strictly in sequence (`in_order`), waiting for one a parallel writer writes late.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import azure.durable_functions as df

from assistant.events import (
    APPROVAL_REQUIRED,
    MESSAGE_COMPLETED,
    TERMINAL,
    TURN_COMPLETED,
    TURN_QUEUED,
    EventDraft,
    TurnEvent,
    turn_record,
)
from assistant.signals import Watch, signals
from storage.event_log import end_log, read_events, tail_sequence

__all__ = [
    "GAP_SECONDS",
    "LINGER_SECONDS",
    "READ_EVERY",
    "STATUS_EVERY",
    "LogUnavailable",
    "TurnFeed",
    "feed_for",
    "in_order",
    "known_end",
]

log = logging.getLogger(__name__)

READ_EVERY = 0.4
"""The least time between two storage reads of one turn's feed (events or status): at most 2.5 a second, so that a
turn's whole stream, its first and last reads included, stays within 3 a second."""
STATUS_EVERY = 2.0
"""How often the feed asks whether the turn has ended while nothing else says so."""
WAITING_EVERY = 1.0
"""The least time between two reads while the turn waits for a person (its last event `approval.required`) or for
the turn ahead of it (`turn.queued` with a position): an open stream of a waiting turn reads once a second."""
QUIET_SECONDS = 1.0
"""A feed asks for the status on `STATUS_EVERY` only once nothing has arrived for this long; and once events arrive
with no read (their writer is in this process), it reads the log only after this long without one."""
LINGER_SECONDS = 10.0
"""How long a feed outlives its last reader: a long poll's next request, or a stream's reconnection, finds what the
feed knows and its read budget (no second feed for the same turn reading storage from the start)."""
_AFTER_WAKE = (0.01, 0.03, 0.1)
"""Status reads after one that followed this process's orchestrator's word and did not yet show the change (seconds
after the previous read): bounded, and only where the orchestrator runs here."""
GAP_SECONDS = 10.0
"""How long a reader waits for a missing event before it sends the ones after it (see `in_order`)."""


@dataclass(frozen=True)
class LogUnavailable:
    """The turn's event log cannot be read now (what storage said); the turn itself goes on."""

    reason: str


def in_order(
    events: list[TurnEvent], after: int, gap_since: float | None, now: float
) -> tuple[list[TurnEvent], float | None]:
    """The events to send now, and since when a gap holds the rest back (None: no gap).

    Writers run in parallel (two tool calls write their events from two activities), so the log can hold
    event 5 before event 4: a reader sends events strictly in sequence and waits for the missing one. Not
    forever: events are written best effort, so a gap still there after `GAP_SECONDS`, or once the turn's
    terminal event is there (nothing more is being written), is skipped.
    """
    done = any(e.type in TERMINAL for e in events)
    ready: list[TurnEvent] = []
    for event in events:
        if event.sequence > after + 1 and not done:
            gap_since = now if gap_since is None else gap_since
            if now - gap_since < GAP_SECONDS:
                return ready, gap_since
        ready.append(event)
        after, gap_since = event.sequence, None
    return ready, gap_since


class TurnFeed:
    """The turn's events as this process knows them, kept up to date by one task while readers follow it."""

    def __init__(
        self,
        client: df.DurableOrchestrationClient,
        chat_id: str,
        turn_id: str,
        terminal: Callable[[df.DurableOrchestrationClient, str], Awaitable[EventDraft | None]],
    ) -> None:
        self.client = client
        self.chat_id = chat_id
        self.turn_id = turn_id
        self._terminal_of = terminal
        self.events: dict[int, TurnEvent] = {}
        self.failure: LogUnavailable | None = None
        self.readers = 0
        self.reads = 0
        """Storage reads (log queries and status reads) this feed made."""
        self._read_from: int | None = None
        """Read the log after this sequence number at the next read (None: after the last one known)."""
        self._changed = asyncio.Event()
        self._version = 0
        self._watch: Watch | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_read = float("-inf")
        self._last_status = time.monotonic()
        self._last_arrival = time.monotonic()
        self._status_due = False
        self._rechecks: list[float] = []
        """Seconds after the last read at which to read the status again: this process's orchestrator said it
        changed, and the read found no change yet (the host commits the step just after it ran)."""
        self._pushed = False
        """Events arrived here with no read: their writer is in this process."""
        self._linger: asyncio.TimerHandle | None = None

    # -- what readers see -------------------------------------------------------------------------------------------

    @property
    def terminal(self) -> TurnEvent | None:
        """The turn's last event, once known."""
        return next((e for e in self.events.values() if e.type in TERMINAL), None)

    def after(self, sequence: int) -> list[TurnEvent]:
        """The known events after `sequence`, in order."""
        return [self.events[n] for n in sorted(self.events) if n > sequence]

    def need_from(self, sequence: int) -> None:
        """A reader wants what follows `sequence`: read from there if the feed may not hold it."""
        known = min(self.events) if self.events else None
        if known is None or sequence + 1 < known:
            self._read_from = sequence if self._read_from is None else min(self._read_from, sequence)
            self._last_read = float("-inf")
            self._changed.set()

    async def changed(self, version: int, within: float) -> int:
        """Wait (at most `within` seconds) until the feed differs from `version`; the version now."""
        deadline = time.monotonic() + within
        while self._version == version and (left := deadline - time.monotonic()) > 0:
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), left)
            except TimeoutError:
                break
        return self._version

    @property
    def version(self) -> int:
        return self._version

    # -- the task ---------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Follow the turn while it has readers (again, after a pause without any)."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._task is None or (self._task.done() and self.failure is None and self.terminal is None):
            self._watch = signals.watch(self.turn_id)
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"turn-feed-{self.turn_id}")

    def left(self) -> None:
        """Its last reader left: forget the feed after `LINGER_SECONDS` unless another comes."""
        if self._linger is not None:
            self._linger.cancel()
        self._linger = asyncio.get_running_loop().call_later(LINGER_SECONDS, self._forget)

    def _forget(self) -> None:
        self._linger = None
        if self.readers == 0 and _feeds.get(self.turn_id) is self:
            del _feeds[self.turn_id]

    def end(self) -> tuple[int, int | None] | None:
        """(the highest sequence number known, the terminal event's if known) once the feed holds events, else None.
        The log holds at least that much: a number at most the first is in it."""
        if not self.events:
            return None
        terminal = self.terminal
        return max(self.events), terminal.sequence if terminal is not None else None

    def _bump(self) -> None:
        self._version += 1
        old, self._changed = self._changed, asyncio.Event()
        old.set()

    def _merge(self, events: list[TurnEvent]) -> bool:
        fresh = False
        for event in events:
            if event.sequence not in self.events:
                self.events[event.sequence] = event
                fresh = True
        return fresh

    def _final_seen(self) -> bool:
        last = max(self.events) if self.events else None
        event = self.events.get(last) if last is not None else None
        return event is not None and event.type == MESSAGE_COMPLETED and not event.data.get("toolCalls")

    def _gap(self) -> bool:
        if not self.events:
            return False
        numbers = sorted(self.events)
        return numbers[-1] - numbers[0] + 1 != len(numbers)

    async def _run(self) -> None:
        assert self._watch is not None
        try:
            while self.readers > 0 and self.terminal is None and self.failure is None:
                now = time.monotonic()
                every = self._every()
                wait = max(self._last_read + every - now, 0.0) if self._read_wanted(now) else every
                if self._rechecks:
                    wait = min(wait, max(self._last_read + self._rechecks[0] - now, 0.0))
                try:
                    await asyncio.wait_for(self._watch.wake.wait(), wait)
                except TimeoutError:
                    pass
                self._watch.wake.clear()
                pushed, status_changed = self._watch.take()
                now = time.monotonic()
                if pushed and self._merge(pushed):
                    self._last_arrival = now
                    self._pushed = True
                    self._bump()
                if status_changed:
                    self._status_due = True
                # a status change this process's orchestrator announced is read at once (a few per turn at most)
                if self._rechecks and now - self._last_read >= self._rechecks[0]:
                    self._rechecks.pop(0)
                    self._status_due = True
                due = self._status_due or now - self._last_read >= self._every()
                if self.readers > 0 and self._read_wanted(now) and due:
                    await self._read(now)
        except Exception as error:  # storage refused or unreachable: say so, the turn goes on
            log.warning("the event log of turn %s cannot be read: %s", self.turn_id, error)
            self.failure = LogUnavailable(f"{type(error).__name__}: {str(error).splitlines()[0][:200]}")
            self._bump()
        finally:
            signals.unwatch(self._watch)

    def _status_wanted(self, now: float) -> bool:
        quiet = now - self._last_arrival >= QUIET_SECONDS and now - self._last_status >= STATUS_EVERY
        return self._status_due or self._final_seen() or quiet

    def _read_wanted(self, now: float) -> bool:
        if self._read_from is not None or self._status_wanted(now):
            return True
        return now - self._last_arrival >= (QUIET_SECONDS if self._pushed else READ_EVERY) or self._gap()

    def _every(self) -> float:
        """The least time between two reads now: `WAITING_EVERY` while the turn waits for a person or for a turn
        ahead of it (nothing is written until then), else `READ_EVERY`."""
        last = self.events[max(self.events)] if self.events else None
        if last is not None and (
            last.type == APPROVAL_REQUIRED or (last.type == TURN_QUEUED and int(last.data.get("position") or 0) > 0)
        ):
            return WAITING_EVERY
        return READ_EVERY

    async def _read(self, now: float) -> None:
        self._last_read = now
        self.reads += 1
        if self._read_from is None and self._status_wanted(now):
            self._last_status = now
            woken, self._status_due = self._status_due, False
            ended = await self._terminal_of(self.client, self.turn_id)
            if ended is None and woken and not self._rechecks:
                self._rechecks = list(_AFTER_WAKE)
            elif ended is not None:
                self._rechecks = []
                await asyncio.to_thread(self._finish, ended)
                self._bump()
            return
        after = self._read_from if self._read_from is not None else self._contiguous()
        self._read_from = None
        read = await asyncio.to_thread(read_events, self.turn_id, after)
        if self._merge(read):
            self._last_arrival = time.monotonic()
            self._bump()

    def _contiguous(self) -> int:
        """The last sequence number before the first gap (what a read must fetch what follows of)."""
        if not self.events:
            return 0
        numbers = sorted(self.events)
        last = numbers[0] - 1
        for number in numbers:
            if number != last + 1:
                break
            last = number
        return last

    def _finish(self, draft: EventDraft) -> None:
        """End the log with `draft` after the events known, unless it has its last event already (another reader,
        here or elsewhere, may have written it: `end_log` writes only where no event is); what it found or wrote is
        merged."""
        drafts = [draft]
        if not self.events:  # the turn published nothing while it ran: its record from its messages comes first
            start = tail_sequence(self.turn_id) + 1
            if start == 1 and draft.type == TURN_COMPLETED:
                drafts = [*turn_record(draft.data.get("recentMessages") or ()), draft]
        else:
            start = max(self.events) + 1
        self._merge(end_log(self.turn_id, self.chat_id, start, drafts))


_feeds: dict[str, TurnFeed] = {}


def known_end(turn_id: str) -> tuple[int, int | None] | None:
    """Where the turn's log ends, when this process's feed of it knows (`TurnFeed.end`), else None."""
    feed = _feeds.get(turn_id)
    return feed.end() if feed is not None else None


def feed_for(
    client: df.DurableOrchestrationClient,
    chat_id: str,
    turn_id: str,
    terminal: Callable[[df.DurableOrchestrationClient, str], Awaitable[EventDraft | None]],
) -> TurnFeed:
    """This process's feed of the turn (made on first use; gone when its last reader leaves)."""
    feed = _feeds.get(turn_id)
    if feed is None or (feed._task is not None and feed._task.done()):
        feed = _feeds[turn_id] = TurnFeed(client, chat_id, turn_id, terminal)
    return feed


async def follow(
    feed: TurnFeed, after: int, wait_seconds: float | None = None, keep_alive: float = 15.0
) -> AsyncIterator[TurnEvent | LogUnavailable | None]:
    """The turn's events after `after`, in order, until its terminal event; `None` every `keep_alive` seconds without
    one; a `LogUnavailable` (then nothing more) when the log cannot be read. With `wait_seconds`: stop once at least
    one event was given, or after that long."""
    feed.readers += 1
    feed.need_from(after)
    feed.start()
    started = last_given = time.monotonic()
    gap_since: float | None = None
    given = False
    try:
        while True:
            version = feed.version
            now = time.monotonic()
            ready, gap_since = in_order(feed.after(after), after, gap_since, now)
            for event in ready:
                yield event
                after = event.sequence
                given = True
                last_given = time.monotonic()
                if event.type in TERMINAL:
                    return
            if feed.failure is not None:
                yield feed.failure
                return
            if wait_seconds is not None and (given or now - started >= wait_seconds):
                return
            if now - last_given >= keep_alive:
                last_given = now
                yield None
            limit = keep_alive - (now - last_given)
            if wait_seconds is not None:
                limit = min(limit, wait_seconds - (now - started))
            if gap_since is not None:
                limit = min(limit, GAP_SECONDS - (now - gap_since))
            await feed.changed(version, max(limit, 0.01))
    finally:
        feed.readers -= 1
        if feed.readers == 0:
            feed.left()
