"""Activities in a worker process: the host's engine and the app's activity code on two cores.

On Azure the Functions host (the durable engine, HTTP, storage) and the Python worker (the
app's code) are separate processes. devhost runs both in one Python process, so everything
shares one GIL; a model call's client work on an activity thread competes with the event loop
that drives orchestrations and serves HTTP. `ProcessActivityRunner` moves activity execution
into a child process (`python -m devhost.durable.worker`), which loads the same app and runs
activities with the in-process `ActivityRunner` (same input decoding, output encoding and
failure events); the two exchange pickled `ActivityRow`s and history events over a socket pair.

It behaves like the in-process runner toward the engine: `dispatch(row)`, then `done(row,
event)` on the event loop. If the worker process dies (an activity called `os._exit`, or it was
killed), it is started again and the activities it was running are sent again, at most
`MAX_ATTEMPTS` times each, then they fail with a `TaskFailed` that says so. The worker exits
when devhost does, even on SIGKILL (its end of the socket pair reads EOF; on Linux it also asks
the kernel for SIGKILL when its parent dies). `DEVHOST_DURABLE_ACTIVITY_PROCESS=0` keeps
activities on threads in devhost's own process.
"""
from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from devhost.durable import history as h
from devhost.durable.activities import ActivityRunner, Outcomes
from devhost.durable.store import ActivityRow
from devhost.loader import FunctionSpec

__all__ = ["MAX_ATTEMPTS", "ProcessActivityRunner", "activity_process_enabled", "main"]

log = logging.getLogger("devhost.durable")

MAX_ATTEMPTS = 3
"""Times one activity is sent to a worker process that then dies before answering."""
_STOP = None


def activity_process_enabled() -> bool:
    """Whether activities run in a worker process (`DEVHOST_DURABLE_ACTIVITY_PROCESS`, default on)."""
    return os.environ.get("DEVHOST_DURABLE_ACTIVITY_PROCESS", "1").strip().lower() not in {"0", "false", "no", "off"}


