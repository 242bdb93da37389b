"""Child processes of devhost: stopping one by its PID, and a child that dies with its parent."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys

__all__ = ["die_with_parent", "stop_process"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask Linux to send this process `signum` when its parent dies (prctl PR_SET_PDEATHSIG); elsewhere nothing.

    Call it in the child: in `preexec_fn` (only before the parent starts threads) or first thing in its main.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum)
    except (OSError, AttributeError):
        pass


def stop_process(process: subprocess.Popen[bytes], grace_seconds: float) -> int:
    """SIGTERM `process` if it still runs, wait up to `grace_seconds`, then SIGKILL; its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
