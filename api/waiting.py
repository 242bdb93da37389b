"""Waiting a bounded time for an orchestration instance, polling its status with a growing interval."""
from __future__ import annotations

import asyncio
import time

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

__all__ = ["FINISHED", "InstanceGone", "wait_for_instance"]

FINISHED = frozenset(
    {
        OrchestrationRuntimeStatus.Completed,
        OrchestrationRuntimeStatus.Failed,
        OrchestrationRuntimeStatus.Terminated,
        OrchestrationRuntimeStatus.Canceled,
    }
)
_FIRST_INTERVAL = 0.005


class InstanceGone(LookupError):
    """The instance existed when the wait began and no longer does (its history was purged)."""

_MAX_INTERVAL = 0.25


async def wait_for_instance(
    client: df.DurableOrchestrationClient, instance_id: str, timeout_seconds: float
) -> df.DurableOrchestrationStatus | None:
    """The instance's status once it has finished, or None if it has not within `timeout_seconds`.

    Polls quickly at first (a turn is often done in milliseconds) and backs off to 250 ms. Raises
    `InstanceGone` if the instance stops existing (it must exist when the wait begins).
    """
    deadline = time.monotonic() + timeout_seconds
    interval = _FIRST_INTERVAL
    while True:
        status = await client.get_status(instance_id)
        if not status:
            raise InstanceGone(instance_id)
        if status.runtime_status in FINISHED:
            return status
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 1.6, _MAX_INTERVAL)
