"""A waiting POST's status reads: within the budget on their own, woken at once where the turn runs in-process."""

from __future__ import annotations

import asyncio
import itertools
import time
from types import SimpleNamespace
from typing import Any

from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from api.waiting import STEADY_SECONDS, reads_at, wait_for_instance
from assistant.signals import signals


def test_the_schedule_keeps_a_four_second_turn_within_three_reads_a_second() -> None:
    """At most 12 reads in 4 s (3 a second), front-loaded in the first second, then never two within 0.5 s."""
    moments = [0.0]
    while (following := reads_at(moments[-1])) <= 4.0:
        moments.append(following)
    assert len(moments) <= 12
    assert len([m for m in moments if m <= 1.0]) >= 5  # a turn that ends early is seen early
    late = [m for m in moments if m >= 1.0]
    assert all(b - a >= STEADY_SECONDS - 1e-9 for a, b in itertools.pairwise(late))


class _Client:
    """A durable client whose instance finishes at `done_at` seconds after it is made; it counts the status reads."""

    def __init__(self, done_at: float) -> None:
        self.born = time.monotonic()
        self.done_at = done_at
        self.reads: list[float] = []

    async def get_status(self, instance_id: str) -> Any:
        now = time.monotonic() - self.born
        self.reads.append(now)
        running = now < self.done_at
        status = OrchestrationRuntimeStatus.Running if running else OrchestrationRuntimeStatus.Completed
        return SimpleNamespace(runtime_status=status, custom_status=None)


def test_a_turn_elsewhere_is_seen_at_the_next_scheduled_read() -> None:
    """With no wake (the turn runs in another process), the end at 0.3 s is seen at the 0.45 s read: 4 reads."""

    async def run() -> tuple[Any, _Client, float]:
        client = _Client(done_at=0.3)
        status = await wait_for_instance(client, "i-elsewhere", 10)  # type: ignore[arg-type]
        return status, client, time.monotonic() - client.born

    status, client, took = asyncio.run(run())
    assert status.runtime_status == OrchestrationRuntimeStatus.Completed
    assert len(client.reads) == 4 and 0.44 <= took < 0.6


def test_a_turn_here_wakes_its_waiter_at_once() -> None:
    """The orchestrator in this process says the status changed at 1.3 s: the waiter reads within milliseconds, not
    at its next scheduled read (1.5 s); a change not visible yet is read again shortly."""

    async def run() -> tuple[Any, _Client, float]:
        client = _Client(done_at=1.32)  # the host commits 20 ms after the orchestrator's step says it is done

        async def orchestrator_here() -> None:
            await asyncio.sleep(1.3)
            signals.finished("i-here")

        told = asyncio.create_task(orchestrator_here())
        status = await wait_for_instance(client, "i-here", 10)  # type: ignore[arg-type]
        await told
        return status, client, time.monotonic() - client.born

    status, client, took = asyncio.run(run())
    assert status.runtime_status == OrchestrationRuntimeStatus.Completed
    assert took < 1.42, f"seen {took:.3f} s after the start (1.5 s without the wake)"
    assert len([r for r in client.reads if r > 1.29]) <= 3
    assert not signals.watched("i-here")


def test_events_written_here_do_not_make_a_status_wait_read() -> None:
    """Events published for the turn (deltas) wake no status read: only a status change does."""

    async def run() -> _Client:
        client = _Client(done_at=0.9)

        async def writer_here() -> None:
            for _ in range(20):
                await asyncio.sleep(0.02)
                signals.publish("i-events", [])

        task = asyncio.create_task(writer_here())
        await wait_for_instance(client, "i-events", 10)  # type: ignore[arg-type]
        await task
        return client

    client = asyncio.run(run())
    assert len(client.reads) == 6  # 0, 0.1, 0.25, 0.45, 0.7, 1.0: the schedule alone
