"""Host-side speed-ups of the SDK: memoize pure helpers it calls on every replay step or status read.

Replay re-runs the SDK's executor over the whole history at every step; these helpers depend on
nothing but their arguments:

- `HistoryEvent.__init__` parses every event's `Timestamp` with `dateutil.parser.parse`. The same
  strings recur (every replay of an instance; all events of one engine round share one timestamp),
  so the function the SDK bound as `dt_parse` is wrapped in an LRU cache. `datetime` objects are
  immutable: sharing them is safe. Strings in the engine's own format
  (`2026-11-20T23:19:43.123456Z`, what `history.format_time` writes) skip dateutil:
  `datetime.fromisoformat` with dateutil's UTC zone, the same instant and offset. Other strings go
  to dateutil.
- `DurableOrchestrationStatus.__init__` parses `createdTime` and `lastUpdatedTime` the same
  way on every `get_status` the app's client makes (an app waiting for an instance polls it;
  both strings repeat from poll to poll), so its `dt_parse` gets the same cache.
- `TaskOrchestrationExecutor.__init__` builds a `namedtuple` class for a constant two-field
  record on every step. The `namedtuple` the SDK module bound is
  wrapped in a cache, so the same class is reused; the executor only instantiates it.

Results are identical (the original call on a miss). Set `DEVHOST_DURABLE_SDK_SPEEDUPS=0`
to run the SDK untouched. What they saved: `docs/performance.md`, "devhost: history and measurements".
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from dateutil import tz

__all__ = ["install_sdk_speedups"]

_TARGETS = (
    ("azure.durable_functions.models.history.HistoryEvent", "dt_parse", 65536),
    ("azure.durable_functions.models.DurableOrchestrationStatus", "dt_parse", 4096),
    ("azure.durable_functions.models.TaskOrchestrationExecutor", "namedtuple", 64),
)


_ENGINE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z")


def _fast_time_parser(original: Callable[..., Any]) -> Callable[..., Any]:
    """`original` (dateutil's parse), with the engine's UTC format parsed by `datetime.fromisoformat`."""

    def parse(text: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs and isinstance(text, str) and _ENGINE_TIME.fullmatch(text):
            return datetime.fromisoformat(text[:-1]).replace(tzinfo=tz.UTC)
        return original(text, *args, **kwargs)

    return parse


def install_sdk_speedups() -> bool:
    """Memoize the SDK helpers above (once per process); False when disabled by the environment."""
    if os.environ.get("DEVHOST_DURABLE_SDK_SPEEDUPS", "1").strip().lower() in ("0", "false", "no"):
        return False
    for module_name, attribute, size in _TARGETS:
        module: Any = importlib.import_module(module_name)
        original = getattr(module, attribute)
        if getattr(original, "devhost_cached", False):
            continue
        target = _fast_time_parser(original) if attribute == "dt_parse" else original
        cached = functools.lru_cache(maxsize=size)(target)
        cached.devhost_cached = True  # type: ignore[attr-defined]
        setattr(module, attribute, cached)
    return True
