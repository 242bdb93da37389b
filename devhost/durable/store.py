"""The SQLite store of one task hub: `<data_dir>/<hub>.sqlite`, WAL, one table per kind of state.

Tables: `instances` (one row per orchestration instance: status, input, output, custom
status, replay bookkeeping), `history` (one row per history event of the current
execution), `messages` (every undelivered message: orchestration inbox events, entity
requests, timers with a `visible_at`), `activities` (scheduled, not yet completed
activity work items) and `entities` (state per entity id).

All writes go through `commit(batch)`: one `WriteBatch` is one transaction, which is how
the engine commits many steps' results at once (group commit). `synchronous=NORMAL` in
WAL mode survives a killed process; only an OS crash may lose the last transactions.

The database uses incremental auto-vacuum (an older file is converted once, at open): after a
batch that purges instances the freed pages go back to the file system (`incremental_vacuum`,
then a WAL checkpoint that truncates the log), so purging old histories shrinks the file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ActivityRow", "EntityRow", "InstanceRow", "MessageRow", "Store", "WriteBatch"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    parent TEXT,
    replay TEXT,
    version TEXT
);
CREATE INDEX IF NOT EXISTS instances_created ON instances (created);
CREATE INDEX IF NOT EXISTS instances_status ON instances (status);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    execution_id TEXT,
    visible_at REAL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_target ON messages (target, id);
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT
);
CREATE TABLE IF NOT EXISTS entities (
    entity_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT,
    updated TEXT NOT NULL
);
"""


@dataclass
class InstanceRow:
    """The summary row of one orchestration instance."""

    instance_id: str
    name: str
    status: str
    execution_id: str
    input: str | None
    output: str | None
    custom_status: str | None
    created: str
    updated: str
    parent: dict[str, Any] | None = None
    """`{"instance_id", "execution_id", "task_id", "name"}` of the parent orchestration."""
    replay: str | None = None
    """The engine's `ReplayState` JSON for the current execution."""
    version: str = ""
    """The orchestration version the instance started with (`defaultVersion`, `start_new(version=)`)."""


@dataclass(frozen=True)
class MessageRow:
    """One undelivered message: a history event for an orchestration or a request for an entity."""

    id: int
    target: str
    execution_id: str | None
    visible_at: float | None
    body: dict[str, Any]


@dataclass(frozen=True)
class ActivityRow:
    """One scheduled activity whose completion has not been committed."""

    id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None


@dataclass(frozen=True)
class EntityRow:
    """The stored state of one entity."""

    entity_id: str
    name: str
    key: str
    state: str | None
    updated: str


@dataclass
class WriteBatch:
    """Everything to write in one transaction."""

    purge: list[str] = field(default_factory=list)
    """Instances to delete with their history, messages and activities (applied first)."""
    reset_history: list[str] = field(default_factory=list)
    """Instances whose history restarts (continue-as-new, restart, overwrite)."""
    instances: dict[str, InstanceRow] = field(default_factory=dict)
    history: list[tuple[str, int, str]] = field(default_factory=list)
    """(instance_id, position, event JSON) rows to insert."""
    delete_messages: list[int] = field(default_factory=list)
    messages: list[MessageRow] = field(default_factory=list)
    delete_activities: list[int] = field(default_factory=list)
    activities: list[ActivityRow] = field(default_factory=list)
    entities: dict[str, EntityRow] = field(default_factory=dict)
    delete_entities: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.purge
            or self.reset_history
            or self.instances
            or self.history
            or self.delete_messages
            or self.messages
            or self.delete_activities
            or self.activities
            or self.entities
            or self.delete_entities
        )


def _instance(row: sqlite3.Row) -> InstanceRow:
    return InstanceRow(
        instance_id=row["instance_id"],
        name=row["name"],
        status=row["status"],
        execution_id=row["execution_id"],
        input=row["input"],
        output=row["output"],
        custom_status=row["custom_status"],
        created=row["created"],
        updated=row["updated"],
        parent=json.loads(row["parent"]) if row["parent"] else None,
        replay=row["replay"],
        version=row["version"] or "",
    )


