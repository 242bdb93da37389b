"""Activity execution: sync activities on a thread pool, async ones on the event loop.

Inputs are decoded and results encoded exactly as the Python worker's ActivityTrigger
converter does; an exception becomes a TaskFailed event whose Reason names the
activity and the exception and whose Details hold the traceback (the SDK raises
`Exception(f"{Reason} \\n {Details}")` in the orchestrator).
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import os
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from devhost.durable import history as h
from devhost.durable.payloads import decode_activity_input, encode_activity_output
from devhost.durable.store import ActivityRow
from devhost.invoke import InvocationContext
from devhost.loader import FunctionSpec

__all__ = ["ActivityRunner"]

ACTIVITY_THREADS = 32
"""Sync activities running at once (they may wait on I/O, e.g. a model call)."""


class ActivityRunner:
    """Runs activity work items and reports each outcome as a history event."""

    def __init__(self, functions: dict[str, FunctionSpec], done: Callable[[ActivityRow, h.Event], None]) -> None:
        self._functions = functions
        self._done = done
        self._pool = ThreadPoolExecutor(ACTIVITY_THREADS, thread_name_prefix="durable-activity")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def dispatch(self, activity: ActivityRow) -> None:
        spec = self._functions.get(activity.name.lower())
        if spec is None:
            reason = f"The function '{activity.name}' doesn't exist, is disabled, or is not an activity function."
            self._done(activity, h.task_failed(h.utc_now(), activity.task_id, reason, None))
            return
        loop = asyncio.get_running_loop()
        if spec.is_async:
            loop.create_task(self._run_async(spec, activity))
            return
        future = loop.run_in_executor(self._pool, _run_sync_activity, spec, activity)
        future.add_done_callback(lambda f: None if f.cancelled() else self._done(activity, f.result()))

    async def _run_async(self, spec: FunctionSpec, activity: ActivityRow) -> None:
        try:
            value = await spec.func(**_kwargs(spec, activity))
            event = h.task_completed(h.utc_now(), activity.task_id, encode_activity_output(value))
        except Exception as exc:  # the activity's failure goes to the orchestrator
            event = _failure(activity, exc)
        self._done(activity, event)


def _param(spec: FunctionSpec) -> str:
    return str(spec.trigger.get("name") or "input")


@functools.lru_cache(maxsize=None)
def _wants_context(function: Callable[..., Any], trigger_param: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "context" in parameters and trigger_param != "context"


def _kwargs(spec: FunctionSpec, activity: ActivityRow) -> dict[str, Any]:
    """The activity's arguments: its decoded input, and `context` when it asks for one (as the worker does)."""
    param = _param(spec)
    kwargs: dict[str, Any] = {param: decode_activity_input(activity.input)}
    if _wants_context(spec.func, param):
        directory = os.path.dirname(inspect.getfile(spec.func)) if hasattr(spec.func, "__code__") else ""
        kwargs["context"] = InvocationContext(spec, uuid.uuid4().hex, directory, "", "")
    return kwargs


def _failure(activity: ActivityRow, exc: BaseException) -> h.Event:
    reason = f"Activity function '{activity.name}' failed: {type(exc).__name__}: {exc}"
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return h.task_failed(h.utc_now(), activity.task_id, reason, details)


def _run_sync_activity(spec: FunctionSpec, activity: ActivityRow) -> h.Event:
    """Runs on an activity thread: call the function, encode as the worker does."""
    try:
        value = spec.func(**_kwargs(spec, activity))
        return h.task_completed(h.utc_now(), activity.task_id, encode_activity_output(value))
    except Exception as exc:  # the activity's failure goes to the orchestrator
        return _failure(activity, exc)
