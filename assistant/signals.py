"""Wake, don't poll: what a turn's writers in this process tell its readers in this process.

A turn's events are written by its activities (the model call, the skills) and its end by its orchestrator; they are
read by the HTTP functions following the turn (a stream, a long poll, a waiting POST). Where a writer and a reader
share a process (one worker serving both, as a single-instance app on Azure does, and devhost with one worker), the
writer hands the reader what it wrote, at once and with no storage read: `publish` the events it inserted (with
their sequence numbers), `finished` when the turn's status changed in a way a waiting reader wants to see (its
output, its early output, a wait for a person). Where they do not share a process (the normal case on Azure, where
HTTP and Durable functions scale apart) nothing arrives here and readers poll storage within their budget.

Writers may be on any thread; readers are on an event loop: a `Watch` collects what arrives for one turn until its
reader takes it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable

from assistant.events import TurnEvent
from assistant.settings import assistant_settings

__all__ = ["TurnSignals", "Watch", "signals"]


class Watch:
    """What has arrived for one turn since its reader last looked: events, and whether its status changed."""

    def __init__(self, turn_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.turn_id = turn_id
        self.loop = loop
        self.wake = asyncio.Event()
        """Set whenever something arrives (cleared by the reader)."""
        self._events: list[TurnEvent] = []
        self._status = False
        self._lock = threading.Lock()

    def _arrive(self, events: Iterable[TurnEvent], status: bool) -> None:
        with self._lock:
            self._events.extend(events)
            self._status = self._status or status
        try:
            self.loop.call_soon_threadsafe(self.wake.set)
        except RuntimeError:  # that loop is closed: its reader is gone
            pass

    def take(self) -> tuple[list[TurnEvent], bool]:
        """The events that arrived, and whether the status changed, since the last take (both then forgotten)."""
        with self._lock:
            events, status = self._events, self._status
            self._events, self._status = [], False
        return events, status


class TurnSignals:
    """The process's hub: writers `publish` and say `finished`, readers `watch`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: dict[str, list[Watch]] = {}

    def watch(self, turn_id: str) -> Watch:
        """Collect what this process's writers say of `turn_id` (call from the reader's event loop; `unwatch` after).

        With `CHAT_LIVE_WAKE=off` nothing ever arrives: the reader polls as if the writers were elsewhere."""
        watch = Watch(turn_id, asyncio.get_running_loop())
        if not assistant_settings().live_wake:
            return watch
        with self._lock:
            self._watches.setdefault(turn_id, []).append(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        """Stop collecting for `watch`."""
        with self._lock:
            left = [w for w in self._watches.get(watch.turn_id, []) if w is not watch]
            if left:
                self._watches[watch.turn_id] = left
            else:
                self._watches.pop(watch.turn_id, None)

    def watched(self, turn_id: str) -> bool:
        """Whether a reader in this process follows `turn_id`."""
        with self._lock:
            return turn_id in self._watches

    def publish(self, turn_id: str, events: Iterable[TurnEvent]) -> None:
        """Events of the turn were just written here (as stored: their sequence numbers are theirs)."""
        with self._lock:
            watches = list(self._watches.get(turn_id, ()))
        items = list(events)
        for watch in watches:
            watch._arrive(items, False)

    def finished(self, turn_id: str) -> None:
        """The turn's status changed for its readers (it ended, its reply is out, or it waits for a person)."""
        with self._lock:
            watches = list(self._watches.get(turn_id, ()))
        for watch in watches:
            watch._arrive((), True)


signals = TurnSignals()
"""The process's turn signals."""
