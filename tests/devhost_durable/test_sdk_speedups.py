"""The memoized SDK helpers give exactly what the originals give."""

from __future__ import annotations

import importlib

from dateutil.parser import parse

from devhost.durable.sdk_speedups import install_sdk_speedups


def test_cached_timestamp_parser_matches_dateutil_and_is_installed_once() -> None:
    """Same values as dateutil for the engine's formats; installing twice keeps one wrapper."""
    assert install_sdk_speedups()
    module = importlib.import_module("azure.durable_functions.models.history.HistoryEvent")
    first = module.dt_parse
    assert install_sdk_speedups() and module.dt_parse is first
    for text in ("2026-11-20T23:19:43.123456Z", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00"):
        assert module.dt_parse(text) == parse(text)
        assert module.dt_parse(text).utcoffset() == parse(text).utcoffset()


def test_executor_reuses_its_record_class() -> None:
    """Two executors share one SetTaskValuePayload class with the SDK's fields."""
    install_sdk_speedups()
    from azure.durable_functions.models.TaskOrchestrationExecutor import TaskOrchestrationExecutor

    first, second = TaskOrchestrationExecutor(), TaskOrchestrationExecutor()
    one = next(iter(first.event_to_SetTaskValuePayload.values()))
    two = next(iter(second.event_to_SetTaskValuePayload.values()))
    assert type(one) is type(two) and one._fields == ("is_success", "task_id_key")


def test_speedups_can_be_disabled(monkeypatch) -> None:
    """DEVHOST_DURABLE_SDK_SPEEDUPS=0 leaves the SDK untouched."""
    monkeypatch.setenv("DEVHOST_DURABLE_SDK_SPEEDUPS", "0")
    assert install_sdk_speedups() is False


def test_status_timestamps_parse_through_the_cache_to_the_same_values() -> None:
    """`get_status` results (DurableOrchestrationStatus) get the cached parser and dateutil's exact values."""
    install_sdk_speedups()
    module = importlib.import_module("azure.durable_functions.models.DurableOrchestrationStatus")
    assert getattr(module.dt_parse, "devhost_cached", False)
    status = module.DurableOrchestrationStatus.from_json(
        {
            "createdTime": "2026-11-20T23:19:43.123456Z",
            "lastUpdatedTime": "2026-11-20T23:19:44Z",
            "runtimeStatus": "Running",
        }
    )
    assert status.created_time == parse("2026-11-20T23:19:43.123456Z")
    assert status.last_updated_time == parse("2026-11-20T23:19:44Z")
    assert status.last_updated_time.utcoffset() == parse("2026-11-20T23:19:44Z").utcoffset()


def test_engine_timestamps_skip_dateutil_with_the_same_instant() -> None:
    """The engine's `...Z` format parses without dateutil to dateutil's instant and UTC offset; others still go to
    dateutil."""
    from datetime import timedelta

    from dateutil import tz

    from devhost.durable.history import format_time
    from devhost.durable.sdk_speedups import _fast_time_parser

    calls: list[str] = []

    def recording(text: str) -> object:
        calls.append(text)
        return parse(text)

    fast = _fast_time_parser(recording)
    engine_texts = [format_time(parse("2026-11-20T23:19:43.123456Z")), "2026-11-20T23:19:43Z", "2026-11-20T23:19:43.5Z"]
    for text in engine_texts:
        value = fast(text)
        assert value == parse(text) and value.utcoffset() == timedelta(0) and value.tzinfo is tz.UTC
    assert calls == []
    others = ("2026-01-01T01:00:00+01:00", "2026-11-20 23:19:43", "Nov 20 2026")
    for text in others:
        value = fast(text)
        assert value == parse(text) and value.utcoffset() == parse(text).utcoffset()
    assert calls == list(others)
