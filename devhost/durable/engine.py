"""The scheduler/dispatcher: one asyncio loop drives every orchestration, entity and activity.

Hot state lives in memory (`state.py`); every change is recorded in the open write batch.
The pump steps ready instances and entities into that batch (`steps.py` computes each step and
returns what it asks for, `Effects`, which the engine carries out), commits it in one SQLite
transaction (group commit: one transaction for many steps), and only then releases what the
batch scheduled: activities start, timers are armed, API callers get their answer,
status queries see the new summaries. Messages between instances are delivered in
memory at once (a message created and consumed in the same batch is never written),
which is safe because batches commit strictly in order. The commit runs on the loop itself
(a WAL commit without fsync is cheaper than a hand-off to a thread and back).

Crash recovery (`startup`): instances not yet finished are loaded with their history,
undelivered messages are delivered again (future timers re-armed) and activities whose
completion was not committed are run again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from devhost.channel import EntityCall, OrchestratorCall
from devhost.durable import history as h
from devhost.durable.activities import ActivityRunner, PoolActivityRunner
from devhost.durable.entities import EntityBatchResult, entity_id_parts, failed_batch, run_entity_batch
from devhost.durable.registry import DurableFunctions
from devhost.durable.replay import Outcome, ReplayState, run_orchestrator
from devhost.durable.sdk_speedups import install_sdk_speedups
from devhost.durable.state import (
    RUNNING_STATES,
    TERMINAL_STATES,
    EntityState,
    Instance,
    OpenBatch,
    replayed_by_sdk,
)
from devhost.durable.steps import (
    Effects,
    Episode,
    StartChild,
    begin,
    conclude,
    context,
    fail_for_version,
    new_instance_row,
    record_entity_batch,
    start_message_body,
    take_entity_batch,
)
from devhost.durable.store import ActivityRow, InstanceRow, MessageRow, Store
from devhost.durable.timers import TimerQueue
from devhost.durable.versions import VersionPolicy
from devhost.loader import FunctionIndex

__all__ = ["DurableEngine"]

log = logging.getLogger("devhost.durable")
STEPS_PER_ROUND = 256
"""Steps taken into one batch before committing it (keeps the loop responsive)."""
ENTITY_CACHE = 1024
"""Idle entities kept in memory (`DEVHOST_DURABLE_ENTITY_CACHE`); the least recently used beyond it are unloaded
(their state stays in SQLite and is read again when a request comes)."""
ENTITY_THREADS = 32
"""Entity batches that may run at once (each on a thread; one per entity at a time)."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw.isdigit() else default


