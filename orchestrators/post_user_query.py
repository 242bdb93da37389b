"""The `post_user_query` orchestrator: one chat turn, deterministic (no I/O, clock or randomness).

First it takes its place in the chat's turn queue (`enqueue_turn` on the chat entity; the
custom status `{"accepted": true}` tells the API it is queued) and waits, re-asking the entity
(`poll_turn`) after durable timers of growing length, until it is the running turn; a
`turn-ready` external event (raised by the API once the turn before it has ended and named it
as `nextTurnId`) cuts a wait short, so the timers are only the guarantee, not the pace. A turn
that waits behind the same running turn for `LIVENESS_SECONDS` asks (`turn_status` activity)
whether that turn still lives; one terminated by hand is taken off the queue (`note_failed_turn`).

Then it drives `assistant.turn.TurnRun` step by step from the chat the entity handed over: ask
the model (`chat_completion` activity, retried with Durable retry options when the model fails
for a reason that may pass), run the answer's tool calls as skill activities in parallel
(`task_all`; each with an idempotency key of the turn's run, round and call), repeat until the
model answers in text or the round limit is reached, then append the turn to the chat (entity),
which also lets the next queued turn run, and return the turn's messages; when the entity's
working window overflows, the append's result names the oldest messages, which the
`archive_messages` activity writes to Table storage before the entity drops them (`archived`).

A turn that fails before any tool ran appends nothing and leaves the queue (`note_failed_turn`):
the chat is unchanged. One that fails after tools ran appends what ran, marked incomplete, so
the chat tells the truth; run again (the same instance id, i.e. the same `Idempotency-Key`) while
it is still the chat's newest turn, it goes on from there without running those calls again.
Either way the orchestration fails with a `TurnFailed` message the API turns into its answer.
Timers and entity calls are in the history, so after a crash the turn resumes where it was.
"""
from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.archive import ARCHIVE_ACTIVITY
from activities.chat_completion import CHAT_COMPLETION_ACTIVITY
from activities.event_log import PUBLISH_ACTIVITY
from assistant.events import TURN_QUEUED, TURN_STARTED, EventDraft
from activities.turns import ALIVE_STATUSES, TURN_STATUS_ACTIVITY
from assistant.payloads import CompletionResult, ToolResult, TurnInput, TurnOutput
from assistant.queueing import DONE, QUEUED, RUNNING, TurnSlot
from assistant.turn import TurnRun
from assistant.window import ArchiveBatch
from entities.chat import chat_entity_id
from orchestrators.retry import ACTIVITY_RETRY
from skills import registry

__all__ = [
    "ACCEPTED_STATUS",
    "LIVENESS_SECONDS",
    "POST_USER_QUERY",
    "TURN_FAILED",
    "TURN_READY_EVENT",
    "bp",
    "queue_wait_delays",
    "run_turn",
]

POST_USER_QUERY = "post_user_query"
ACCEPTED_STATUS = {"accepted": True}
"""Custom status set in the turn's first step: once visible, the turn holds its place in the queue."""
TURN_READY_EVENT = "turn-ready"
"""External event that cuts a queued turn's wait short (raised by the API when the turn before it ends)."""
TURN_FAILED = "TurnFailed: "
"""Prefix of the failure message a failed turn ends with, followed by its JSON (`reason`, `retryable`, `recorded`)."""
FIRST_WAIT_SECONDS = 0.02
MAX_WAIT_SECONDS = 0.5
LIVENESS_SECONDS = 5.0
"""How long a queued turn waits behind the same running turn before checking that turn still lives."""

bp = df.Blueprint()


class TurnFailed(Exception):
    """The turn could not finish; the message is `TURN_FAILED` + JSON the API reads."""


def queue_wait_delays() -> Generator[float, None, None]:
    """Seconds between queue polls: 20 ms growing by half each time, at most 0.5 s."""
    delay = FIRST_WAIT_SECONDS
    while True:
        yield delay
        delay = min(delay * 1.5, MAX_WAIT_SECONDS)


