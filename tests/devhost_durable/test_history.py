"""History event builders: the shapes the SDK's HistoryEvent accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from azure.durable_functions.models.history import HistoryEvent, HistoryEventType

from devhost.durable import history as h

T0 = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)


def test_every_builder_is_readable_by_the_sdk() -> None:
    """Each event parses into the SDK's HistoryEvent with the right type and timestamp."""
    events = [
        h.execution_started(T0, "orch", "i", "e", '"in"'),
        h.orchestrator_started(T0),
        h.task_scheduled(T0, 0, "act", "1"),
        h.task_completed(T0, 0, '"r"'),
        h.task_failed(T0, 1, "why", "trace"),
        h.sub_orchestration_created(T0, 2, "sub", "c", None),
        h.sub_orchestration_completed(T0, 2, "3"),
        h.sub_orchestration_failed(T0, 3, "why", None),
        h.timer_created(T0, 4, T0 + timedelta(seconds=5)),
        h.timer_fired(T0, 4, T0 + timedelta(seconds=5)),
        h.event_sent(T0, 5, "@e@k", "op", "{}"),
        h.event_raised(T0, "go", "true"),
        h.execution_completed(T0, "1"),
        h.execution_terminated(T0, "stop"),
    ]
    parsed = [HistoryEvent(**event) for event in events]
    assert [p.event_type for p in parsed][:4] == [
        HistoryEventType.EXECUTION_STARTED,
        HistoryEventType.ORCHESTRATOR_STARTED,
        HistoryEventType.TASK_SCHEDULED,
        HistoryEventType.TASK_COMPLETED,
    ]
    assert all(p.timestamp == T0 for p in parsed)
    assert parsed[0].Version == "" and parsed[3].TaskScheduledId == 0 and parsed[9].TimerId == 4


def test_time_format_round_trips() -> None:
    """format_time writes microseconds and Z; parse_time reads it and offsets back."""
    text = h.format_time(T0 + timedelta(microseconds=7))
    assert text == "2026-01-01T12:30:00.000007Z"
    assert h.parse_time(text) == T0 + timedelta(microseconds=7)
    assert h.parse_time("2026-01-01T13:30:00+01:00") == T0
