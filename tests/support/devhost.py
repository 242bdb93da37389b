"""`python -m devhost start` as a subprocess on a free port, for integration tests.

The process's stdout and stderr go to a log file next to its data directory (never a pipe
that could fill up and block it); `log_text()` reads it back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from devhost.processes import stop_process
from tests.support.ports import free_port

__all__ = ["REPO_ROOT", "DevhostProcess", "DevhostStartError", "child_pids", "start_devhost"]

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root: where the `devhost` package lives."""

_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 20.0


class DevhostStartError(RuntimeError):
    """devhost exited or did not report Running in time; the message carries its log."""


@dataclass
class DevhostProcess:
    """One running `python -m devhost start` subprocess."""

    script_root: Path
    """The app folder served (holds `function_app.py`)."""
    data_dir: Path
    """The devhost data directory (`--data-dir`)."""
    port: int
    """The loopback port it listens on."""
    env: dict[str, str]
    """The full environment the process was started with."""
    extra_args: tuple[str, ...] = ()
    """Extra `devhost start` arguments, e.g. `("--require-keys",)`."""
    log_path: Path = field(init=False)
    """Where its stdout and stderr go."""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log_file: IO[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.devhost.log"

    @property
    def base_url(self) -> str:
        """The origin, e.g. `http://127.0.0.1:54321` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self.process.pid if self.process is not None else None

    def command(self) -> list[str]:
        """The command line used to start devhost."""
        return [
            sys.executable,
            "-m",
            "devhost",
            "start",
            "--script-root",
            str(self.script_root),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]

    def start(self, timeout: float = _START_TIMEOUT) -> DevhostProcess:
        """Start the process and wait until `/admin/host/status` says Running."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("devhost is already running")
        self._log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command(),
            cwd=str(self.script_root),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self._wait_running(timeout)
        return self

    def _wait_running(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DevhostStartError(
                    f"devhost exited with code {self.process.returncode} before it was Running:\n" + self.log_text()
                )
            try:
                response = httpx.get(f"{self.base_url}/admin/host/status", timeout=2.0)
                if response.status_code == 200 and response.json().get("state") == "Running":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        self.kill()
        raise DevhostStartError(f"devhost was not Running after {timeout:.0f}s:\n" + self.log_text())

    def stop(self, timeout: float = _STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait for a graceful exit (SIGKILL after `timeout` s); the exit code."""
        if self.process is None:
            return None
        code = stop_process(self.process, timeout)
        self._close_log()
        return code

    def kill(self) -> None:
        """SIGKILL (a crash: no shutdown hooks run)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def restart(self, timeout: float = _START_TIMEOUT) -> DevhostProcess:
        """Stop (if running) and start again on the same port and data directory."""
        self.stop()
        return self.start(timeout)

    def log_text(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        if self._log_file is not None:
            self._log_file.flush()
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> DevhostProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_devhost(
    script_root: Path,
    *,
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    port: int | None = None,
    timeout: float = _START_TIMEOUT,
) -> DevhostProcess:
    """Start devhost serving `script_root` on a free port; returns once it is Running.

    `env` is laid over this process's environment; the repository root is put on
    `PYTHONPATH` so `python -m devhost` imports from any working directory.
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    python_path = [str(REPO_ROOT)] + [p for p in full_env.get("PYTHONPATH", "").split(os.pathsep) if p]
    full_env["PYTHONPATH"] = os.pathsep.join(python_path)
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    process = DevhostProcess(
        script_root=Path(script_root).resolve(),
        data_dir=Path(data_dir).resolve(),
        port=port if port is not None else free_port(),
        env=full_env,
        extra_args=tuple(extra_args),
    )
    return process.start(timeout)


def child_pids(parent: int, marker: str) -> list[int]:
    """PIDs of `parent`'s child processes whose command line contains `marker` (Linux /proc)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == parent and marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found