def _wait_in_queue(
    context: df.DurableOrchestrationContext, entity: df.EntityId, slot: TurnSlot
) -> Generator[Any, Any, TurnSlot]:
    """Wait until the turn runs (or was cancelled); take a dead running turn off the queue."""
    delays = queue_wait_delays()
    head, head_since = slot.head, context.current_utc_datetime
    while slot.state == QUEUED:
        timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=next(delays)))
        woken = context.wait_for_external_event(TURN_READY_EVENT)
        if (yield context.task_any([timer, woken])) is woken:
            timer.cancel()
        slot = TurnSlot.from_dict((yield context.call_entity(entity, "poll_turn", context.instance_id)))
        if slot.state != QUEUED:
            break
        if slot.head != head:
            head, head_since = slot.head, context.current_utc_datetime
        elif head and context.current_utc_datetime - head_since >= timedelta(seconds=LIVENESS_SECONDS):
            try:
                status = yield context.call_activity_with_retry(TURN_STATUS_ACTIVITY, ACTIVITY_RETRY, {"turnId": head})
            except Exception:  # could not ask: assume it lives, ask again later
                status = "Running"
            if status not in ALIVE_STATUSES:
                yield context.call_entity(entity, "note_failed_turn", head)
            head_since = context.current_utc_datetime
    return slot


