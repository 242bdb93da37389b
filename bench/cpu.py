"""CPU time of a process and its children, read from Linux's `/proc` (None elsewhere).

The assistant benchmark uses it to say where a turn's CPU goes: devhost's own process (bound by
its GIL at about one core) and its worker process(es).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["child_pids", "cpu_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by process `pid` (all its threads), or None if unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of stat)


def child_pids(pid: int) -> list[int]:
    """The direct children of process `pid` (empty if unknown)."""
    children: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children.extend(int(c) for c in (task / "children").read_text().split())
    except OSError:
        return []
    return children
