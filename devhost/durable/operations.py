"""Client operations on the task hub: what the management API and the SDK client's RPC calls do.

Each mutating operation validates first (unknown function or instance, wrong state:
a `DurableError` with an HTTP status and nothing written), then records its change in the
engine's open batch and returns once that batch is committed. Starting an instance id
that exists follows the host's default (`overridableExistingInstanceStates` =
NonRunningStates): a Pending, Running or Suspended instance is a 409 conflict, a finished
one is replaced by the new execution.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

from devhost.durable import history as h
from devhost.durable.engine import DurableEngine
from devhost.durable.payloads import text_to_value
from devhost.durable.state import TERMINAL_STATES
from devhost.durable.store import InstanceRow

__all__ = ["DurableError", "InstanceQuery", "Operations"]

_EVENT_NAMES = {int(t): "".join(p.title() for p in t.name.split("_")) for t in h.EventType}
_EVENT_NAMES.update(
    {
        7: "SubOrchestrationInstanceCreated",
        8: "SubOrchestrationInstanceCompleted",
        9: "SubOrchestrationInstanceFailed",
        17: "GenericEvent",
    }
)


class DurableError(Exception):
    """A request the task hub refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class InstanceQuery:
    """Filters of an instance query (all optional)."""

    created_from: str | None = None
    created_to: str | None = None
    statuses: tuple[str, ...] = ()
    prefix: str | None = None
    top: int | None = None
    continuation: str | None = None


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()).decode())["offset"])
    except (ValueError, KeyError, TypeError):
        raise DurableError(400, "the continuation token is not one this host issued") from None


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


