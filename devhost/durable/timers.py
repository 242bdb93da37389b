"""Durable timers waiting in memory: a heap of committed timer messages, by due time.

A timer message is committed with the step that created it and armed here only after
that commit; when due it is delivered to its instance's inbox like any other message
(it stays in the store until the step that consumes it commits). Cancelled timers are
skipped when they come up.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable

from devhost.durable.store import MessageRow

__all__ = ["TimerQueue"]


class TimerQueue:
    """Arms committed timer messages and delivers each when its `visible_at` comes."""

    def __init__(self, deliver: Callable[[MessageRow], None]) -> None:
        self._deliver = deliver
        self._heap: list[tuple[float, int, MessageRow]] = []
        self._cancelled: set[int] = set()
        self._wake: asyncio.Event | None = None

    def arm(self, message: MessageRow) -> None:
        """Deliver `message` at its `visible_at` (unless it was cancelled meanwhile)."""
        if message.id in self._cancelled:
            self._cancelled.discard(message.id)
            return
        heapq.heappush(self._heap, (message.visible_at or 0.0, message.id, message))
        if self._wake is not None:
            self._wake.set()

    def cancel(self, message_id: int) -> None:
        """Never deliver timer message `message_id` (armed or about to be)."""
        self._cancelled.add(message_id)

    async def run(self) -> None:
        """Deliver due timers until cancelled."""
        self._wake = asyncio.Event()
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            due, _, message = self._heap[0]
            delay = due - time.time()
            if delay > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=min(delay, 60.0))
                except TimeoutError:
                    pass
                continue
            heapq.heappop(self._heap)
            if message.id in self._cancelled:
                self._cancelled.discard(message.id)
                continue
            self._deliver(message)
