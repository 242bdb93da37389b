"""devhost's count of the calls made to its management API, as Azure would bill and throttle them.

On Azure every call an app's durable client makes (a status read, a start, an event raised, an entity signalled) is
a call to the host's management API and at least one request to the Durable backend's store. devhost answers some of
them without a call: a worker keeps status answers until the host says the status changed
(`worker_main.StatusCache`). To count what the app would cost on Azure, both are counted: the calls the management
routes served, by who made them (`app`: the app's client, in-process or over a worker's channel; `http`: anyone over
HTTP, such as a client polling a status URL) and by operation; and the status reads of each instance, whether a
route or a worker's cache answered them, with the times of the latest (`GET /admin/host/durable/managementcalls`).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["APP_CALL", "CALLS_PATH", "ManagementTally", "StatusReads", "merge_reads"]

APP_CALL = "devhost.app_call"
"""Set in the ASGI scope of a call the app's client made (delivered in-process or over a worker's channel)."""

CALLS_PATH = "/admin/host/durable/managementcalls"
"""devhost's count of management API calls since start (not an Azure route)."""

_KEEP_TIMES = 256
"""Times kept per instance (the latest reads)."""
_LIMIT = 4096
"""Instances whose status reads are kept (the oldest go first)."""


@dataclass
class StatusReads:
    """The status reads of one instance."""

    count: int = 0
    """Every read, answered by a route or by a worker's cache."""
    cached: int = 0
    """Of which a worker's cache answered (no call reached the host)."""
    times: deque[float] = field(default_factory=lambda: deque(maxlen=_KEEP_TIMES))
    """`time.time()` of the latest reads."""

    def add(self, at: float, *, cached: bool = False) -> None:
        self.count += 1
        self.cached += int(cached)
        self.times.append(at)

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "cached": self.cached, "times": sorted(self.times)}


def remember(reads: dict[str, StatusReads], instance: str) -> StatusReads:
    """The entry of `instance` in `reads` (made if new; the oldest dropped beyond the limit)."""
    entry = reads.get(instance)
    if entry is None:
        if len(reads) >= _LIMIT:
            reads.pop(next(iter(reads)))
        entry = reads[instance] = StatusReads()
    return entry


def merge_reads(into: dict[str, StatusReads], more: dict[str, tuple[int, list[float]]]) -> None:
    """Add a worker's cache-answered reads (instance -> (count, times)) to `into`."""
    for instance, (count, times) in more.items():
        entry = remember(into, instance)
        entry.count += count
        entry.cached += count
        entry.times.extend(times)
        entry.times = deque(sorted(entry.times)[-_KEEP_TIMES:], maxlen=_KEEP_TIMES)


class ManagementTally:
    """The management API's calls since start, by source and operation, and the status reads of each instance."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.reads: dict[str, StatusReads] = {}

    def count(self, source: str, operation: str, instance: str | None = None) -> None:
        """One call of `operation` by `source` (`app` or `http`); a status read of `instance` when it is one."""
        self.calls[(source, operation)] += 1
        if operation == "status" and instance is not None and source == "app":
            remember(self.reads, instance).add(time.time())

    def snapshot(self, cached: dict[str, tuple[int, list[float]]] | None = None) -> dict[str, Any]:
        """The counts as JSON, the workers' cache-answered status reads (`cached`) added in."""
        by_source: dict[str, dict[str, int]] = {}
        for (source, operation), n in sorted(self.calls.items()):
            by_source.setdefault(source, {})[operation] = n
        reads = {k: StatusReads(v.count, v.cached, deque(v.times, maxlen=_KEEP_TIMES)) for k, v in self.reads.items()}
        merge_reads(reads, cached or {})
        app = by_source.setdefault("app", {})
        hits = sum(count for count, _ in (cached or {}).values())
        if hits:
            app["status"] = app.get("status", 0) + hits
        return {"calls": by_source, "statusReads": {k: v.as_json() for k, v in reads.items()}}
