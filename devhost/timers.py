"""Timer triggers, run the way the Functions host runs them: NCRONTAB schedules, `runOnStartup`, `useMonitor`.

A `timerTrigger` function's `schedule` is an NCRONTAB expression with six fields (second minute
hour day month day-of-week; five fields are read with second 0) or a `hh:mm:ss` interval, and may
be an app setting reference (`%NAME%`). With `useMonitor` (the default, as on Azure, for schedules
whose occurrences are at least a minute apart) the last and next occurrences are kept in
`<data_dir>/timers/<function>.json`, so an occurrence missed while devhost was down runs once at
start with `past_due` true. `runOnStartup` runs the function once when the host starts.
Invocations of one function never overlap (the host's singleton lock): an occurrence that comes
while the previous run is still going is skipped. `POST /admin/functions/{name}` runs any
timer function now (the master key is needed when keys are required), as on Azure.

The function gets a `func.TimerRequest` and, for its other input bindings, what the host's
extensions provide (e.g. a durable client).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
from azure.functions.timer import TimerRequest
from croniter import croniter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from devhost.channel import TimerCall
from devhost.config import ConfigError, resolve_setting_refs
from devhost.extension import BindingRequest, HostExtension
from devhost.invoke import InvocationContext
from devhost.keys import AuthLevel, HostKeys, KeyCheck, check_key
from devhost.loader import FunctionIndex, FunctionSpec
from devhost.responses import json_error

__all__ = ["Schedule", "TimerExtension", "call_timer_function", "parse_schedule"]

log = logging.getLogger("devhost.timers")
_INTERVAL = re.compile(r"^(?:(?P<d>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})$")


@dataclass(frozen=True)
class Schedule:
    """When a timer fires: an NCRONTAB expression or a fixed interval."""

    text: str
    cron: str | None = None
    interval: timedelta | None = None

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (UTC)."""
        if self.interval is not None:
            return moment + self.interval
        assert self.cron is not None
        return croniter(self.cron, moment, second_at_beginning=True).get_next(datetime)

    def monitored_by_default(self, now: datetime) -> bool:
        """The host's `useMonitor` default: on when occurrences are at least a minute apart."""
        first = self.next_after(now)
        return self.next_after(first) - first >= timedelta(minutes=1)


def parse_schedule(text: str) -> Schedule:
    """An NCRONTAB (6 fields, or 5 with second 0) or `[d.]hh:mm:ss` schedule; ValueError saying why not."""
    text = text.strip()
    interval = _INTERVAL.match(text)
    if interval:
        span = timedelta(
            days=int(interval["d"] or 0),
            hours=int(interval["h"]),
            minutes=int(interval["m"]),
            seconds=int(interval["s"]),
        )
        if span <= timedelta(0):
            raise ValueError(f"the interval {text!r} must be longer than zero")
        return Schedule(text, interval=span)
    fields = text.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ValueError(f"{text!r} is not an NCRONTAB expression (6 fields: second minute hour day month day-of-week)")
    cron = " ".join(fields)
    if not croniter.is_valid(cron, second_at_beginning=True):
        raise ValueError(f"{text!r} is not a valid NCRONTAB expression")
    return Schedule(text, cron=cron)


