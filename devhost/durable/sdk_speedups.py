"""One host-side speed-up of the SDK's replay: memoized history timestamp parsing.

`HistoryEvent.__init__` parses every event's `Timestamp` with `dateutil.parser.parse`
(about 100 µs each), and replay re-parses the whole history at every step, so parsing
dominated step time. The same timestamp strings recur (every replay of an instance, and
all events of one engine round share one timestamp), so the engine wraps the function
the SDK bound as `dt_parse` in an LRU cache. Results are identical (the same
`dateutil` call on a miss; `datetime` objects are immutable, so sharing them is safe).
Set `DEVHOST_DURABLE_TIMESTAMP_CACHE=0` to run the SDK untouched.
"""
from __future__ import annotations

import functools
import importlib
import os
from typing import Any

__all__ = ["install_timestamp_cache"]

_MODULE = "azure.durable_functions.models.history.HistoryEvent"


def install_timestamp_cache(maxsize: int = 65536) -> bool:
    """Memoize the SDK's history timestamp parser; False when disabled by the environment."""
    if os.environ.get("DEVHOST_DURABLE_TIMESTAMP_CACHE", "1").strip().lower() in ("0", "false", "no"):
        return False
    module: Any = importlib.import_module(_MODULE)
    if getattr(module.dt_parse, "devhost_cached", False):
        return True
    cached = functools.lru_cache(maxsize=maxsize)(module.dt_parse)
    cached.devhost_cached = True  # type: ignore[attr-defined]
    module.dt_parse = cached
    return True
