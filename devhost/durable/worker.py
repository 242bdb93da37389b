"""Activities in a worker process: the host's engine and the app's activity code on two cores.

On Azure the Functions host (the durable engine, HTTP, storage) and the Python worker (the
app's code) are separate processes. devhost runs both in one Python process, so everything
shares one GIL; a model call's client work on an activity thread competes with the event loop
that drives orchestrations and serves HTTP. `ProcessActivityRunner` moves activity execution
into a child process (`python -m devhost.durable.activity_worker`), which loads the same app and runs
activities with the in-process `ActivityRunner` (same input decoding, output encoding and
failure events); the two exchange pickled `ActivityRow`s and history events over a socket pair
(length-prefixed pickles, read and written by each side's event loop).

It behaves like the in-process runner toward the engine: `dispatch(row)`, then `done(row,
event)` on the event loop. If the worker process dies (an activity called `os._exit`, or it was
killed), it is started again and the activities it was running are sent again, at most
`MAX_ATTEMPTS` times each, then they fail with a `TaskFailed` that says so. The worker exits
when devhost does, even on SIGKILL (its end of the socket pair reads EOF; on Linux it also asks
the kernel for SIGKILL when its parent dies). `DEVHOST_DURABLE_ACTIVITY_PROCESS=0` keeps
activities on threads in devhost's own process.
"""
from __future__ import annotations

import asyncio
import logging
import os
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from devhost.durable import history as h
from devhost.durable.activities import missing_activity
from devhost.durable.store import ActivityRow
from devhost.loader import FunctionSpec
from devhost.processes import stop_process

__all__ = ["CLIENT_BINDING_ENV", "MAX_ATTEMPTS", "ProcessActivityRunner", "activity_process_enabled", "frame", "read_frame"]

log = logging.getLogger("devhost.durable")

MAX_ATTEMPTS = 3
"""Times one activity is sent to a worker process that then dies before answering."""
EXIT_GRACE_SECONDS = 5.0
"""How long a worker that closed its socket may take to exit before it is killed."""


def activity_process_enabled(environ: dict[str, str] | None = None, platform: str = os.name) -> bool:
    """Whether activities run in a worker process: on POSIX systems (the socket pair is handed to
    the child by file descriptor), unless `DEVHOST_DURABLE_ACTIVITY_PROCESS` is 0/false/no/off."""
    setting = (os.environ if environ is None else environ).get("DEVHOST_DURABLE_ACTIVITY_PROCESS", "1")
    return platform == "posix" and setting.strip().lower() not in {"0", "false", "no", "off"}


