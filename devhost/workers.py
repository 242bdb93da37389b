"""The host's side of its worker processes: start them, send them work, replace the ones that die.

As the Functions host runs the Python worker, devhost runs the app in worker processes
(`python -m devhost.worker_main`; the messages are in `devhost.channel`) and never imports it:
whatever the app does to its own process (patching asyncio or starlette, holding the GIL in a CPU-
bound function, `sys.exit`, a crash in a native extension) cannot slow or stop the host.
`FUNCTIONS_WORKER_PROCESS_COUNT` workers (1 to 10, default 1) each load the app; work goes to the one
with the fewest calls running (in turn, when several have as few).

A worker that dies is replaced. An HTTP call it was running fails (the host answers 500); durable
work (orchestrator episodes, entity batches, activities) is sent again to a worker, at most
`MAX_ATTEMPTS` times in all, then it fails saying why; a timer call fails (the next occurrence runs).
The workers exit with the host, SIGKILL included (their end of the socket reads EOF; on Linux they
also ask the kernel for SIGKILL when their parent dies).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devhost.channel import (
    Call,
    Cancel,
    Failure,
    HttpBody,
    HttpCall,
    HttpStart,
    LoadError,
    Ready,
    RequestBody,
    Result,
    Rpc,
    RpcResult,
    StatusChanged,
    Tally,
    TallyQuery,
    WorkerMessage,
    read_message,
    write_message,
)
from devhost.loader import AppLoadError
from devhost.processes import stop_process

__all__ = [
    "MAX_ATTEMPTS",
    "HttpExchange",
    "WorkerDied",
    "WorkerPool",
    "status_read",
    "worker_count",
    "worker_process_enabled",
]

log = logging.getLogger("devhost.workers")

MAX_ATTEMPTS = 3
"""Times one piece of durable work is sent to a worker that then dies before answering."""
EXIT_GRACE_SECONDS = 5.0
START_TIMEOUT_SECONDS = 120.0
RpcHandler = Callable[[str, str, str, "bytes | None"], Awaitable["tuple[int, bytes] | None"]]
"""Answers the app's management API calls: (method, path, query, body) -> (status, body), or None when no management
route does."""


def worker_process_enabled(environ: dict[str, str] | os._Environ[str] = os.environ, platform: str = os.name) -> bool:
    """Whether the app runs in worker processes: on POSIX (the socket is handed over by file descriptor) unless
    `DEVHOST_WORKER_PROCESS` (or its older name `DEVHOST_DURABLE_ACTIVITY_PROCESS`) is 0/false/no/off."""
    setting = environ.get("DEVHOST_WORKER_PROCESS", environ.get("DEVHOST_DURABLE_ACTIVITY_PROCESS", "1"))
    return platform == "posix" and str(setting).strip().lower() not in {"0", "false", "no", "off"}


def worker_count(environ: dict[str, str] | os._Environ[str] = os.environ) -> int:
    """`FUNCTIONS_WORKER_PROCESS_COUNT`: 1 to 10 as on Azure (default 1)."""
    raw = str(environ.get("FUNCTIONS_WORKER_PROCESS_COUNT", "")).strip()
    return min(max(int(raw), 1), 10) if raw.isdigit() else 1


_STATUS_PREFIX = "/runtime/webhooks/durabletask/instances/"


def status_read(method: str, path: str) -> str | None:
    """The instance id when (`method`, `path`) reads one instance's status (`GET .../instances/{id}`), else None."""
    if method != "GET" or not path.startswith(_STATUS_PREFIX):
        return None
    rest = path[len(_STATUS_PREFIX) :]
    return rest if rest and "/" not in rest else None


@dataclass(frozen=True)
class HttpExchange:
    """One HTTP call running in a worker."""

    call_id: int
    finished: asyncio.Future[Any]
    """Ends with the call (WorkerDied if its worker died first)."""
    cancel: Callable[[], None]
    """Tells the worker the client went away, or that the body was refused before it was complete."""


