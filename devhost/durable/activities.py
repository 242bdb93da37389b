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
import queue
import threading
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from devhost.channel import ActivityCall
from devhost.durable import history as h
from devhost.durable.payloads import decode_activity_input, encode_activity_output
from devhost.durable.store import ActivityRow
from devhost.invoke import InvocationContext
from devhost.loader import FunctionSpec

__all__ = ["ActivityRunner", "Outcomes", "PoolActivityRunner", "missing_activity"]

ACTIVITY_THREADS = 32
"""Sync activities running at once (they may wait on I/O, e.g. a model call)."""
_STOP = None


class Outcomes:
    """Activity outcomes reported from other threads, handed to `done` on the event loop in bursts.

    The first outcome of a burst schedules one loop wake-up, which delivers every outcome
    that arrived by then; after `close()` outcomes are dropped.
    """

    def __init__(self, done: Callable[[ActivityRow, h.Event], None]) -> None:
        self._done = done
        self._lock = threading.Lock()
        self._pending: list[tuple[ActivityRow, h.Event]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        """The loop `done` runs on (set by the runner when it first dispatches)."""
        self.closed = False

    def put(self, activity: ActivityRow, event: h.Event) -> None:
        """Report an outcome (any thread)."""
        with self._lock:
            self._pending.append((activity, event))
            first = len(self._pending) == 1
        if first and not self.closed and self.loop is not None:
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if self.closed:
            return
        for activity, event in pending:
            self._done(activity, event)


class ActivityRunner:
    """Runs activity work items and reports each outcome as a history event.

    Sync activities go through one queue to worker threads (started as the load needs
    them, up to ACTIVITY_THREADS); finished ones are handed back to the event loop in
    bursts, one loop wake-up per burst, so a fast activity costs little beyond its call.
    An activity with a `durableClient` input binding gets `client_binding` (the host's client
    binding JSON), as the Functions host gives any function that binding.
    """

    def __init__(
        self,
        functions: dict[str, FunctionSpec],
        done: Callable[[ActivityRow, h.Event], None],
        client_binding: str | None = None,
    ) -> None:
        self._functions = functions
        self._done = done
        self._client_binding = client_binding
        self._outcomes = Outcomes(done)
        self._queue: queue.SimpleQueue[tuple[FunctionSpec, ActivityRow] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._tasks: set[asyncio.Task[None]] = set()
        """Async activities running on the loop (held so that none is garbage-collected mid-run)."""

    def close(self) -> None:
        """Stop the workers once they finish what they run; results after this are dropped."""
        self._outcomes.closed = True
        for _ in self._threads:
            self._queue.put(_STOP)

    def dispatch(self, activity: ActivityRow) -> None:
        spec = self._functions.get(activity.name.lower())
        if spec is None:
            self._done(activity, missing_activity(activity))
            return
        loop = self._outcomes.loop = asyncio.get_running_loop()
        if spec.is_async:
            task = loop.create_task(self._run_async(spec, activity))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        with self._lock:
            grow = self._idle <= 0 and len(self._threads) < ACTIVITY_THREADS
            if not grow:
                self._idle -= 1  # an idle worker will take it
        if grow:
            worker = threading.Thread(target=self._work, name=f"durable-activity-{len(self._threads)}", daemon=True)
            self._threads.append(worker)
            worker.start()
        self._queue.put((spec, activity))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            spec, activity = item
            event = _run_sync_activity(spec, activity, self._client_binding)
            with self._lock:
                self._idle += 1
            self._outcomes.put(activity, event)

    async def _run_async(self, spec: FunctionSpec, activity: ActivityRow) -> None:
        try:
            value = await spec.func(**_kwargs(spec, activity, self._client_binding))
            event = h.task_completed(h.utc_now(), activity.task_id, encode_activity_output(value))
        except Exception as exc:  # the activity's failure goes to the orchestrator
            event = _failure(activity, exc)
        self._done(activity, event)


class PoolActivityRunner:
    """Runs activity work items in the worker processes (`devhost.workers.WorkerPool`), where the app is loaded.

    A worker that dies while running one passes it to another (up to the pool's attempts); after that
    the activity fails with a TaskFailed saying so.
    """

    def __init__(
        self, pool: Any, functions: dict[str, FunctionSpec], done: Callable[[ActivityRow, h.Event], None]
    ) -> None:
        self._pool = pool
        self._functions = functions
        self._done = done
        self._closed = False

    def dispatch(self, activity: ActivityRow) -> None:
        if activity.name.lower() not in self._functions:
            self._done(activity, missing_activity(activity))
            return
        future = self._pool.call(ActivityCall(activity), retry=True)
        future.add_done_callback(lambda outcome: self._finished(activity, outcome))

    def _finished(self, activity: ActivityRow, outcome: asyncio.Future[Any]) -> None:
        if self._closed or outcome.cancelled():
            return
        try:
            event = outcome.result()
        except Exception as exc:  # the worker died every time it ran it
            reason = f"Activity function '{activity.name}' failed: {exc}"
            event = h.task_failed(h.utc_now(), activity.task_id, reason, None)
        self._done(activity, event)

    def close(self) -> None:
        """Results that come after this are dropped (the work runs again after a restart)."""
        self._closed = True


def missing_activity(activity: ActivityRow) -> h.Event:
    """The TaskFailed of a work item whose activity function the app does not have (the host's wording)."""
    reason = f"The function '{activity.name}' doesn't exist, is disabled, or is not an activity function."
    return h.task_failed(h.utc_now(), activity.task_id, reason, None)


def _param(spec: FunctionSpec) -> str:
    return str(spec.trigger.get("name") or "input")


@functools.cache
def _wants_context(function: Callable[..., Any], trigger_param: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "context" in parameters and trigger_param != "context"


def _kwargs(spec: FunctionSpec, activity: ActivityRow, client_binding: str | None = None) -> dict[str, Any]:
    """The activity's arguments: its decoded input, `context` when it asks for one (as the worker does),
    and the durable client binding's JSON for each `durableClient` binding."""
    param = _param(spec)
    kwargs: dict[str, Any] = {param: decode_activity_input(activity.input)}
    for binding in spec.bindings_of_type("durableClient"):
        kwargs[str(binding["name"])] = client_binding
    if _wants_context(spec.func, param):
        directory = os.path.dirname(inspect.getfile(spec.func)) if hasattr(spec.func, "__code__") else ""
        kwargs["context"] = InvocationContext(spec, uuid.uuid4().hex, directory, "", "")
    return kwargs


def _failure(activity: ActivityRow, exc: BaseException) -> h.Event:
    reason = f"Activity function '{activity.name}' failed: {type(exc).__name__}: {exc}"
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return h.task_failed(h.utc_now(), activity.task_id, reason, details)


def _run_sync_activity(spec: FunctionSpec, activity: ActivityRow, client_binding: str | None = None) -> h.Event:
    """Runs on an activity thread: call the function, encode as the worker does."""
    try:
        value = spec.func(**_kwargs(spec, activity, client_binding))
        return h.task_completed(h.utc_now(), activity.task_id, encode_activity_output(value))
    except Exception as exc:  # the activity's failure goes to the orchestrator
        return _failure(activity, exc)