class ProcessActivityRunner:
    """Sends activity work items to a worker process and reports each outcome as a history event.

    Everything happens on the engine's event loop: work items are written to the worker's socket
    through an asyncio stream (buffered, so a worker still starting never blocks the loop) and
    outcomes are read from it by the loop itself, so no thread has to wake up for either.
    """

    def __init__(
        self,
        functions: dict[str, FunctionSpec],
        done: Callable[[ActivityRow, h.Event], None],
        script_root: Path,
        client_binding: str | None = None,
    ) -> None:
        self._functions = functions
        self._done = done
        self._script_root = script_root
        self._client_binding = client_binding
        self._in_flight: dict[int, ActivityRow] = {}
        self._attempts: dict[int, int] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._unsent: list[ActivityRow] = []
        """Work dispatched while the worker's stream is not open yet."""
        self._closed = False
        self._generation = 0

    # -- engine side -----------------------------------------------------------------------
    def dispatch(self, activity: ActivityRow) -> None:
        if activity.name.lower() not in self._functions:
            self._done(activity, missing_activity(activity))
            return
        if self._closed:
            return
        if self._process is None:
            self._start_worker()
        self._in_flight[activity.id] = activity
        self._attempts[activity.id] = self._attempts.get(activity.id, 0) + 1
        self._send(activity)

    def close(self) -> None:
        """Stop the worker process (what it runs is dropped: it runs again after a restart)."""
        self._closed = True
        process, writer = self._process, self._writer
        self._process = self._writer = None
        if writer is not None:
            writer.close()
        if process is not None:
            stop_process(process, 5)

    # -- the worker process ------------------------------------------------------------------
    def _send(self, activity: ActivityRow) -> None:
        if self._writer is None or self._writer.is_closing():
            # Not started yet, or its worker just died: the next worker gets it (it stays in flight).
            if self._writer is None:
                self._unsent.append(activity)
            return
        try:
            self._writer.write(frame(activity))
        except (RuntimeError, ConnectionError):  # the transport closed under us: the worker is dying
            pass

    def _start_worker(self) -> None:
        """Start a worker process; its stream opens on the loop, then unsent work goes to it."""
        ours, theirs = socket.socketpair()
        command = [sys.executable, "-m", "devhost.durable.activity_worker", "--script-root", str(self._script_root),
                   "--fd", str(theirs.fileno())]
        self._process = subprocess.Popen(command, pass_fds=(theirs.fileno(),), close_fds=True,
                                         env=_worker_env(self._client_binding))
        theirs.close()
        self._generation += 1
        self._writer = None
        # Work sent to a previous worker and not answered goes to this one.
        self._unsent = list(self._in_flight.values())
        asyncio.get_running_loop().create_task(self._talk(ours, self._process, self._generation))

    async def _talk(self, sock: socket.socket, process: subprocess.Popen[bytes], generation: int) -> None:
        """Open the worker's stream, send what waits, then read outcomes until the worker goes."""
        reader, writer = await asyncio.open_connection(sock=sock)
        if self._closed or generation != self._generation:
            writer.close()
            return
        self._writer = writer
        unsent, self._unsent = self._unsent, []
        for activity in unsent:
            writer.write(frame(activity))
        try:
            while True:
                activity_id, event = await read_frame(reader)
                activity = self._in_flight.pop(activity_id, None)
                self._attempts.pop(activity_id, None)
                if activity is not None and not self._closed:
                    self._done(activity, event)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the worker closed its end: it is exiting
        except Exception:  # a garbled stream: end this worker, the next one gets its work
            log.exception("bad message from the activity worker process %s; stopping it", process.pid)
            process.kill()
        writer.close()
        if self._closed or generation != self._generation:
            return
        deadline = time.monotonic() + EXIT_GRACE_SECONDS
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
            await asyncio.sleep(0.01)
        self._worker_died(int(process.returncode))

    def _worker_died(self, code: int) -> None:
        """The worker process ended on its own: fail what ran too often, start another for the rest."""
        self._process = self._writer = None
        given_up = [a for a in self._in_flight.values() if self._attempts.get(a.id, 0) >= MAX_ATTEMPTS]
        for activity in given_up:
            del self._in_flight[activity.id]
            self._attempts.pop(activity.id, None)
        for activity in self._in_flight.values():
            self._attempts[activity.id] = self._attempts.get(activity.id, 0) + 1
        log.error("The activity worker process exited (code %s) with %d activities running; starting another",
                  code, len(self._in_flight) + len(given_up))
        for activity in given_up:
            reason = (f"Activity function '{activity.name}' failed: the worker process exited (code {code}) "
                      f"while running it, {MAX_ATTEMPTS} times")
            self._done(activity, h.task_failed(h.utc_now(), activity.task_id, reason, None))
        if self._in_flight:
            self._start_worker()


CLIENT_BINDING_ENV = "DEVHOST_DURABLE_CLIENT_BINDING"
"""How the worker process learns the durable client binding JSON it gives activities that ask for it."""


def _worker_env(client_binding: str | None = None) -> dict[str, str]:
    """This process's environment (settings included), with devhost's own folder on PYTHONPATH
    so that the worker imports the same devhost whatever the working directory."""
    env = dict(os.environ)
    if client_binding is not None:
        env[CLIENT_BINDING_ENV] = client_binding
    home = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([home] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != home])
    return env


def frame(value: Any) -> bytes:
    """`value` pickled, after its length (4 bytes, big-endian)."""
    data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(4, "big") + data


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next value `frame` encoded (IncompleteReadError at the end of the stream)."""
    size = int.from_bytes(await reader.readexactly(4), "big")
    return pickle.loads(await reader.readexactly(size))
