"""The timer queue: due order, cancellation before and after arming."""

from __future__ import annotations

import asyncio
import time

from devhost.durable.store import MessageRow
from devhost.durable.timers import TimerQueue


def _timer(message_id: int, delay: float) -> MessageRow:
    return MessageRow(message_id, "i", "e", time.time() + delay, {"EventType": 11, "TimerId": message_id})


async def _deliveries() -> list[int]:
    delivered: list[int] = []
    queue = TimerQueue(lambda m: delivered.append(m.id))
    runner = asyncio.get_running_loop().create_task(queue.run())
    await asyncio.sleep(0)
    queue.arm(_timer(1, 0.15))
    queue.arm(_timer(2, 0.05))
    queue.arm(_timer(3, 0.10))
    queue.cancel(3)
    queue.cancel(4)
    queue.arm(_timer(4, 0.0))
    await asyncio.sleep(0.4)
    runner.cancel()
    return delivered


def test_timers_fire_in_due_order_and_cancelled_ones_never() -> None:
    """Due order regardless of arming order; a cancel before or after arming suppresses it."""
    assert asyncio.run(_deliveries()) == [2, 1]
