"""The memoized SDK timestamp parser gives exactly what dateutil gives."""
from __future__ import annotations

import importlib

from dateutil.parser import parse

from devhost.durable.sdk_speedups import install_timestamp_cache


def test_cached_parser_matches_dateutil_and_is_installed_once() -> None:
    """Same values as dateutil for the engine's formats; installing twice keeps one wrapper."""
    assert install_timestamp_cache()
    module = importlib.import_module("azure.durable_functions.models.history.HistoryEvent")
    first = module.dt_parse
    assert install_timestamp_cache() and module.dt_parse is first
    for text in ("2026-11-20T23:19:43.123456Z", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00"):
        assert module.dt_parse(text) == parse(text)
        assert module.dt_parse(text).utcoffset() == parse(text).utcoffset()


def test_cache_can_be_disabled(monkeypatch) -> None:
    """DEVHOST_DURABLE_TIMESTAMP_CACHE=0 leaves the SDK untouched."""
    monkeypatch.setenv("DEVHOST_DURABLE_TIMESTAMP_CACHE", "0")
    assert install_timestamp_cache() is False