def run_turn(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Queue, then the turn loop; `known_tools` come from the skill registry (in-memory, the same on every replay)."""
    turn = TurnInput.from_dict(context.get_input())
    entity = chat_entity_id(turn.chat_id)
    context.set_custom_status(ACCEPTED_STATUS)
    slot = TurnSlot.from_dict((yield context.call_entity(entity, "enqueue_turn", context.instance_id)))
    next_event, preface = 1, [EventDraft(TURN_QUEUED, {"position": slot.position}), EventDraft(TURN_STARTED)]
    if turn.events and slot.state == QUEUED:
        # Waiting behind another turn: say so now (the first model call says when it starts).
        request = {"turnId": context.instance_id, "chatId": turn.chat_id, "start": 1, "events": [preface[0].to_dict()]}
        try:
            yield context.call_activity_with_retry(PUBLISH_ACTIVITY, ACTIVITY_RETRY, request)
        except Exception:  # the stream misses this event; the turn goes on
            pass
        next_event, preface = 2, preface[1:]
    slot = yield from _wait_in_queue(context, entity, slot)
    if slot.state == DONE:
        # A repeat of an instance id whose turn is already in the chat (an Idempotency-Key race).
        return TurnOutput(chat_id=turn.chat_id, found=True, reply=_reply(slot), recent_messages=slot.messages).to_dict()
    if slot.state != RUNNING or slot.chat is None:
        return TurnOutput(chat_id=turn.chat_id, found=False).to_dict()
    chat = slot.chat
    run_key = context.new_uuid()
    partial = chat.partial_turn(context.instance_id)
    if partial:
        history = chat.messages[: len(chat.messages) - len(partial)]
        run = TurnRun.resume(turn, context.instance_id, history, partial, run_key)
    else:
        run = TurnRun.begin(turn, context.instance_id, chat.messages, context.current_utc_datetime, run_key)
    if turn.events:
        run = run.with_events(next_event, preface)
    return (yield from _turn_loop(context, turn, run))


def _reply(slot: TurnSlot) -> str:
    finals = [m.content for m in slot.messages if m.role == "assistant" and not m.tool_calls]
    return finals[-1] if finals else ""


def _model_reason(error: Exception) -> str:
    """The model's failure as the activity reported it (`ModelUnavailable: ...`), else the error's first line."""
    text = str(error)
    marker = "ModelUnavailable: "
    if marker in text:
        return text.split(marker, 1)[1].split("\n", 1)[0].strip()
    return text.split("\n", 1)[0].strip() or type(error).__name__


def _fail(
    context: df.DurableOrchestrationContext, turn: TurnInput, run: TurnRun, reason: str, retryable: bool
) -> Generator[Any, Any, dict[str, Any]]:
    """Record what ran (or leave the chat unchanged) and end the turn failed."""
    entity = chat_entity_id(turn.chat_id)
    recorded = run.tools_ran
    if recorded:
        yield context.call_entity(
            entity, "append_turn", {**run.partial_record().to_dict(), "workingMessages": turn.working_messages}
        )
    else:
        yield context.call_entity(entity, "note_failed_turn", context.instance_id)
    raise TurnFailed(TURN_FAILED + json.dumps({"reason": reason, "retryable": retryable, "recorded": recorded}))


def _turn_loop(
    context: df.DurableOrchestrationContext, turn: TurnInput, run: TurnRun
) -> Generator[Any, Any, dict[str, Any]]:
    """Model requests and tool rounds until the final text, then the append."""
    known_tools = registry.names()
    retry = df.RetryOptions(
        first_retry_interval_in_milliseconds=max(int(turn.model_retry_seconds * 1000), 1),
        max_number_of_attempts=max(turn.model_attempts, 1),
    )
    while not run.done:
        try:
            answer = yield context.call_activity_with_retry(CHAT_COMPLETION_ACTIVITY, retry, run.model_request().to_dict())
        except Exception as error:  # the model failed every attempt: the activity's reason says why
            return (yield from _fail(context, turn, run, _model_reason(error), retryable=True))
        result = CompletionResult.from_dict(answer)
        if result.error is not None:
            return (yield from _fail(context, turn, run, result.error, retryable=False))
        run, plan = run.on_answer(result, context.current_utc_datetime, known_tools)
        if run.done:
            break
        results: list[ToolResult] = list(plan.rejected)
        if plan.to_run:
            index = {call.id: i for i, call in enumerate(run.new_messages[-1].tool_calls)}
            targets = plan.targets or {}
            tasks = [
                context.call_activity_with_retry(
                    call.name, ACTIVITY_RETRY, run.invocation(call, index[call.id], targets.get(call.id)).to_dict()
                )
                for call in plan.to_run
            ]
            try:
                done = yield context.task_all(tasks)
            except Exception as error:  # a skill's activity could not run (its worker died, every attempt)
                reason = f"a tool call could not be completed ({_model_reason(error)})"
                return (yield from _fail(context, turn, run, reason, retryable=True))
            results.extend(ToolResult.from_dict(r) for r in done)
        run = run.on_tool_results(results, context.current_utc_datetime)
    entity = chat_entity_id(turn.chat_id)
    appended = yield context.call_entity(
        entity, "append_turn", {**run.record().to_dict(), "workingMessages": turn.working_messages}
    )
    if isinstance(appended, dict) and appended.get("cancelled"):
        return TurnOutput(chat_id=turn.chat_id, found=False).to_dict()
    next_turn = appended.get("nextTurnId") if isinstance(appended, dict) else None
    if isinstance(appended, dict) and appended.get("archive"):
        batch = ArchiveBatch.from_dict(appended["archive"])
        try:
            yield context.call_activity_with_retry(ARCHIVE_ACTIVITY, ACTIVITY_RETRY, batch.to_dict())
        except Exception:  # the turn is in the chat; the window stays larger and the next append plans it again
            pass
        else:
            yield context.call_entity(entity, "archived", {"generation": batch.generation, "uptoSeq": batch.upto_seq})
    return replace(run.output(), next_turn_id=next_turn).to_dict()


@bp.function_name(name=POST_USER_QUERY)
@bp.orchestration_trigger(context_name="context", orchestration=POST_USER_QUERY)
def post_user_query(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Run one chat turn."""
    return (yield from run_turn(context))