class WorkerDied(RuntimeError):
    """The worker running a call exited before answering (as often as the call may be sent)."""


class CallFailed(RuntimeError):
    """The worker reported a failure of the call (the message holds its traceback)."""


@dataclass
class _Call:
    message: Call
    """What the worker is sent (with this call's id)."""
    retry: bool
    future: asyncio.Future[Any]
    attempts: int = 0
    stream: Callable[[HttpStart | HttpBody], None] | None = None
    """For HTTP calls: gets the response's messages."""


@dataclass
class _Worker:
    number: int
    process: subprocess.Popen[bytes]
    writer: asyncio.StreamWriter | None = None
    ready: asyncio.Future[list[dict[str, Any]]] | None = None
    calls: dict[int, _Call] = field(default_factory=dict)
    unsent: list[tuple[int, _Call]] = field(default_factory=list)


TALLY_TIMEOUT_SECONDS = 5.0
"""How long the host waits for the workers' counts of cached status reads."""


class WorkerPool:
    """The worker processes of one devhost."""

    def __init__(self, script_root: Path, count: int = 1, env: dict[str, str] | None = None) -> None:
        self.script_root = script_root
        self.count = count
        self.env = env or {}
        self.rpc: RpcHandler | None = None
        """Set by the durable extension: answers the app's client calls to the management API."""
        self._workers: list[_Worker] = []
        self._ids = itertools.count(1)
        self._numbers = itertools.count(0)
        self._turns = itertools.count(0)
        self._closed = False
        self._status_seq = 0
        self._watched: set[str] = set()
        """Instances whose status a worker read over the channel since its last change (it may have it cached)."""
        self._tallies: dict[int, asyncio.Future[dict[str, tuple[int, list[float]]]]] = {}
        self.functions: list[dict[str, Any]] = []
        """The app's functions as the first worker described them (`devhost.loader.describe`)."""

    @property
    def pids(self) -> list[int]:
        """The process ids of the workers now."""
        return [w.process.pid for w in self._workers]

    async def start(self) -> list[dict[str, Any]]:
        """Start the workers; the app's function metadata once the first has loaded it (AppLoadError if it cannot)."""
        for _ in range(self.count):
            self._spawn()
        first = self._workers[0]
        assert first.ready is not None
        self.functions = await asyncio.wait_for(asyncio.shield(first.ready), START_TIMEOUT_SECONDS)
        return self.functions

    def close(self) -> None:
        """Stop every worker (what they run is dropped: durable work runs again after a restart)."""
        self._closed = True
        workers, self._workers = self._workers, []
        for worker in workers:
            if worker.writer is not None:
                worker.writer.close()
            stop_process(worker.process, 5)
            for call in worker.calls.values():
                if not call.future.done():
                    call.future.set_exception(WorkerDied("devhost is stopping"))

    # -- calls -------------------------------------------------------------------------------------
    def call(self, message: Call, *, retry: bool) -> asyncio.Future[Any]:
        """Run `message` in a worker; the future has its `Result` value. With `retry` (durable work, safe to run
        again) a worker that dies before answering passes it to another, up to MAX_ATTEMPTS times."""
        future = _future()
        call_id = next(self._ids)
        self._send(call_id, _Call(replace(message, call_id=call_id), retry, future))
        return future

    def http(self, message: HttpCall, stream: Callable[[HttpStart | HttpBody], None]) -> HttpExchange:
        """Start an HTTP call: its response's messages go to `stream`; the rest of its body, if any, goes with
        `send_body`."""
        future = _future()
        call_id = next(self._ids)
        self._send(call_id, _Call(replace(message, call_id=call_id), False, future, stream=stream))
        return HttpExchange(call_id, future, lambda: self._cancel(call_id))

    def _cancel(self, call_id: int) -> None:
        """Tell the worker of an HTTP call that its client went away (or its body was refused)."""
        worker = next((w for w in self._workers if call_id in w.calls), None)
        if worker is None:
            return
        if worker.writer is None:  # never sent (the worker is still starting): the call ends here
            worker.unsent = [(i, call) for i, call in worker.unsent if i != call_id]
            call = worker.calls.pop(call_id)
            if not call.future.done():
                call.future.set_result(None)
        elif not worker.writer.is_closing():
            write_message(worker.writer, Cancel(call_id))

    async def send_body(self, call_id: int, piece: bytes, more: bool) -> bool:
        """Send the next piece of an HTTP call's request body to the worker running the call, once the transport
        has room for it (backpressure: the host holds no more of a body than its socket buffers). False when the
        call has no worker any more (it died: the call's future says so)."""
        while True:
            worker = next((w for w in self._workers if call_id in w.calls), None)
            if worker is None:
                return False
            if worker.writer is None:  # still starting: the call itself is sent first, once it is ready
                assert worker.ready is not None
                await asyncio.wait({worker.ready})
                continue
            if worker.writer.is_closing():
                return False
            write_message(worker.writer, RequestBody(call_id, piece, more))
            try:
                await worker.writer.drain()
            except ConnectionError:
                return False
            return True

    def _send(self, call_id: int, call: _Call) -> _Worker | None:
        if self._closed or not self._workers:
            call.future.set_exception(WorkerDied("devhost is stopping"))
            return None
        fewest = min(len(w.calls) for w in self._workers)
        idle = [w for w in self._workers if len(w.calls) == fewest]
        worker = idle[next(self._turns) % len(idle)]  # the least busy; ties take turns
        call.attempts += 1
        worker.calls[call_id] = call
        if worker.writer is None or worker.writer.is_closing():
            worker.unsent.append((call_id, call))
        else:
            write_message(worker.writer, call.message)
        return worker

    # -- the processes -------------------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        number = next(self._numbers)
        command = [
            sys.executable,
            "-m",
            "devhost.worker_main",
            "--script-root",
            str(self.script_root),
            "--fd",
            str(theirs.fileno()),
            "--number",
            str(number),
        ]
        process = subprocess.Popen(command, pass_fds=(theirs.fileno(),), close_fds=True, env=_worker_env(self.env))
        theirs.close()
        worker = _Worker(number, process, ready=_future())
        self._workers.append(worker)
        asyncio.get_running_loop().create_task(self._talk(worker, ours))
        return worker

    async def _talk(self, worker: _Worker, sock: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=sock)
        worker.writer = writer
        try:
            while True:
                self._receive(worker, await read_message(reader))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the worker closed its end: it is exiting
        except Exception:  # a garbled stream: end this worker, another takes its work
            log.exception("bad message from worker process %s; stopping it", worker.process.pid)
            worker.process.kill()
        writer.close()
        if self._closed:
            return
        deadline = time.monotonic() + EXIT_GRACE_SECONDS
        while worker.process.poll() is None:
            if time.monotonic() > deadline:
                worker.process.kill()
            await asyncio.sleep(0.01)
        self._died(worker, int(worker.process.returncode))

    def _receive(self, worker: _Worker, message: WorkerMessage) -> None:
        match message:
            case Ready(functions):
                assert worker.ready is not None and worker.writer is not None
                if not worker.ready.done():
                    worker.ready.set_result(functions)
                unsent, worker.unsent = worker.unsent, []
                for _, call in unsent:
                    write_message(worker.writer, call.message)
            case LoadError(text):
                assert worker.ready is not None
                if not worker.ready.done():
                    worker.ready.set_exception(AppLoadError(text))
                self._closed = self._closed or worker.number == 0
            case Rpc():
                asyncio.get_running_loop().create_task(self._rpc(worker, message))
            case Tally(query_id, reads):
                waiter = self._tallies.pop(query_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(reads)
            case HttpStart(call_id) | HttpBody(call_id):
                call = worker.calls.get(call_id)
                if call is not None and call.stream is not None:
                    call.stream(message)
            case Result(call_id, value):
                call = worker.calls.pop(call_id, None)
                if call is not None and not call.future.done():
                    call.future.set_result(value)
            case Failure(call_id, text):
                call = worker.calls.pop(call_id, None)
                if call is not None and not call.future.done():
                    call.future.set_exception(CallFailed(text))

    async def _rpc(self, worker: _Worker, rpc: Rpc) -> None:
        instance = status_read(rpc.method, rpc.path)
        if instance is not None:
            self._watched.add(instance)
        seq = self._status_seq  # before the answer is computed: a change committed meanwhile has a later number
        answer = await self.rpc(rpc.method, rpc.path, rpc.query, rpc.body) if self.rpc is not None else None
        status, data = answer if answer is not None else (None, b"")
        if worker.writer is not None and not worker.writer.is_closing():
            write_message(worker.writer, RpcResult(rpc.rpc_id, status, data, seq))

    async def cached_status_reads(self) -> dict[str, tuple[int, list[float]]]:
        """The status reads every live worker answered from its cache (instance -> (count, latest times)), summed
        (`devhost.durable.tally`; a worker that died took its count with it)."""
        waiters = []
        for worker in self._workers:
            if worker.writer is None or worker.writer.is_closing():
                continue
            query_id = next(self._ids)
            waiter = self._tallies[query_id] = asyncio.get_running_loop().create_future()
            write_message(worker.writer, TallyQuery(query_id))
            waiters.append(waiter)
        total: dict[str, tuple[int, list[float]]] = {}
        for reads in await asyncio.wait_for(asyncio.gather(*waiters), TALLY_TIMEOUT_SECONDS) if waiters else []:
            for instance, (count, times) in reads.items():
                before, seen = total.get(instance, (0, []))
                total[instance] = (before + count, seen + list(times))
        return total

    def status_changed(self, instance_id: str) -> None:
        """A change of the instance's status was committed: workers that may hold its status drop it."""
        if instance_id not in self._watched:
            return
        self._watched.discard(instance_id)
        self._status_seq += 1
        for worker in self._workers:
            if worker.writer is not None and not worker.writer.is_closing():
                write_message(worker.writer, StatusChanged(instance_id, self._status_seq))

    def _died(self, worker: _Worker, code: int) -> None:
        """A worker exited on its own: fail its HTTP and timer calls, pass its durable work on, start another.

        One that dies before it has loaded the app while the host is starting means the app cannot be
        loaded: the start fails. Later (killed while loading, say), another is started all the same, and the
        calls it was given wait for it."""
        if worker in self._workers:
            self._workers.remove(worker)
        if worker.ready is not None and not worker.ready.done():
            worker.ready.set_exception(AppLoadError(f"the worker process exited (code {code}) before loading the app"))
        if not self.functions:  # still starting: `start` reports it
            return
        calls, worker.calls = worker.calls, {}
        never_sent = dict(
            worker.unsent
        )  # given to it while it was loading the app: they go to the next one as they are
        for call_id in never_sent:
            calls.pop(call_id, None)
        log.error(
            "Worker process %s exited (code %s) with %d call(s) running; starting another",
            worker.process.pid,
            code,
            len(calls),
        )
        self._spawn()  # a Python start and the app's import: about a second, so one that cannot load is no busy loop
        for call_id, call in never_sent.items():
            call.attempts -= 1
            self._send(call_id, call)
        for call_id, call in calls.items():
            if call.future.done():
                continue
            if call.retry and call.attempts < MAX_ATTEMPTS:
                self._send(call_id, call)
            else:
                times = f", {call.attempts} times" if call.retry else ""
                call.future.set_exception(
                    WorkerDied(f"the worker process exited (code {code}) while running it{times}")
                )


def _future() -> asyncio.Future[Any]:
    """A call's future, whose failure is never reported as "never retrieved" (a call dropped at shutdown)."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.add_done_callback(lambda done: done.cancelled() or done.exception())
    return future


def _worker_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment (settings included) and `extra`, with devhost's own folder on PYTHONPATH so that
    the worker imports the same devhost whatever the working directory."""
    env = {**os.environ, **extra}
    home = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        [home] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != home]
    )
    return env
