"""In-memory state of the engine: hot orchestration instances, entities and the open write batch.

The engine keeps every running instance's history (already encoded for replay), replay
bookkeeping and undelivered messages here, so a step never reads the store. Every change
is also recorded in the open `WriteBatch`; what others may observe (`public`, dispatched
work, API answers) changes only after that batch is committed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from devhost.durable.replay import ReplayState
from devhost.durable.store import InstanceRow, MessageRow, WriteBatch

__all__ = [
    "RUNNING_STATES",
    "TERMINAL_STATES",
    "EntityState",
    "Instance",
    "OpenBatch",
    "encode_played",
    "replayed_by_sdk",
]

TERMINAL_STATES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
"""Statuses an instance never leaves on its own."""
RUNNING_STATES = frozenset({"Pending", "Running", "Suspended", "ContinuedAsNew"})
"""Statuses that block starting the same instance id again (the host's default)."""


_IGNORED_BY_SDK = frozenset({4, 7, 10, 13, 17, 18, 19, 20})
"""TaskScheduled, SubOrchestrationInstanceCreated, TimerCreated, OrchestratorCompleted, GenericEvent,
HistoryState, ExecutionSuspended, ExecutionResumed: `TaskOrchestrationExecutor.process_event`
does nothing with them, so they are stored (and shown) but not sent back for replay."""


def replayed_by_sdk(event: dict[str, Any]) -> bool:
    """Whether the SDK's replay reads `event` (the others only cost parsing time)."""
    return int(event["EventType"]) not in _IGNORED_BY_SDK


def encode_played(event: dict[str, Any]) -> str:
    """One history event as JSON with `IsPlayed` true (how later replays see it)."""
    return json.dumps({**event, "IsPlayed": True}, separators=(",", ":"))


@dataclass
class Instance:
    """One orchestration instance held in memory."""

    row: InstanceRow
    """The working summary (may be ahead of the store until the open batch commits)."""
    public: InstanceRow | None
    """The last committed summary (what status queries show); None before the first commit."""
    played: list[str] = field(default_factory=list)
    """The current execution's history as replay sends it (events the SDK reads), IsPlayed true."""
    history_length: int = 0
    """How many events the current execution's stored history holds."""
    replay: ReplayState = field(default_factory=ReplayState)
    inbox: list[MessageRow] = field(default_factory=list)
    """Delivered, unconsumed messages, in arrival order."""
    timers: dict[int, int] = field(default_factory=dict)
    """Pending timer id → message id (to cancel timers that lost a task_any)."""
    running: bool = False
    """An episode of it runs in a worker process; the next waits for its result."""

    def publish(self) -> None:
        self.public = replace(self.row)


@dataclass
class EntityState:
    """One entity held in memory."""

    entity_id: str
    name: str
    key: str
    exists: bool
    state: str | None
    updated: str
    inbox: list[MessageRow] = field(default_factory=list)
    running: bool = False
    """A batch of its operations is running (off the event loop); the next waits for its result."""


@dataclass
class OpenBatch:
    """The batch being filled, with what to do once it is committed."""

    writes: WriteBatch = field(default_factory=WriteBatch)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    """Instances whose `public` summary is refreshed after the commit."""
    waiters: list[Any] = field(default_factory=list)

    def take(self, other: OpenBatch) -> None:
        """Add `other`'s writes and after-commit work to this batch (an episode's, prepared before its result came)."""
        mine, theirs = self.writes, other.writes
        mine.purge += theirs.purge
        mine.reset_history += theirs.reset_history
        mine.instances.update(theirs.instances)
        mine.history += theirs.history
        mine.delete_messages += theirs.delete_messages
        mine.messages += theirs.messages
        mine.delete_activities += theirs.delete_activities
        mine.activities += theirs.activities
        for entity_id in theirs.delete_entities:
            mine.entities.pop(entity_id, None)
        mine.entities.update(theirs.entities)
        mine.delete_entities += theirs.delete_entities
        self.after_commit += other.after_commit
        self.touched |= other.touched
        self.waiters += other.waiters

    """Futures resolved (None) after the commit."""

    def is_empty(self) -> bool:
        return self.writes.is_empty() and not self.after_commit and not self.touched and not self.waiters

    def elide_transient_messages(self) -> None:
        """Drop messages both created and consumed within this batch (nothing to store)."""
        writes = self.writes
        if not writes.delete_messages or not writes.messages:
            return
        inserted = {m.id for m in writes.messages}
        both = inserted.intersection(writes.delete_messages)
        if both:
            writes.messages = [m for m in writes.messages if m.id not in both]
            writes.delete_messages = [i for i in writes.delete_messages if i not in both]