@dataclass
class _Timer:
    function: FunctionSpec
    schedule: Schedule
    run_on_startup: bool
    use_monitor: bool
    running: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class TimerExtension:
    """The `HostExtension` that runs timer-triggered functions (see the module docstring)."""

    trigger_types = frozenset({"timertrigger"})
    binding_types: frozenset[str] = frozenset()

    def __init__(
        self,
        data_dir: Path,
        others: Sequence[HostExtension] = (),
        keys: HostKeys | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.others = list(others)
        """The extensions that provide other input bindings (the durable client)."""
        self.keys = keys
        self._now = now or (lambda: datetime.now(UTC))
        self._timers: dict[str, _Timer] = {}

    # -- HostExtension ------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [Route("/admin/functions/{name}", self._run_now, methods=["POST"])]

    def binding_value(self, request: BindingRequest) -> Any:
        raise KeyError(request.binding.get("type"))

    async def startup(self, index: FunctionIndex) -> None:
        now = self._now()
        for function in index.by_trigger("timerTrigger"):
            trigger = function.trigger
            try:
                schedule = parse_schedule(resolve_setting_refs(str(trigger.get("schedule") or "")))
            except (ValueError, ConfigError) as error:
                log.error("Timer function %s is not scheduled: %s", function.name, error)
                continue
            monitor = trigger.get("useMonitor")
            timer = _Timer(
                function=function,
                schedule=schedule,
                run_on_startup=bool(trigger.get("runOnStartup")),
                use_monitor=schedule.monitored_by_default(now) if monitor is None else bool(monitor),
            )
            self._timers[function.name.lower()] = timer
            timer.task = asyncio.get_running_loop().create_task(self._loop(timer))

    async def shutdown(self) -> None:
        tasks = [t.task for t in self._timers.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # stopping: a run in progress ends here
                pass

    # -- schedule -------------------------------------------------------------------------
    def _status_path(self, timer: _Timer) -> Path:
        return self.data_dir / "timers" / f"{timer.function.name}.json"

    def _read_status(self, timer: _Timer) -> dict[str, str] | None:
        try:
            data = json.loads(self._status_path(timer).read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else None
        except (OSError, ValueError):
            return None

    def _write_status(self, timer: _Timer, last: datetime, following: datetime) -> None:
        path = self._status_path(timer)
        path.parent.mkdir(parents=True, exist_ok=True)
        status = {"Last": last.isoformat(), "Next": following.isoformat(), "LastUpdated": self._now().isoformat()}
        path.write_text(json.dumps(status), encoding="utf-8")

    async def _loop(self, timer: _Timer) -> None:
        now = self._now()
        due = timer.schedule.next_after(now)
        past_due = False
        if timer.use_monitor:
            status = self._read_status(timer)
            if status and status.get("Next"):
                recorded = datetime.fromisoformat(status["Next"])
                if recorded <= now:
                    past_due = True
        if past_due or timer.run_on_startup:
            await self._invoke(timer, past_due=past_due, reason="past due" if past_due else "runOnStartup")
            if timer.use_monitor:
                self._write_status(timer, self._now(), timer.schedule.next_after(self._now()))
        elif timer.use_monitor:
            self._write_status(timer, now, due)
        while True:
            delay = (due - self._now()).total_seconds()
            if delay > 0:
                await asyncio.sleep(min(delay, 60.0))
                continue
            following = timer.schedule.next_after(max(due, self._now()))
            if timer.use_monitor:
                self._write_status(timer, due, following)
            if timer.running:
                log.warning(
                    "Timer function %s is still running; its %s occurrence is skipped",
                    timer.function.name,
                    due.isoformat(),
                )
            else:
                asyncio.get_running_loop().create_task(self._invoke(timer, past_due=False, reason="timer"))
            due = following

    workers: Any = None
    """The worker processes that run the app (`devhost.workers.WorkerPool`); None: in this process."""

    def attach_workers(self, workers: Any) -> None:
        """Run timer functions in `workers` (the app is loaded there, not here)."""
        self.workers = workers

    # -- invocation ------------------------------------------------------------------------
    def _binding_values(self, function: FunctionSpec) -> dict[str, Any]:
        """The extensions' values for the function's other input bindings (the durable client)."""
        values: dict[str, Any] = {}
        for binding in function.bindings:
            if binding is function.trigger or str(binding.get("direction", "in")).lower() != "in":
                continue
            kind = str(binding.get("type", "")).lower()
            owner = next((e for e in self.others if kind in e.binding_types), None)
            if owner is None:
                raise ValueError(f"input binding {binding.get('name')!r} of type {kind!r} is not supported by devhost")
            values[str(binding["name"])] = owner.binding_value(BindingRequest(function, binding))
        return values

    async def _invoke(self, timer: _Timer, *, past_due: bool, reason: str) -> bool:
        """Run the function once; whether it succeeded."""
        if timer.running:
            return False
        timer.running = True
        invocation_id = str(uuid.uuid4())
        name = timer.function.name
        log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", name, reason, invocation_id)
        try:
            values = self._binding_values(timer.function)
            if self.workers is not None:
                await self.workers.call(TimerCall(name, past_due, values), retry=False)
            else:
                await call_timer_function(timer.function, past_due, values, invocation_id, str(self.data_dir))
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed, Id=%s)", name, invocation_id)
            return False
        finally:
            timer.running = False
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s)", name, invocation_id)
        return True

    async def _run_now(self, request: Request) -> Response:
        if self.keys is not None:
            outcome = check_key(AuthLevel.ADMIN, self.keys, query=request.query_params, headers=request.headers)
            if outcome is not KeyCheck.ALLOWED:
                return json_error(401, "running a function by hand needs the master key (header `x-functions-key`)")
        timer = self._timers.get(request.path_params["name"].lower())
        if timer is None:
            return json_error(404, f"no timer function named {request.path_params['name']!r}")
        wait = request.query_params.get("wait", "").lower() in ("1", "true")
        if wait:
            ok = await self._invoke(
                timer, past_due=False, reason="This function was programmatically called via the host APIs."
            )
            return Response(status_code=200 if ok else 500)
        asyncio.get_running_loop().create_task(
            self._invoke(timer, past_due=False, reason="This function was programmatically called via the host APIs.")
        )
        return Response(status_code=202)


async def call_timer_function(
    function: FunctionSpec, past_due: bool, binding_values: dict[str, Any], invocation_id: str, directory: str
) -> None:
    """Call a timer function as the worker does: a `func.TimerRequest`, the other input bindings' values, `context`
    when it asks for it; sync functions on a thread. Raises what the function raises."""
    request = TimerRequest(past_due=past_due, schedule={"AdjustForDST": True})
    kwargs: dict[str, Any] = {str(function.trigger.get("name")): request, **binding_values}
    try:
        parameters = inspect.signature(function.func).parameters
    except (TypeError, ValueError):
        parameters = {}
    if "context" in parameters and "context" not in kwargs:
        kwargs["context"] = InvocationContext(function, invocation_id, directory, "", "")
    if function.is_async:
        await function.func(**kwargs)
    else:
        await anyio.to_thread.run_sync(lambda: function.func(**kwargs))
