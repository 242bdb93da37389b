"""A process's memory from Linux's /proc: resident size now, and its peak since a reset."""

from __future__ import annotations

from pathlib import Path

__all__ = ["peak_kib", "reset_peak", "resident_kib"]


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"/proc/{pid}/status has no {field}")


def resident_kib(pid: int) -> int:
    """The process's resident set size now (VmRSS), in KiB."""
    return _status_kib(pid, "VmRSS")


def peak_kib(pid: int) -> int:
    """The largest resident set size the process has had since its start or `reset_peak` (VmHWM), in KiB."""
    return _status_kib(pid, "VmHWM")


def reset_peak(pid: int) -> None:
    """Make the process's peak (VmHWM) its resident size now (Linux 4.0+: `5` to /proc/<pid>/clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