class Store:
    """One task hub's SQLite database, reached through one connection from the engine's loop thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = self._connect()
        if self._conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            self._conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self._conn.execute("VACUUM")  # takes effect on an existing file only through a VACUUM
        self._conn.executescript(_SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(instances)")}
        if "version" not in columns:  # a store from before versioning
            self._conn.execute("ALTER TABLE instances ADD COLUMN version TEXT")

    def _connect(self) -> sqlite3.Connection:
        """One connection, used by the engine's loop thread only (reads and commits alike)."""
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=OFF")
        return conn

    def close(self) -> None:
        self._conn.close()

    # -- writes -------------------------------------------------------------------------
    def commit(self, batch: WriteBatch) -> None:
        """Apply `batch` in one transaction (all or nothing)."""
        if batch.is_empty():
            return
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for instance_id in batch.purge:
                conn.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,))
                conn.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))
                conn.execute("DELETE FROM messages WHERE target = ?", (instance_id,))
                conn.execute("DELETE FROM activities WHERE instance_id = ?", (instance_id,))
            conn.executemany("DELETE FROM history WHERE instance_id = ?", [(i,) for i in batch.reset_history])
            if batch.instances:
                conn.executemany(
                    "INSERT OR REPLACE INTO instances (instance_id, name, status, execution_id, input, output, "
                    "custom_status, created, updated, parent, replay, version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            r.instance_id,
                            r.name,
                            r.status,
                            r.execution_id,
                            r.input,
                            r.output,
                            r.custom_status,
                            r.created,
                            r.updated,
                            json.dumps(r.parent) if r.parent else None,
                            r.replay,
                            r.version or None,
                        )
                        for r in batch.instances.values()
                    ],
                )
            if batch.history:
                conn.executemany("INSERT OR REPLACE INTO history VALUES (?,?,?)", batch.history)
            if batch.delete_messages:
                conn.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in batch.delete_messages])
            if batch.messages:
                conn.executemany(
                    "INSERT INTO messages VALUES (?,?,?,?,?)",
                    [(m.id, m.target, m.execution_id, m.visible_at, json.dumps(m.body)) for m in batch.messages],
                )
            if batch.delete_activities:
                conn.executemany("DELETE FROM activities WHERE id = ?", [(i,) for i in batch.delete_activities])
            if batch.activities:
                conn.executemany(
                    "INSERT INTO activities VALUES (?,?,?,?,?,?)",
                    [(a.id, a.instance_id, a.execution_id, a.task_id, a.name, a.input) for a in batch.activities],
                )
            if batch.delete_entities:
                conn.executemany("DELETE FROM entities WHERE entity_id = ?", [(e,) for e in batch.delete_entities])
            if batch.entities:
                conn.executemany(
                    "INSERT OR REPLACE INTO entities VALUES (?,?,?,?,?)",
                    [(e.entity_id, e.name, e.key, e.state, e.updated) for e in batch.entities.values()],
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if batch.purge:
            self.reclaim()

    def reclaim(self) -> None:
        """Give the pages freed by deletions back to the file system and truncate the WAL."""
        # executescript steps the pragma to its end; execute() frees one page per step taken.
        self._conn.executescript("PRAGMA incremental_vacuum;")
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def size_bytes(self) -> int:
        """The database's size on disk: the file and its write-ahead log."""
        wal = self.path.with_name(self.path.name + "-wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    # -- reads --------------------------------------------------------------------------
    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def max_ids(self) -> int:
        """The highest message or activity id in use (ids are allocated in memory above it)."""
        rows = self._query("SELECT MAX(id) AS m FROM messages UNION ALL SELECT MAX(id) FROM activities")
        return max([r[0] or 0 for r in rows] + [0])

    def get_instance(self, instance_id: str) -> InstanceRow | None:
        rows = self._query("SELECT * FROM instances WHERE instance_id = ?", (instance_id,))
        return _instance(rows[0]) if rows else None

    def instances_in(self, statuses: Iterable[str]) -> list[InstanceRow]:
        wanted = list(statuses)
        marks = ",".join("?" * len(wanted))
        return [_instance(r) for r in self._query(f"SELECT * FROM instances WHERE status IN ({marks})", wanted)]

    def history(self, instance_id: str) -> list[str]:
        """The current execution's events (JSON text), in order."""
        rows = self._query("SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,))
        return [r[0] for r in rows]

    def messages(self) -> list[MessageRow]:
        rows = self._query("SELECT * FROM messages ORDER BY id")
        return [
            MessageRow(r["id"], r["target"], r["execution_id"], r["visible_at"], json.loads(r["body"])) for r in rows
        ]

    def activities(self) -> list[ActivityRow]:
        rows = self._query("SELECT * FROM activities ORDER BY id")
        return [
            ActivityRow(r["id"], r["instance_id"], r["execution_id"], r["task_id"], r["name"], r["input"]) for r in rows
        ]

    def get_entity(self, entity_id: str) -> EntityRow | None:
        rows = self._query("SELECT * FROM entities WHERE entity_id = ?", (entity_id,))
        return EntityRow(*rows[0]) if rows else None

    def query_entities(self, name: str | None, offset: int, limit: int) -> list[EntityRow]:
        sql, params = "SELECT * FROM entities", []
        if name:
            sql, params = sql + " WHERE name = ?", [name.lower()]
        rows = self._query(sql + " ORDER BY entity_id LIMIT ? OFFSET ?", [*params, limit, offset])
        return [EntityRow(*r) for r in rows]

    def query_instances(
        self,
        *,
        created_from: str | None = None,
        created_to: str | None = None,
        statuses: list[str] | None = None,
        prefix: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[InstanceRow]:
        """Instances matching every given filter, oldest first."""
        clauses: list[str] = []
        params: list[Any] = []
        if created_from:
            clauses.append("created >= ?")
            params.append(created_from)
        if created_to:
            clauses.append("created <= ?")
            params.append(created_to)
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if prefix:
            clauses.append("substr(instance_id, 1, ?) = ?")
            params.extend([len(prefix), prefix])
        sql = "SELECT * FROM instances"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY created, instance_id LIMIT ? OFFSET ?"
        params.extend([limit if limit is not None else -1, offset])
        return [_instance(r) for r in self._query(sql, params)]
