"""Replay bookkeeping shared by the executor and the engine: action types and `ReplayState`.

`ReplayState` is what the engine remembers about one execution between steps (persisted
with each step): the next sequence number, every replayed action (for the
non-determinism check) and the retry groups in flight.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import timedelta

__all__ = ["KIND_NAMES", "ActionType", "ReplayState", "RetryGroup"]


class ActionType:
    """The SDK's `ActionType` numbers."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


KIND_NAMES = {
    0: "activity",
    1: "activity (with retry)",
    2: "sub-orchestration",
    3: "sub-orchestration (with retry)",
    4: "continue-as-new",
    5: "timer",
    6: "wait for external event",
    7: "entity call",
    8: "HTTP call",
    9: "entity signal",
}


@dataclass
class RetryGroup:
    """One retried activity or sub-orchestration and where its attempts stand."""

    kind: str
    """`activity` or `suborchestration`."""
    name: str
    input: str | None
    first_interval_ms: float
    max_attempts: int
    backoff: float = 1.0
    max_interval_ms: float | None = None
    instance_id: str | None = None
    """The sub-orchestration instance id the caller asked for (None: a new one per attempt)."""
    attempts: int = 1
    task_id: int | None = None
    """The sequence number of the attempt in flight (None while waiting on a timer)."""
    timer_id: int | None = None
    """The sequence number of the retry timer in flight."""
    version: str | None = None
    """A sub-orchestration's version asked for (None: the host's default)."""

    def delay(self) -> timedelta:
        """Delay before the next attempt (DTFx: first interval × backoff^(attempt-1), capped)."""
        millis = self.first_interval_ms * (self.backoff ** max(self.attempts - 1, 0))
        if self.max_interval_ms:
            millis = min(millis, self.max_interval_ms)
        return timedelta(milliseconds=millis)


@dataclass
class ReplayState:
    """What the engine remembers between steps of one execution (persisted with each step)."""

    next_seq: int = 0
    actions: list[tuple[int, str, int | None]] = field(default_factory=list)
    """Every action replayed so far, flattened: (action type, name, sequence number)."""
    retries: list[RetryGroup] = field(default_factory=list)
    """Retry groups still in flight."""

    def to_json(self) -> str:
        return json.dumps(
            {"next_seq": self.next_seq, "actions": self.actions, "retries": [asdict(r) for r in self.retries]}
        )

    @classmethod
    def from_json(cls, text: str | None) -> ReplayState:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            next_seq=int(data["next_seq"]),
            actions=[(int(a[0]), str(a[1]), a[2]) for a in data["actions"]],
            retries=[RetryGroup(**r) for r in data["retries"]],
        )

    def retry_by_task(self, task_id: int) -> RetryGroup | None:
        return next((r for r in self.retries if r.task_id == task_id), None)

    def retry_by_timer(self, timer_id: int) -> RetryGroup | None:
        return next((r for r in self.retries if r.timer_id == timer_id), None)