class ProcessActivityRunner:
    """Sends activity work items to a worker process and reports each outcome as a history event."""

    def __init__(
        self,
        functions: dict[str, FunctionSpec],
        done: Callable[[ActivityRow, h.Event], None],
        script_root: Path,
    ) -> None:
        self._functions = functions
        self._done = done
        self._outcomes = Outcomes(done)
        self._script_root = script_root
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._in_flight: dict[int, ActivityRow] = {}
        self._attempts: dict[int, int] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._outbox: list[ActivityRow] = []
        self._send_ready = threading.Condition(self._lock)
        self._closed = False
        self._generation = 0

    # -- engine side -----------------------------------------------------------------------
    def dispatch(self, activity: ActivityRow) -> None:
        if activity.name.lower() not in self._functions:
            reason = f"The function '{activity.name}' doesn't exist, is disabled, or is not an activity function."
            self._done(activity, h.task_failed(h.utc_now(), activity.task_id, reason, None))
            return
        if self._loop is None:
            self._loop = self._outcomes.loop = asyncio.get_running_loop()
        if self._process is None and not self._closed:
            self._start_worker()
        with self._lock:
            self._in_flight[activity.id] = activity
            self._attempts[activity.id] = self._attempts.get(activity.id, 0) + 1
            self._outbox.append(activity)
            self._send_ready.notify()

    def close(self) -> None:
        """Stop the worker process; results that arrive after this are dropped."""
        self._outcomes.closed = True
        with self._lock:
            self._closed = True
            self._send_ready.notify_all()
            process, conn = self._process, self._conn
        if conn is not None:
            try:
                conn.send_bytes(pickle.dumps(_STOP))
            except OSError:
                pass
        if process is not None:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if conn is not None:
            conn.close()

    @property
    def pid(self) -> int | None:
        """The worker process's id while it runs."""
        return self._process.pid if self._process is not None else None

    # -- the worker process ------------------------------------------------------------------
    def _start_worker(self) -> None:
        """Start a worker process and its sender and receiver threads (on the loop's thread)."""
        ours, theirs = socket.socketpair()
        theirs.set_inheritable(True)
        command = [sys.executable, "-m", "devhost.durable.worker", "--script-root", str(self._script_root),
                   "--fd", str(theirs.fileno())]
        self._process = subprocess.Popen(command, pass_fds=(theirs.fileno(),), close_fds=True)
        theirs.close()
        conn = Connection(ours.detach())
        with self._lock:
            self._conn = conn
            self._generation += 1
            generation = self._generation
            # Work sent to a previous worker and not answered goes to this one.
            self._outbox = list(self._in_flight.values())
            self._send_ready.notify_all()
        threading.Thread(target=self._send, args=(conn, generation), name="durable-worker-send", daemon=True).start()
        threading.Thread(target=self._receive, args=(conn, self._process, generation),
                         name="durable-worker-receive", daemon=True).start()

    def _send(self, conn: Connection, generation: int) -> None:
        while True:
            with self._lock:
                while not self._outbox and not self._closed and generation == self._generation:
                    self._send_ready.wait()
                if self._closed or generation != self._generation:
                    return
                batch, self._outbox = self._outbox, []
            try:
                for activity in batch:
                    conn.send_bytes(pickle.dumps(activity, pickle.HIGHEST_PROTOCOL))
            except OSError:
                return  # the worker died; the receiver restarts it and the work goes again

    def _receive(self, conn: Connection, process: subprocess.Popen[bytes], generation: int) -> None:
        while True:
            try:
                activity_id, event = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                break
            with self._lock:
                activity = self._in_flight.pop(activity_id, None)
                self._attempts.pop(activity_id, None)
            if activity is not None:
                self._outcomes.put(activity, event)
        code = process.wait()
        if not self._closed and self._loop is not None:
            self._loop.call_soon_threadsafe(self._worker_died, generation, code)

    def _worker_died(self, generation: int, code: int) -> None:
        """The worker process ended on its own: fail what ran too often, start another for the rest."""
        if self._closed or generation != self._generation:
            return
        self._conn = None
        self._process = None
        with self._lock:
            given_up = [a for a in self._in_flight.values() if self._attempts.get(a.id, 0) >= MAX_ATTEMPTS]
            for activity in given_up:
                del self._in_flight[activity.id]
                self._attempts.pop(activity.id, None)
            for activity in self._in_flight.values():
                self._attempts[activity.id] = self._attempts.get(activity.id, 0) + 1
            self._outbox = []
            retrying = len(self._in_flight)
        log.error("The activity worker process exited (code %s) with %d activities running; starting another",
                  code, retrying + len(given_up))
        for activity in given_up:
            reason = (f"Activity function '{activity.name}' failed: the worker process exited (code {code}) "
                      f"while running it, {MAX_ATTEMPTS} times")
            self._done(activity, h.task_failed(h.utc_now(), activity.task_id, reason, None))
        if retrying:
            self._start_worker()


# -- the worker process itself -------------------------------------------------------------------
def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _activity_functions(script_root: Path) -> dict[str, FunctionSpec]:
    from devhost.loader import load_app

    functions: dict[str, FunctionSpec] = {}
    for spec in load_app(script_root).functions:
        if spec.trigger_type.lower() == "activitytrigger":
            for name in {spec.name, str(spec.trigger.get("activity") or spec.name)}:
                functions[name.lower()] = spec
    return functions


def _serve(conn: Connection, functions: dict[str, FunctionSpec]) -> None:
    """Run activities as they arrive until the host says stop or goes away."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    send_lock = threading.Lock()

    def done(activity: ActivityRow, event: h.Event) -> None:
        data = pickle.dumps((activity.id, event), pickle.HIGHEST_PROTOCOL)
        with send_lock:
            conn.send_bytes(data)

    runner = ActivityRunner(functions, done)

    def receive() -> None:
        while True:
            try:
                item: Any = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                os._exit(0)  # the host is gone: nothing to report results to
            if item is _STOP:
                loop.call_soon_threadsafe(loop.stop)
                return
            loop.call_soon_threadsafe(runner.dispatch, item)

    threading.Thread(target=receive, name="worker-receive", daemon=True).start()
    loop.run_forever()
    runner.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m devhost.durable.worker --script-root DIR --fd N` (started by `ProcessActivityRunner`)."""
    parser = argparse.ArgumentParser(prog="python -m devhost.durable.worker")
    parser.add_argument("--script-root", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the host stops us
    conn = Connection(args.fd)
    from devhost.cli import configure_logging
    from devhost.config import read_host_json

    configure_logging(read_host_json(args.script_root))
    _serve(conn, _activity_functions(args.script_root))
    os._exit(0)  # activity threads still running are not waited for: the host has stopped


if __name__ == "__main__":
    sys.exit(main())
