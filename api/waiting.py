"""Waiting a bounded time for an orchestration instance, polling its status with a growing interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

__all__ = ["FINISHED", "InstanceGone", "early_output", "poll_floor", "replied", "wait_for_instance"]

FINISHED = frozenset(
    {
        OrchestrationRuntimeStatus.Completed,
        OrchestrationRuntimeStatus.Failed,
        OrchestrationRuntimeStatus.Terminated,
        OrchestrationRuntimeStatus.Canceled,
    }
)
_FIRST_INTERVAL = 0.002
_GROWTH = 1.15
_MAX_INTERVAL = 0.025
"""The longest wait between polls of one wait alone."""
_MAX_FLOOR = 0.1
"""The longest wait between polls however many waits run."""
_in_flight = 0
"""Waits running in this process now (the worker runs the app's async functions on one event loop)."""


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


def poll_floor(in_flight: int) -> float:
    """The shortest wait between polls while `in_flight` waits run: 2 ms per wait, at most 100 ms.

    One wait alone polls from 2 ms; with many in flight the host is busy with all their turns,
    each takes longer, and polling them as finely would only add calls (with 50 chats at once a
    turn takes ~0.5 s, and polls every 100 ms see it done within a fifth of that).
    """
    return min(_FIRST_INTERVAL * max(1, in_flight), _MAX_FLOOR)


async def wait_for_instance(
    client: df.DurableOrchestrationClient,
    instance_id: str,
    timeout_seconds: float,
    until: Callable[[df.DurableOrchestrationStatus], bool] | None = None,
) -> df.DurableOrchestrationStatus | None:
    """The instance's status once it has finished, or None if it has not within `timeout_seconds`.

    Polls quickly at first (a turn is often done in milliseconds), each wait 15% longer than the
    last, up to 25 ms: a turn is seen done at most ~15% (at most 25 ms) after it finished. While
    other waits run in the process no wait is shorter than `poll_floor` of their number (so the
    process polls at most ~500 times a second in all): under load polls were ~12% of devhost's
    CPU with 50 chats at once before that floor. With `until`, it also returns the status of a running
    instance once `until` holds for it (e.g. the turn waits for an approval). Raises `InstanceGone` if the
    instance stops existing (it must exist when the wait begins).
    """
    global _in_flight
    deadline = time.monotonic() + timeout_seconds
    interval = _FIRST_INTERVAL
    _in_flight += 1
    try:
        while True:
            status = await client.get_status(instance_id)
            if not status:
                raise InstanceGone(instance_id)
            if status.runtime_status in FINISHED or (until is not None and until(status)):
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(max(interval, poll_floor(_in_flight)), remaining))
            interval = min(interval * _GROWTH, _MAX_INTERVAL)
    finally:
        _in_flight -= 1