class Operations:
    """The operations a client can ask of the task hub."""

    def __init__(self, engine: DurableEngine) -> None:
        self.engine = engine

    def _existing(self, instance_id: str) -> InstanceRow:
        inst = self.engine.load_instance(instance_id)
        if inst is None:
            raise DurableError(404, f"No instance with ID '{instance_id}' found.")
        return inst.row

    # -- orchestrations ---------------------------------------------------------------------
    async def start(
        self, name: str, instance_id: str | None, input_text: str | None, version: str | None = None
    ) -> str:
        """Start orchestrator `name` (at `version`; None: the host's `defaultVersion`); returns the instance id."""
        canonical = self.engine.functions.orchestrator_name(name)
        if canonical is None:
            raise DurableError(
                400, f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
            )
        fresh = not instance_id
        instance_id = instance_id or uuid.uuid4().hex
        if instance_id.startswith("@") or not instance_id.strip() or any(c in instance_id for c in "/\\#?"):
            raise DurableError(
                400, f"'{instance_id}' is not a valid instance id (no '/', '\\\\', '#', '?', no leading '@')."
            )
        inst = None if fresh else self.engine.load_instance(instance_id)
        if inst is not None and inst.row.status not in TERMINAL_STATES:
            if inst.public is None:
                # Created by a concurrent start whose batch is not committed yet: answer the conflict only
                # once that instance is visible to every reader (a status query right after must find it).
                await self.engine.committed()
            raise DurableError(409, f"An instance with ID '{instance_id}' already exists and is {inst.row.status}.")
        self.engine.create_instance(instance_id, canonical, input_text, self.engine.open, fresh=fresh, version=version)
        await self.engine.committed()
        return instance_id

    async def raise_event(self, instance_id: str, name: str, input_text: str | None) -> None:
        row = self._existing(instance_id)
        if row.status in TERMINAL_STATES:
            raise DurableError(410, f"Instance with ID '{instance_id}' is gone: it is {row.status}.")
        self.engine.work_items["external events"] += 1
        self.engine.send(instance_id, None, h.event_raised(h.utc_now(), name, input_text), self.engine.open)
        await self.engine.committed()

    async def control(self, instance_id: str, action: str, reason: str | None) -> None:
        """`terminate`, `suspend` or `resume` an instance."""
        row = self._existing(instance_id)
        if row.status in TERMINAL_STATES:
            raise DurableError(410, f"Instance with ID '{instance_id}' is {row.status}; it cannot be {action}d.")
        now = h.utc_now()
        body = {
            "terminate": h.execution_terminated,
            "suspend": h.execution_suspended,
            "resume": h.execution_resumed,
        }[action](now, reason)
        self.engine.send(instance_id, None, body, self.engine.open)
        await self.engine.committed()

    async def restart(self, instance_id: str, new_instance_id: bool) -> str:
        row = self._existing(instance_id)
        target = uuid.uuid4().hex if new_instance_id else instance_id
        if not new_instance_id and row.status not in TERMINAL_STATES:
            raise DurableError(
                409, f"Instance '{instance_id}' is {row.status}; only a finished instance restarts with the same id."
            )
        self.engine.create_instance(target, row.name, row.input, self.engine.open, version=row.version)
        await self.engine.committed()
        return target

    async def purge(self, instance_id: str) -> int:
        row = self._existing(instance_id)
        if row.status not in TERMINAL_STATES:
            raise DurableError(409, f"Instance '{instance_id}' is {row.status}; only finished instances can be purged.")
        self._purge_one(instance_id)
        await self.engine.committed()
        return 1

    def _purge_one(self, instance_id: str) -> None:
        writes = self.engine.open.writes
        self.engine.orchestrations.pop(instance_id, None)
        writes.instances.pop(instance_id, None)
        writes.history = [r for r in writes.history if r[0] != instance_id]
        writes.purge.append(instance_id)
        self.engine.open.touched.add(instance_id)  # its status readers learn it is gone

    async def purge_by(self, query: InstanceQuery) -> int:
        assert self.engine.store is not None
        statuses = [s for s in (query.statuses or TERMINAL_STATES) if s in TERMINAL_STATES]
        if not statuses:
            return 0
        rows = self.engine.store.query_instances(
            created_from=query.created_from, created_to=query.created_to, statuses=statuses, prefix=query.prefix
        )
        purged = 0
        for row in rows:
            live = self.engine.orchestrations.get(row.instance_id)
            if live is None or live.row.status in TERMINAL_STATES:
                self._purge_one(row.instance_id)
                purged += 1
        await self.engine.committed()
        return purged

    # -- entities -------------------------------------------------------------------------------
    async def signal_entity(self, name: str, key: str, operation: str, input_text: str | None) -> None:
        if not self.engine.functions.has_entity(name):
            raise DurableError(404, f"No entity function named '{name}' exists in this app.")
        request = {"id": uuid.uuid4().hex, "op": operation, "signal": True, "input": input_text}
        self.engine.send(f"@{name.lower()}@{key}", None, {"request": request}, self.engine.open)
        await self.engine.committed()

    def read_entity(self, name: str, key: str) -> tuple[bool, str | None]:
        """(exists, serialized state) as last committed or applied."""
        entity_id = f"@{name.lower()}@{key}"
        entity = self.engine.entities.get(entity_id)
        if entity is not None:
            return entity.exists, entity.state
        row = self.engine.store.get_entity(entity_id) if self.engine.store is not None else None
        return (row is not None, row.state if row else None)

    def list_entities(
        self, name: str | None, top: int | None, token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        assert self.engine.store is not None
        offset = _offset(token)
        limit = top or 100
        rows = self.engine.store.query_entities(name, offset, limit + 1)
        more = len(rows) > limit
        items = [
            {
                "entityId": {"name": r.name, "key": r.key},
                "lastOperationTime": r.updated,
                "state": text_to_value(r.state),
            }
            for r in rows[:limit]
        ]
        return items, _token(offset + limit) if more else None

    # -- status -----------------------------------------------------------------------------
    async def status(self, instance_id: str) -> InstanceRow | None:
        """The committed summary; an instance created but not yet committed is waited for, never reported missing."""
        inst = self.engine.orchestrations.get(instance_id)
        if inst is not None and inst.public is None:
            await self.engine.committed()
        return self.engine.public_row(instance_id)

    def status_json(
        self,
        row: InstanceRow,
        *,
        show_input: bool = True,
        show_history: bool = False,
        show_history_output: bool = False,
    ) -> dict[str, Any]:
        """The status payload in the HTTP API's shape."""
        body: dict[str, Any] = {
            "name": row.name,
            "instanceId": row.instance_id,
            "runtimeStatus": row.status,
            "input": text_to_value(row.input) if show_input else None,
            "customStatus": text_to_value(row.custom_status),
            "output": text_to_value(row.output),
            "createdTime": row.created,
            "lastUpdatedTime": row.updated,
        }
        if show_history and self.engine.store is not None:
            events = [json.loads(e) for e in self.engine.store.history(row.instance_id)]
            body["historyEvents"] = history_view(events, show_history_output, show_input)
        return body

    def query(self, query: InstanceQuery) -> tuple[list[InstanceRow], str | None]:
        assert self.engine.store is not None
        offset = _offset(query.continuation)
        limit = query.top
        rows = self.engine.store.query_instances(
            created_from=query.created_from,
            created_to=query.created_to,
            statuses=list(query.statuses) or None,
            prefix=query.prefix,
            offset=offset,
            limit=limit + 1 if limit else None,
        )
        if limit and len(rows) > limit:
            return rows[:limit], _token(offset + limit)
        return rows, None


def history_view(events: list[dict[str, Any]], show_output: bool, show_input: bool) -> list[dict[str, Any]]:
    """History as the status API shows it: named event types, scheduling folded into completions."""
    scheduled: dict[int, dict[str, Any]] = {}
    for event in events:
        if event["EventType"] in (h.EventType.TASK_SCHEDULED, h.EventType.SUB_ORCHESTRATION_CREATED):
            scheduled[int(event["EventId"])] = event
    view: list[dict[str, Any]] = []
    folded: set[int] = set()
    for event in events:
        kind = event["EventType"]
        if kind in (h.EventType.ORCHESTRATOR_STARTED, h.EventType.ORCHESTRATOR_COMPLETED):
            continue
        item: dict[str, Any] = {
            "EventType": _EVENT_NAMES.get(kind, str(kind)),
            "EventId": event.get("EventId", -1),
            "Timestamp": event["Timestamp"],
        }
        for key in (
            "Name",
            "InstanceId",
            "TaskScheduledId",
            "TimerId",
            "FireAt",
            "Reason",
            "Details",
            "OrchestrationStatus",
        ):
            if event.get(key) is not None:
                item[key] = event[key]
        if "Name" in item and kind in (
            h.EventType.EXECUTION_STARTED,
            h.EventType.TASK_SCHEDULED,
            h.EventType.SUB_ORCHESTRATION_CREATED,
        ):
            item["FunctionName"] = item["Name"]
        task = event.get("TaskScheduledId")
        if task is not None and int(task) in scheduled:
            origin = scheduled[int(task)]
            item["FunctionName"] = origin.get("Name")
            item["ScheduledTime"] = origin["Timestamp"]
            folded.add(int(task))
        if show_input and kind == h.EventType.EXECUTION_STARTED:
            item["Input"] = text_to_value(event.get("Input"))
        if show_output and event.get("Result") is not None:
            item["Result"] = text_to_value(event["Result"])
        if show_output and kind == h.EventType.EVENT_RAISED:
            item["Input"] = text_to_value(event.get("Input"))
        view.append(item)
    return [
        v
        for v in view
        if not (v["EventType"] in ("TaskScheduled", "SubOrchestrationInstanceCreated") and int(v["EventId"]) in folded)
    ]
