"""The SQLite store: one transaction per batch, reads, queries, purge."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from devhost.durable.store import ActivityRow, EntityRow, InstanceRow, MessageRow, Store, WriteBatch


def _row(instance_id: str, status: str = "Running", created: str = "2026-01-01T00:00:00.000000Z") -> InstanceRow:
    return InstanceRow(
        instance_id, "orch", status, "e1", '"in"', None, None, created, created, {"instance_id": "p"}, None
    )


def test_batch_round_trip_and_wal(tmp_path: Path) -> None:
    """Everything written in one batch reads back; the database is in WAL mode."""
    store = Store(tmp_path / "hub.sqlite")
    batch = WriteBatch(
        instances={"a": _row("a")},
        history=[("a", 0, '{"EventType":0}'), ("a", 1, '{"EventType":12}')],
        messages=[MessageRow(5, "a", "e1", None, {"EventType": 15}), MessageRow(6, "@c@k", None, 9.5, {"request": {}})],
        activities=[ActivityRow(7, "a", "e1", 0, "hello", '"x"')],
        entities={"@c@k": EntityRow("@c@k", "c", "k", "3", "t")},
    )
    store.commit(batch)
    assert store.get_instance("a") == _row("a")
    assert store.history("a") == ['{"EventType":0}', '{"EventType":12}']
    assert [m.id for m in store.messages()] == [5, 6] and store.messages()[1].visible_at == 9.5
    assert store.activities()[0].name == "hello" and store.max_ids() == 7
    assert store.get_entity("@c@k") == EntityRow("@c@k", "c", "k", "3", "t")
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.commit(WriteBatch(delete_messages=[5], delete_activities=[7], delete_entities=["@c@k"], reset_history=["a"]))
    assert [m.id for m in store.messages()] == [6] and store.activities() == [] and store.history("a") == []
    assert store.get_entity("@c@k") is None
    store.close()


def test_failed_batch_writes_nothing(tmp_path: Path) -> None:
    """A batch that fails half-way is rolled back entirely."""
    store = Store(tmp_path / "hub.sqlite")
    store.commit(WriteBatch(messages=[MessageRow(1, "a", None, None, {})]))
    with pytest.raises(sqlite3.IntegrityError):
        store.commit(WriteBatch(instances={"b": _row("b")}, messages=[MessageRow(1, "b", None, None, {})]))
    assert store.get_instance("b") is None and len(store.messages()) == 1
    store.close()


def test_query_filters_paging_and_purge(tmp_path: Path) -> None:
    """Created-time range, status, prefix and offset/limit; purge removes every trace."""
    store = Store(tmp_path / "hub.sqlite")
    rows = {
        f"q{i}": _row(f"q{i}", "Completed" if i % 2 else "Running", f"2026-01-0{i + 1}T00:00:00.000000Z")
        for i in range(5)
    }
    rows["other"] = _row("other", "Completed", "2026-01-09T00:00:00.000000Z")
    store.commit(WriteBatch(instances=rows, history=[("q1", 0, "{}")], messages=[MessageRow(3, "q1", None, None, {})]))
    ids = lambda found: [r.instance_id for r in found]  # noqa: E731
    assert ids(store.query_instances(statuses=["Completed"], prefix="q")) == ["q1", "q3"]
    assert ids(
        store.query_instances(created_from="2026-01-02T00:00:00.000000Z", created_to="2026-01-04T00:00:00.000000Z")
    ) == ["q1", "q2", "q3"]
    assert ids(store.query_instances(offset=2, limit=2)) == ["q2", "q3"]
    assert len(store.instances_in(["Running"])) == 3
    store.commit(WriteBatch(purge=["q1"]))
    assert store.get_instance("q1") is None and store.history("q1") == [] and store.messages() == []
    store.close()