class DurableEngine:
    """The durable task hub of one devhost: orchestrations, entities, activities, timers."""

    def __init__(self, store_path: Path, hub_name: str, client_binding: str | None = None) -> None:
        self.store_path = store_path
        self.client_binding = client_binding
        """The durable client binding JSON given to activities that have a `durableClient` binding."""
        self.hub_name = hub_name
        self.store: Store | None = None
        self.orchestrations: dict[str, Instance] = {}
        self.entities: dict[str, EntityState] = {}
        self.functions = DurableFunctions()
        """The app's orchestrators, activities and entities."""
        self._ready: deque[str] = deque()
        self._ready_set: set[str] = set()
        self._open = OpenBatch()
        self._id = 0
        self._timers = TimerQueue(self._deliver_due)
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._activity_runner: ActivityRunner | PoolActivityRunner | None = None
        self.workers: Any = None
        """The worker processes that run the app's code (`devhost.workers.WorkerPool`); None: this process."""
        self._stopping = False
        self.entity_cache = _env_int("DEVHOST_DURABLE_ENTITY_CACHE", ENTITY_CACHE)
        self._entity_pool: ThreadPoolExecutor | None = None
        self.versions = VersionPolicy()
        """host.json's versioning settings (`versions.py`)."""
        self.rejected: set[str] = set()
        """Instances left waiting because of their version (each logged once)."""
        self.status_listeners: list[Callable[[str], None]] = []
        """Called with an instance id once a change of its status (or its purge) is committed."""
        self.work_items: Counter[str] = Counter()
        """Durable work done since start, by kind (`GET /admin/host/durable/workitems`): what a backend on Azure
        bills or moves through its queues and tables."""

    def next_id(self) -> int:
        self._id += 1
        return self._id

    @property
    def stopping(self) -> bool:
        """Whether the engine is shutting down (results that come now are not recorded: the work runs again)."""
        return self._stopping

    @property
    def open(self) -> OpenBatch:
        """The batch being filled."""
        return self._open

    # -- lifecycle -------------------------------------------------------------------------
    async def startup(self, index: FunctionIndex) -> None:
        """Open the store, recover unfinished work and start the pump and the timer loop."""
        self.functions.register(index)
        install_sdk_speedups()
        self._wake = asyncio.Event()
        if self.workers is not None:
            self._activity_runner = PoolActivityRunner(self.workers, self.functions.activities, self.activity_done)
        else:
            self._activity_runner = ActivityRunner(self.functions.activities, self.activity_done, self.client_binding)
        self.store = Store(self.store_path)
        self._id = self.store.max_ids()
        self._recover()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._pump()), loop.create_task(self._timers.run())]

    def _recover(self) -> None:
        assert self.store is not None
        for row in self.store.instances_in(RUNNING_STATES):
            self.orchestrations[row.instance_id] = self._hydrate(row)
        now = time.time()
        for message in self.store.messages():
            if message.visible_at is not None and message.visible_at > now:
                inst = self.orchestrations.get(message.target)
                if inst is not None and "TimerId" in message.body:
                    inst.timers[int(message.body["TimerId"])] = message.id
                self._timers.arm(message)
            elif not self.deliver(message):
                self._open.writes.delete_messages.append(message.id)
        for activity in self.store.activities():
            self._open.after_commit.append(lambda a=activity: self.dispatch_activity(a))

    async def shutdown(self) -> None:
        """Stop dispatching, commit what is open, close the store."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # the pump stops at a clean point
                pass
        if self.store is not None:
            self._open.elide_transient_messages()
            self.store.commit(self._open.writes)
            self.store.close()
            self.store = None
        if self._activity_runner is not None:
            self._activity_runner.close()
        if self._entity_pool is not None:
            self._entity_pool.shutdown(wait=False, cancel_futures=True)
            self._entity_pool = None

    # -- delivery ---------------------------------------------------------------------------
    def mark_ready(self, target: str) -> None:
        """Queue `target` (an instance or entity id) for a step, once."""
        if target not in self._ready_set:
            self._ready_set.add(target)
            self._ready.append(target)
        self.wake()

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def load_instance(self, instance_id: str) -> Instance | None:
        """The in-memory instance, loading it from the store if needed."""
        inst = self.orchestrations.get(instance_id)
        if inst is None and self.store is not None:
            row = self.store.get_instance(instance_id)
            if row is None:
                return None
            inst = self._hydrate(row)
            self.orchestrations[instance_id] = inst
        return inst

    def _hydrate(self, row: InstanceRow) -> Instance:
        """An in-memory instance from its stored row and history."""
        assert self.store is not None
        stored = self.store.history(row.instance_id) if row.status not in TERMINAL_STATES else []
        played = [text for text in stored if replayed_by_sdk(json.loads(text))]
        return Instance(
            row=row,
            public=replace(row),
            played=played,
            history_length=len(stored),
            replay=ReplayState.from_json(row.replay),
        )

    def load_entity(self, entity_id: str) -> EntityState:
        entity = self.entities.pop(entity_id, None)
        if entity is not None:
            self.entities[entity_id] = entity  # most recently used last
        else:
            name, _, key = entity_id[1:].partition("@")
            row = self.store.get_entity(entity_id) if self.store is not None else None
            entity = EntityState(
                entity_id,
                name,
                key,
                row is not None,
                row.state if row else None,
                row.updated if row else h.format_time(h.utc_now()),
            )
            self.entities[entity_id] = entity
        return entity

    def deliver(self, message: MessageRow) -> bool:
        """Put a committed-or-batched message into its target's inbox; False if no such target."""
        if message.target.startswith("@"):
            self.load_entity(message.target).inbox.append(message)
        else:
            inst = self.load_instance(message.target)
            if inst is None:
                return False
            if "TimerId" in message.body and message.body.get("EventType") == h.EventType.TIMER_FIRED:
                inst.timers.pop(int(message.body["TimerId"]), None)
            inst.inbox.append(message)
        self.mark_ready(message.target)
        self.wake()
        return True

    def send(
        self, target: str, execution_id: str | None, body: dict[str, Any], batch: OpenBatch, first: bool = False
    ) -> MessageRow | None:
        """Record a message in `batch` and deliver it now (it commits with, or before, its consumer)."""
        message = MessageRow(self.next_id(), target, execution_id, None, body)
        if not target.startswith("@") and self.load_instance(target) is None:
            return None
        batch.writes.messages.append(message)
        self.work_items["entity messages" if target.startswith("@") else "orchestration messages"] += 1
        if first and not target.startswith("@"):
            inst = self.orchestrations[target]
            inst.inbox.insert(0, message)
            self.mark_ready(target)
        else:
            self.deliver(message)
        return message

    def cancel_timers(self, inst: Instance, timer_ids: list[int], batch: OpenBatch) -> None:
        for timer_id in timer_ids:
            message_id = inst.timers.pop(timer_id, None)
            if message_id is not None:
                batch.writes.delete_messages.append(message_id)
                self._timers.cancel(message_id)

    def schedule_timer(self, message: MessageRow) -> None:
        """Arm a committed timer message."""
        self.work_items["timers"] += 1
        self._timers.arm(message)

    def _deliver_due(self, message: MessageRow) -> None:
        if not self.deliver(message):
            self._open.writes.delete_messages.append(message.id)

    # -- instances ----------------------------------------------------------------------------
    def create_instance(
        self,
        instance_id: str,
        name: str,
        input_text: str | None,
        batch: OpenBatch,
        parent: dict[str, Any] | None = None,
        fresh: bool = False,
        version: str | None = None,
    ) -> Instance:
        """Create (or overwrite a finished) instance and send it ExecutionStarted.

        `fresh`: the id was just generated, so no earlier instance can hold it. `version`: None means the
        host's `defaultVersion`.
        """
        now = h.utc_now()
        row = new_instance_row(
            instance_id, name, input_text, now, parent, self.versions.default_version if version is None else version
        )
        previous = self.orchestrations.get(instance_id)
        inst = Instance(row=row, public=previous.public if previous else None)
        if previous is not None or (
            not fresh and self.store is not None and self.store.get_instance(instance_id) is not None
        ):
            batch.writes.reset_history.append(instance_id)
            batch.writes.history = [r for r in batch.writes.history if r[0] != instance_id]
            if previous is not None:
                self.cancel_timers(previous, list(previous.timers), batch)
        self.orchestrations[instance_id] = inst
        batch.writes.instances[instance_id] = row
        batch.touched.add(instance_id)
        self.send(instance_id, None, start_message_body(row, now), batch)
        return inst

    def start_child(self, child: StartChild, batch: OpenBatch, now: datetime) -> None:
        """Create a sub-orchestration, or answer its parent's task with the failure when it cannot be created."""
        call, parent = child.call, child.parent
        existing = self.load_instance(call.instance_id)
        problem = None
        if self.functions.orchestrator(call.name) is None:
            problem = f"The orchestrator function '{call.name}' doesn't exist in this app."
        elif existing is not None and existing.row.status not in TERMINAL_STATES:
            problem = f"An instance with ID '{call.instance_id}' already exists and is {existing.row.status}."
        if problem is not None:
            body = h.sub_orchestration_failed(now, call.task_id, problem, None)
            self.send(str(parent["instance_id"]), parent["execution_id"], body, batch)
            return
        name = self.functions.orchestrator_name(call.name) or call.name
        self.create_instance(call.instance_id, name, call.input, batch, parent, version=call.version)

    def on_terminal(self, instance_id: str) -> None:
        """After a finished instance's commit: drop it from memory unless messages wait."""
        inst = self.orchestrations.get(instance_id)
        if inst is not None and inst.row.status in TERMINAL_STATES and not inst.inbox:
            del self.orchestrations[instance_id]

    def public_row(self, instance_id: str) -> InstanceRow | None:
        """The committed summary of an instance (memory first, then the store)."""
        inst = self.orchestrations.get(instance_id)
        if inst is not None:
            return inst.public
        return self.store.get_instance(instance_id) if self.store is not None else None

    # -- activities -----------------------------------------------------------------------------
    def dispatch_activity(self, activity: ActivityRow) -> None:
        """Run a committed activity work item (after its batch committed, or on recovery)."""
        if not self._stopping and self._activity_runner is not None:
            self.work_items["activity executions"] += 1
            self._activity_runner.dispatch(activity)

    def activity_done(self, activity: ActivityRow, event: h.Event) -> None:
        """Record an activity's completion: its work item goes, its result message comes, atomically."""
        if self._stopping:
            return  # not recorded: it runs again after a restart
        self._open.writes.delete_activities.append(activity.id)
        if self.send(activity.instance_id, activity.execution_id, event, self._open) is None:
            self.wake()

    def run_entity_batch(self, args: tuple[Any, ...], done: Callable[[EntityBatchResult], None]) -> None:
        """Run one entity batch (`entities.run_entity_batch(*args)`) on the entity thread pool; `done(result)` on the
        event loop once it finished (not while stopping: the batch's messages are still in the store then, and it
        runs again after a restart)."""
        handler, entity_id, exists, state, requests = args
        self.work_items["entity batches"] += 1
        self.work_items["entity operations"] += len(requests)
        if self.workers is not None and handler is not None:
            name = entity_id_parts(entity_id)[0]
            future = self.workers.call(EntityCall(name, entity_id, exists, state, requests), retry=True)
        else:
            if self._entity_pool is None:
                self._entity_pool = ThreadPoolExecutor(ENTITY_THREADS, thread_name_prefix="devhost-entity")
            future = asyncio.get_running_loop().run_in_executor(self._entity_pool, run_entity_batch, *args)

        def finished(outcome: asyncio.Future[EntityBatchResult]) -> None:
            if self._stopping or outcome.cancelled():
                return
            try:
                result = outcome.result()
            except Exception as exc:  # the worker died every time it ran the batch: its operations fail
                result = failed_batch(exists, state, requests, f"devhost could not run the entity batch: {exc}")
            try:
                done(result)
            except Exception:  # an engine bug must not stop the pump
                log.exception("durable entity batch of %s could not be recorded", entity_id)

        future.add_done_callback(finished)

    # -- the pump --------------------------------------------------------------------------------
    def _run_ready(self) -> None:
        batch = self._open
        now = h.utc_now()
        for _ in range(min(len(self._ready), STEPS_PER_ROUND)):
            target = self._ready.popleft()
            self._ready_set.discard(target)
            try:
                self._step(target, batch, now)
            except Exception:  # an engine bug must not stop every other instance
                log.exception("durable step of %s failed", target)

    def _step(self, target: str, batch: OpenBatch, now: datetime) -> None:
        if target.startswith("@"):
            entity = self.entities.get(target)
            if entity is not None and entity.inbox:
                self._step_entity(entity)
                if entity.inbox:
                    self.mark_ready(target)
            return
        inst = self.orchestrations.get(target)
        if inst is not None and inst.inbox and not inst.running:
            self._step_orchestration(inst, batch, now)

    # -- steps -----------------------------------------------------------------------------------
    def _step_orchestration(self, inst: Instance, batch: OpenBatch, now: datetime) -> None:
        """Consume `inst`'s deliverable messages: at most one replay of its orchestrator (`steps`).

        In this process the replay runs at once. In a worker process (`workers`) the step is prepared in a batch
        of its own (the messages it consumes, control events it applied), the replay runs there while the engine
        goes on with everything else, and its outcome is recorded, with that batch, in the round it comes back:
        the messages are deleted in the same commit as the history they became, so a crash in between replays
        them again.
        """
        row = inst.row
        refusal = self.versions.refusal(row.version) if row.status not in TERMINAL_STATES else None
        if refusal is not None:
            self._refuse(inst, batch, now, refusal)
            return
        own = OpenBatch() if self.workers is not None else batch
        episode, effects = begin(inst, own, now)
        self._carry_out(inst, effects, own, now)
        if episode is None:
            if own is not batch:
                batch.take(own)
            return
        self.work_items["orchestrator episodes"] += 1
        handler = self.functions.orchestrator(row.name)
        if handler is None:
            missing = f"The orchestrator function '{row.name}' doesn't exist in this app."
            self._conclude(inst, batch, now, own, episode, None, missing)
            return
        try:
            context_json = context(inst, episode)
        except Exception as exc:  # an engine bug: fail this instance visibly, keep the others going
            log.exception("durable step of %s failed", row.instance_id)
            failure = f"devhost durable engine error: {type(exc).__name__}: {exc}"
            self._conclude(inst, batch, now, own, episode, None, failure)
            return
        if self.workers is None:
            self._conclude(inst, batch, now, own, episode, run_orchestrator(handler, context_json))
            return
        inst.running = True
        future = self.workers.call(OrchestratorCall(row.name, context_json), retry=True)

        def done(result: asyncio.Future[Outcome]) -> None:
            inst.running = False
            if self._stopping or result.cancelled():
                return
            try:
                outcome, failure = result.result(), None
            except Exception as exc:  # the worker died every time it ran this episode, or could not run it
                outcome, failure = None, f"devhost could not run the orchestrator: {exc}"
            self._conclude(inst, self._open, now, own, episode, outcome, failure)
            if inst.inbox:
                self.mark_ready(row.instance_id)
            self.wake()

        future.add_done_callback(done)

    def _conclude(
        self,
        inst: Instance,
        batch: OpenBatch,
        now: datetime,
        own: OpenBatch,
        episode: Episode,
        outcome: Outcome | None,
        failure: str | None = None,
    ) -> None:
        """Record an episode's outcome (or `failure`) in `batch`, with the episode's own writes, and do what it
        scheduled."""
        if own is not batch:
            batch.take(own)
        self._carry_out(inst, conclude(inst, batch, now, episode, outcome, failure), batch, now)

    def _refuse(self, inst: Instance, batch: OpenBatch, now: datetime, refusal: str) -> None:
        """An instance whose version this host may not run: left waiting (`Reject`: its messages stay for a host of
        a fitting version; logged once) or failed (`Fail`)."""
        if self.versions.failure != "Reject":
            self._carry_out(inst, fail_for_version(inst, batch, now, refusal), batch, now)
        elif inst.row.instance_id not in self.rejected:
            self.rejected.add(inst.row.instance_id)
            log.warning("%s Instance %s waits (versionFailureStrategy Reject).", refusal, inst.row.instance_id)

    def _carry_out(self, inst: Instance, effects: Effects, batch: OpenBatch, now: datetime) -> None:
        """Do what a step of `inst` asked (`steps.Effects`), recorded in `batch`; work that leaves the engine
        (activities, timers) is released after `batch` commits."""
        for item in effects.activities:
            activity = ActivityRow(
                self.next_id(), item.instance_id, item.execution_id, item.task_id, item.name, item.input
            )
            batch.writes.activities.append(activity)
            batch.after_commit.append(lambda a=activity: self.dispatch_activity(a))
        for timer in effects.timers:
            body = h.timer_fired(timer.fire_at, timer.timer_id, timer.fire_at)
            message = MessageRow(self.next_id(), timer.instance_id, timer.execution_id, timer.fire_at.timestamp(), body)
            inst.timers[timer.timer_id] = message.id
            batch.writes.messages.append(message)
            batch.after_commit.append(lambda m=message: self.schedule_timer(m))
        self.cancel_timers(inst, effects.cancel_timers, batch)
        if effects.cancel_all_timers:
            self.cancel_timers(inst, list(inst.timers), batch)
        for child in effects.children:
            self.start_child(child, batch, now)
        for message_to in effects.messages:
            self.send(message_to.target, message_to.execution_id, message_to.body, batch, first=message_to.first)
        if effects.finished:
            batch.after_commit.append(lambda instance_id=inst.row.instance_id: self.on_terminal(instance_id))
        if effects.again and inst.inbox:
            self.mark_ready(inst.row.instance_id)

    def _step_entity(self, entity: EntityState) -> None:
        """Start the next batch of `entity`'s operations unless one is running: off the event loop (a thread, or a
        worker process), its outcome recorded in the round it comes back (`run_entity_batch`)."""
        if entity.running:
            return
        messages = take_entity_batch(entity)
        requests = [m.body["request"] for m in messages]
        entity.running = True
        self.run_entity_batch(
            (self.functions.entity_handler(entity.name), entity.entity_id, entity.exists, entity.state, requests),
            lambda result: self._entity_done(entity, messages, result),
        )

    def _entity_done(self, entity: EntityState, messages: list[MessageRow], result: EntityBatchResult) -> None:
        """Record a finished entity batch in the open batch (on the event loop) and answer its callers."""
        entity.running = False
        batch = self._open
        for answer in record_entity_batch(entity, messages, result, batch, h.utc_now()):
            self.send(answer.target, answer.execution_id, answer.body, batch)
        if entity.inbox:
            self.mark_ready(entity.entity_id)
        self.wake()

    async def _pump(self) -> None:
        assert self._wake is not None and self.store is not None
        while True:
            if not self._stopping:
                self._run_ready()
            if not self._open.is_empty():
                batch, self._open = self._open, OpenBatch()
                batch.elide_transient_messages()
                try:
                    self.store.commit(batch.writes)
                except Exception as exc:
                    log.exception("durable store commit failed")
                    for waiter in batch.waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                else:
                    self._after_commit(batch)
                await asyncio.sleep(0)  # HTTP handlers and activity results run between rounds
                continue
            if self._ready and not self._stopping:
                await asyncio.sleep(0)
                continue
            self._wake.clear()
            await self._wake.wait()

    def _unload_idle_entities(self) -> None:
        """Drop the least recently used entities beyond the cache size that wait for nothing (all committed)."""
        excess = len(self.entities) - self.entity_cache
        if excess <= 0:
            return
        pending = set(self._open.writes.entities).union(self._open.writes.delete_entities)
        for entity_id in list(self.entities)[: excess + 64]:
            if excess <= 0:
                break
            entity = self.entities[entity_id]
            if entity.inbox or entity.running or entity_id in self._ready_set or entity_id in pending:
                continue
            del self.entities[entity_id]
            excess -= 1

    def _after_commit(self, batch: OpenBatch) -> None:
        for instance_id in batch.touched:
            inst = self.orchestrations.get(instance_id)
            if inst is not None:
                inst.publish()
            for listener in self.status_listeners:
                listener(instance_id)
        for hook in batch.after_commit:
            try:
                hook()
            except Exception:  # one failing hook must not stop the pump
                log.exception("durable after-commit work failed")
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._unload_idle_entities()

    async def committed(self) -> None:
        """Wait until everything recorded so far is committed."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._open.waiters.append(waiter)
        self.wake()
        await waiter
