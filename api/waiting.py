"""Waiting a bounded time for an orchestration instance: status reads within a budget, woken where the turn runs here.

On Azure every status read is a call to the host's management API and a read of the Durable backend's instance
store, and the HTTP function waiting for a turn and the turn itself usually run on different instances. So a wait
reads the status on a fixed schedule, front-loaded because many turns end within a second: at once, then 0.1, 0.25,
0.45, 0.7 and 1 s after the start, then every `STEADY_SECONDS` (0.5 s): at most 12 reads in a 4 s turn (3 a
second), never more than one per 0.5 s after the first second. Where the turn's orchestrator runs in this process
it says when the status changed (`assistant.signals`): the wait then reads at once (and twice more, 10 and 40 ms
later, if the change is not visible yet: the host commits the orchestrator's step just after it runs), so the
reply is seen within milliseconds instead of up to half a second later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from assistant.signals import signals

__all__ = ["FINISHED", "SCHEDULE", "STEADY_SECONDS", "InstanceGone", "early_output", "replied", "wait_for_instance"]

FINISHED = frozenset(
    {
        OrchestrationRuntimeStatus.Completed,
        OrchestrationRuntimeStatus.Failed,
        OrchestrationRuntimeStatus.Terminated,
        OrchestrationRuntimeStatus.Canceled,
    }
)
SCHEDULE = (0.0, 0.1, 0.25, 0.45, 0.7, 1.0)
"""Seconds after the start of a wait at which it reads the status in its first second."""
STEADY_SECONDS = 0.5
"""The wait between two reads after the first second."""
_AFTER_WAKE = (0.01, 0.03)
"""Extra reads after a wake that did not yet show the change (seconds after the previous read)."""


def early_output(status: df.DurableOrchestrationStatus) -> dict[str, Any] | None:
    """A running turn's output when its reply is already in the chat (it goes on writing the chat's summary:
    the orchestrator put its output in the custom status), else None."""
    custom = status.custom_status
    if status.runtime_status in FINISHED or not isinstance(custom, dict) or not isinstance(custom.get("output"), dict):
        return None
    return custom["output"]


def replied(status: df.DurableOrchestrationStatus) -> bool:
    """Whether the turn has finished, or has its reply in the chat (`early_output`)."""
    return status.runtime_status in FINISHED or early_output(status) is not None


class InstanceGone(LookupError):
    """The instance existed when the wait began and no longer does (its history was purged)."""


def reads_at(elapsed: float) -> float:
    """When (seconds after the start) the scheduled read after one at `elapsed` comes."""
    for moment in SCHEDULE:
        if moment > elapsed + 1e-9:
            return moment
    return elapsed + STEADY_SECONDS


async def wait_for_instance(
    client: df.DurableOrchestrationClient,
    instance_id: str,
    timeout_seconds: float,
    until: Callable[[df.DurableOrchestrationStatus], bool] | None = None,
) -> df.DurableOrchestrationStatus | None:
    """The instance's status once it has finished, or None if it has not within `timeout_seconds`.

    With `until`, it also returns the status of a running instance once `until` holds for it (e.g. the turn waits
    for an approval). Raises `InstanceGone` if the instance stops existing (it must exist when the wait begins).
    """
    started = time.monotonic()
    deadline = started + timeout_seconds
    watch = signals.watch(instance_id)
    try:
        extra: list[float] = []
        while True:
            status = await client.get_status(instance_id)
            if not status:
                raise InstanceGone(instance_id)
            if status.runtime_status in FINISHED or (until is not None and until(status)):
                return status
            now = time.monotonic()
            if now >= deadline:
                return None
            if extra:  # woken, but the change is not visible yet: read again shortly
                await asyncio.sleep(min(extra.pop(0), deadline - now))
                continue
            next_read = min(started + reads_at(now - started), deadline)
            while (left := next_read - time.monotonic()) > 0:  # until the next read, unless the status changes here
                try:
                    await asyncio.wait_for(watch.wake.wait(), left)
                except TimeoutError:
                    break
                watch.wake.clear()
                if watch.take()[1]:  # the turn's orchestrator (here) changed its status: read now
                    extra = list(_AFTER_WAKE)
                    break
    finally:
        signals.unwatch(watch)
