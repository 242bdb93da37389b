"""Wake-ups of a turn's readers in this process when its writer (in this process too) writes an event."""

from __future__ import annotations

import asyncio
import threading

__all__ = ["TurnSignals", "signals"]


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
