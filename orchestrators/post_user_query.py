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
from azure.durable_functions.models.Task import TaskState

from activities.archive import ARCHIVE_ACTIVITY
from activities.chat_completion import CHAT_COMPLETION_ACTIVITY
from activities.publish_events import PUBLISH_ACTIVITY
from activities.summarize import SUMMARIZE_ACTIVITY
from activities.turns import ALIVE_STATUSES, TURN_STATUS_ACTIVITY, WAKE_TURNS_ACTIVITY
from assistant.approvals import PendingApproval, PendingCall
from assistant.events import (
    APPROVAL_DECIDED,
    APPROVAL_REQUIRED,
    TURN_QUEUED,
    TURN_STARTED,
    EventDraft,
    drafts_to_dicts,
    tool_completed,
    tool_started,
)
from assistant.failures import ModelFailure, TurnFailure, first_line
from assistant.ids import kept_hash
from assistant.memory import FoldPlan
from assistant.messages import ToolCall, format_utc
from assistant.payloads import CompletionResult, EventTarget, ToolResult, TurnInput, TurnOutput
from assistant.queueing import CANCELLED, DONE, LIVE_EVENT, QUEUED, RUNNING, TURN_READY_EVENT, TurnSlot
from assistant.signals import signals
from assistant.turn import TurnRun
from assistant.views import PendingCallView, RequiresAction
from assistant.window import ArchiveBatch
from entities.chat import chat_entity_id
from orchestrators.retry import ACTIVITY_RETRY
from skills import registry

__all__ = [
    "ACCEPTED_STATUS",
    "EARLY_OUTPUT_LIMIT",
    "LIVENESS_SECONDS",
    "POST_USER_QUERY",
    "bp",
    "run_turn",
]

POST_USER_QUERY = "post_user_query"
ACCEPTED_STATUS = {"accepted": True}
"""Custom status set in the turn's first step: once visible, the turn holds its place in the queue."""
CANCEL_EVENT = "cancel"
"""External event a cancel raises: the turn stops at its next step (the entity says whether it was cancelled)."""
APPROVAL_EVENT = "approval"
"""External event raised after a decision is recorded in the chat: the waiting turn reads the decisions."""
EARLY_OUTPUT_LIMIT = 12_000
"""The largest turn output (JSON characters) put in the custom status while the summary is written (Azure Storage
keeps custom status up to 16 KB)."""
LIVENESS_SECONDS = 30.0
"""The default of a queued turn's one durable timer (`TurnInput.queue_check_seconds`)."""

bp = df.Blueprint()


class TurnFailed(Exception):
    """The turn could not finish; the message is a `TurnFailure`'s encoding, which the API reads."""


class TurnCancelled(Exception):
    """A person cancelled the turn: it stops here and writes nothing."""


def _race(
    context: df.DurableOrchestrationContext, work: Any, cancel: Any, watched: Any = None
) -> Generator[Any, Any, Any]:
    """`work`'s result, unless the cancel event comes first (`TurnCancelled`); `work`'s failure is raised. A `watched`
    event that comes meanwhile is taken (the next steps publish their events) and the wait goes on."""
    while True:
        pending = [work, cancel] if watched is None or watched.is_completed else [work, cancel, watched]
        winner = yield context.task_any(pending)
        if winner is not watched:
            break
    if winner is cancel:
        raise TurnCancelled()
    if getattr(winner, "state", None) is TaskState.FAILED:
        failure = winner.result
        raise failure if isinstance(failure, BaseException) else Exception(str(failure))
    return winner.result


def _wait_in_queue(
    context: df.DurableOrchestrationContext, entity: df.EntityId, slot: TurnSlot, cancel: Any, check_seconds: float
) -> Generator[Any, Any, TurnSlot]:
    """Wait until the turn runs (or was cancelled), with no polling: the turn ahead of it raises `turn-ready` when it
    leaves the queue (`_wake_next`), a reset or delete of the chat does too, and a cancel raises `cancel`; one durable
    timer of `check_seconds` is the guarantee: when it fires the turn asks whether the turn ahead of it still lives,
    and takes a dead one (terminated by hand) off the queue."""
    while slot.state == QUEUED:
        timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=check_seconds))
        woken = context.wait_for_external_event(TURN_READY_EVENT)
        winner = yield context.task_any([timer, woken, cancel])
        if winner is not timer:
            timer.cancel()
        head = slot.head
        slot = TurnSlot.from_dict((yield context.call_entity(entity, "poll_turn", context.instance_id)))
        if slot.state != QUEUED or winner is not timer or slot.head != head or not head:
            continue
        try:
            status = yield context.call_activity_with_retry(TURN_STATUS_ACTIVITY, ACTIVITY_RETRY, {"turnId": head})
        except Exception:  # could not ask: assume it lives, ask again later
            status = "Running"
        if status not in ALIVE_STATUSES:
            left = yield context.call_entity(entity, "note_failed_turn", head)
            yield from _wake_next(context, left, context.instance_id)
            slot = TurnSlot.from_dict((yield context.call_entity(entity, "poll_turn", context.instance_id)))
    return slot


def _wake_next(context: df.DurableOrchestrationContext, left: Any, me: str | None = None) -> Generator[Any, Any, None]:
    """Raise `turn-ready` on the turn the chat now runs (`left`: an entity result naming `nextTurnId`), unless it is
    `me`; best effort: its own durable timer brings it forward anyway."""
    next_turn = left.get("nextTurnId") if isinstance(left, dict) else None
    if not next_turn or next_turn == me:
        return
    try:
        yield context.call_activity_with_retry(WAKE_TURNS_ACTIVITY, ACTIVITY_RETRY, {"turnIds": [next_turn]})
    except Exception:
        pass


def run_turn(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Queue, then the turn loop; `known_tools` come from the skill registry (in-memory, the same on every replay)."""
    turn = TurnInput.from_dict(context.get_input())
    entity = chat_entity_id(turn.chat_id)
    context.set_custom_status(ACCEPTED_STATUS)
    request = {"turnId": context.instance_id, "requestHash": kept_hash(context.instance_id, turn.request_hash)}
    slot = TurnSlot.from_dict((yield context.call_entity(entity, "enqueue_turn", request)))
    accepted_at = context.current_utc_datetime
    next_event, preface = 1, [EventDraft(TURN_QUEUED, {"position": slot.position}), EventDraft(TURN_STARTED)]
    if turn.events and slot.state == QUEUED:
        # Waiting behind another turn: say so now (the first model call says when it starts).
        request = {"turnId": context.instance_id, "chatId": turn.chat_id, "start": 1, "events": [preface[0].to_dict()]}
        try:
            yield context.call_activity_with_retry(PUBLISH_ACTIVITY, ACTIVITY_RETRY, request)
        except Exception:  # the stream misses this event; the turn goes on
            pass
        next_event, preface = 2, preface[1:]
    cancel = context.wait_for_external_event(CANCEL_EVENT)
    # A turn nobody streams writes no events until a reader asks (it raises `live`; checked between steps, never
    # waited for): what nobody watches costs nothing.
    watched = context.wait_for_external_event(LIVE_EVENT) if turn.live_on_watch and not turn.events else None
    slot = yield from _wait_in_queue(context, entity, slot, cancel, turn.queue_check_seconds)
    if slot.state == CANCELLED and slot.by_user:
        return _output(turn, found=True, cancelled=True)
    if slot.state == DONE:
        # A repeat of an instance id whose turn is already in the chat (an Idempotency-Key race).
        return _output(turn, found=True, reply=_reply(slot), recent_messages=slot.messages)
    if slot.state != RUNNING or slot.chat is None:
        return _output(turn, found=False)
    chat = slot.chat
    run_key = context.new_uuid()
    partial = chat.partial_turn(context.instance_id)
    history = chat.messages[: len(chat.messages) - len(partial)]
    if partial:
        run = TurnRun.resume(turn, context.instance_id, chat.prompt_history(history), partial, run_key)
    else:
        run = TurnRun.begin(
            turn, context.instance_id, chat.prompt_history(history), context.current_utc_datetime, run_key
        )
    if turn.summary:
        run = run.with_memory(chat.archived_count + chat.covered, len(history) - 1 - chat.covered)
    if turn.events:
        run = run.with_events(next_event, preface)
    run = (
        run.with_tools(chat.skills)
        .on_generation(chat.generation)
        .traced(turn.traceparent, (context.current_utc_datetime - accepted_at).total_seconds())
    )
    try:
        return (yield from _turn_loop(context, turn, run, cancel, chat.approval_timeout_seconds, watched))
    except TurnCancelled:
        left = yield context.call_entity(entity, "note_cancelled_turn", context.instance_id)
        yield from _wake_next(context, left)
        return _output(turn, found=True, cancelled=True)


def _output(turn: TurnInput, **fields: Any) -> dict[str, Any]:
    """The turn's output (its request's hash with it)."""
    return TurnOutput(chat_id=turn.chat_id, request_hash=turn.request_hash, **fields).to_dict()


def _reply(slot: TurnSlot) -> str:
    finals = [m.content for m in slot.messages if m.role == "assistant" and not m.tool_calls]
    return finals[-1] if finals else ""


def _failure(error: Exception) -> ModelFailure:
    """What an activity's failure says: the model's failure as the model call reported it (`ModelFailure`), or the
    first line of any other (a worker that died, an activity that could not run)."""
    return ModelFailure.decode(str(error)) or ModelFailure(first_line(str(error)) or type(error).__name__)


def _fail(
    context: df.DurableOrchestrationContext,
    turn: TurnInput,
    run: TurnRun,
    reason: str,
    retryable: bool,
    status: int | None = None,
) -> Generator[Any, Any, dict[str, Any]]:
    """Record what ran (or leave the chat unchanged) and end the turn failed."""
    entity = chat_entity_id(turn.chat_id)
    recorded = run.tools_ran
    if recorded:
        left = yield context.call_entity(
            entity, "append_turn", {**run.partial_record().to_dict(), "workingMessages": turn.working_messages}
        )
    else:
        left = yield context.call_entity(entity, "note_failed_turn", context.instance_id)
    yield from _wake_next(context, left)
    raise TurnFailed(TurnFailure(reason, retryable, recorded, status).encode())


def _turn_loop(
    context: df.DurableOrchestrationContext,
    turn: TurnInput,
    run: TurnRun,
    cancel: Any,
    approval_timeout: int,
    watched: Any = None,
) -> Generator[Any, Any, dict[str, Any]]:
    """Model requests and tool rounds until the final text, then the append; every step raced by `cancel`. Once
    `watched` (the `live` event) has come, the steps that follow publish their events."""
    known_tools = registry.names() if run.tools is None else registry.names() & frozenset(run.tools)
    retry = df.RetryOptions(
        first_retry_interval_in_milliseconds=max(int(turn.model_retry_seconds * 1000), 1),
        max_number_of_attempts=max(turn.model_attempts, 1),
    )
    while not run.done:
        if watched is not None and not run.events and watched.is_completed:
            run = run.with_events(1, [EventDraft(TURN_STARTED)])  # the log was empty until now
        try:
            work = context.call_activity_with_retry(CHAT_COMPLETION_ACTIVITY, retry, run.model_request().to_dict())
            answer = yield from _race(context, work, cancel, watched)
        except TurnCancelled:
            raise
        except Exception as error:  # the model failed every attempt: the activity's reason says why
            failure = _failure(error)
            return (yield from _fail(context, turn, run, failure.reason, retryable=True, status=failure.status))
        result = CompletionResult.from_dict(answer)
        if result.error is not None:
            return (yield from _fail(context, turn, run, result.error, retryable=False))
        run, plan = run.on_answer(result, context.current_utc_datetime, known_tools)
        if run.done:
            break
        results: list[ToolResult] = list(plan.rejected)
        index = {call.id: i for i, call in enumerate(run.new_messages[-1].tool_calls)}
        waiting = [c for c in plan.to_run if registry.needs_approval(c.name, c.arguments)]
        now = [c for c in plan.to_run if c not in waiting]
        try:
            run, done = yield from _run_calls(context, run, now, index, cancel)
            results.extend(done)
            if waiting:
                if watched is not None and not run.events:  # a turn waiting for a person is followed: live from here
                    run, target = run.with_events(1, ()).reserve(1)
                    yield from _publish(context, target, [EventDraft(TURN_STARTED)])
                run, decided = yield from _await_approval(context, turn, run, waiting, index, cancel, approval_timeout)
                results.extend(decided)
        except TurnCancelled:
            raise
        except Exception as error:  # a skill's activity could not run (its worker died, every attempt)
            reason = f"a tool call could not be completed ({_failure(error).reason})"
            return (yield from _fail(context, turn, run, reason, retryable=True))
        run = run.on_tool_results(results, context.current_utc_datetime)
    entity = chat_entity_id(turn.chat_id)
    request = {**run.record().to_dict(), "workingMessages": turn.working_messages}
    if turn.summary:
        request["summary"] = {"foldUpto": run.fold_upto}
    appended = yield context.call_entity(entity, "append_turn", request)
    if isinstance(appended, dict) and appended.get("cancelled"):
        return _output(turn, found=False)
    appended = appended if isinstance(appended, dict) else {}
    yield from _wake_next(context, appended)
    output = replace(run.output(), next_turn_id=appended.get("nextTurnId"), request_hash=turn.request_hash).to_dict()
    archive = appended.get("archive")
    if appended.get("fold"):
        archive = (yield from _fold(context, turn, FoldPlan.from_dict(appended["fold"]), output)) or archive
    if archive:
        batch = ArchiveBatch.from_dict(archive)
        try:
            yield context.call_activity_with_retry(ARCHIVE_ACTIVITY, ACTIVITY_RETRY, batch.to_dict())
        except Exception:  # the turn is in the chat; the window stays larger and the next append plans it again
            pass
        else:
            yield context.call_entity(entity, "archived", {"generation": batch.generation, "uptoSeq": batch.upto_seq})
    return output


def _fold(
    context: df.DurableOrchestrationContext, turn: TurnInput, plan: FoldPlan, output: dict[str, Any]
) -> Generator[Any, Any, dict[str, Any] | None]:
    """Fold `plan`'s messages into the chat's summary after the reply is in the chat; the archive batch the fold
    lets go (None: nothing more to archive, or the fold did not happen).

    The reply is already in the custom status (when it is small enough), so the API answers without waiting for
    this. A summary that cannot be written leaves the chat's summary as it was; a later turn folds again.
    """
    if len(json.dumps(output)) <= EARLY_OUTPUT_LIMIT:
        context.set_custom_status({**ACCEPTED_STATUS, "output": output})
        _tell_readers(context)
    try:
        result = yield context.call_activity_with_retry(SUMMARIZE_ACTIVITY, ACTIVITY_RETRY, plan.to_dict())
    except Exception:  # the model failed every attempt: the turn is done all the same
        result = None
    summary = result.get("summary") if isinstance(result, dict) else None
    # Reported either way: the entity plans no other fold while this one is out.
    done = yield context.call_entity(
        chat_entity_id(turn.chat_id),
        "summarized",
        {
            "turnId": context.instance_id,
            "generation": plan.generation,
            "fromSeq": plan.from_seq,
            "uptoSeq": plan.upto_seq,
            "summary": summary,
            "workingMessages": turn.working_messages,
        },
    )
    return done.get("archive") if isinstance(done, dict) and done.get("applied") else None


def _run_calls(
    context: df.DurableOrchestrationContext, run: TurnRun, calls: list[ToolCall], index: dict[str, int], cancel: Any
) -> Generator[Any, Any, tuple[TurnRun, list[ToolResult]]]:
    """Run `calls` as their skills' activities, in parallel (each with its idempotency key and event numbers)."""
    if not calls:
        return run, []
    run, targets = run.tool_targets(calls)
    tasks = [
        context.call_activity_with_retry(
            call.name, ACTIVITY_RETRY, run.invocation(call, index[call.id], targets.get(call.id)).to_dict()
        )
        for call in calls
    ]
    done = yield from _race(context, context.task_all(tasks), cancel)
    return run, [ToolResult.from_dict(r) for r in done]


def _publish(
    context: df.DurableOrchestrationContext, target: EventTarget | None, drafts: list[EventDraft]
) -> Generator[Any, Any, None]:
    """Write events the orchestrator decided (best effort: a stream missing them is better than a failed turn)."""
    if target is None or not drafts:
        return
    request = {
        "turnId": target.turn_id,
        "chatId": target.chat_id,
        "start": target.start,
        "events": drafts_to_dicts(drafts),
    }
    try:
        yield context.call_activity_with_retry(PUBLISH_ACTIVITY, ACTIVITY_RETRY, request)
    except Exception:
        pass


def _await_approval(
    context: df.DurableOrchestrationContext,
    turn: TurnInput,
    run: TurnRun,
    calls: list[ToolCall],
    index: dict[str, int],
    cancel: Any,
    timeout_seconds: int,
) -> Generator[Any, Any, tuple[TurnRun, list[ToolResult]]]:
    """Record the calls as waiting in the chat, wait (a durable timer raced by the approval event: no compute),
    then run the approved ones; the denied and the undecided get a result saying so."""
    entity = chat_entity_id(turn.chat_id)
    requested = context.current_utc_datetime
    expires = requested + timedelta(seconds=timeout_seconds)
    pending = PendingApproval(
        context.instance_id,
        tuple(PendingCall(c.id, c.name, c.arguments, format_utc(requested), format_utc(expires)) for c in calls),
    )
    yield context.call_entity(entity, "await_approval", pending.to_dict())
    context.set_custom_status({**ACCEPTED_STATUS, "requiresAction": RequiresAction.of(pending, "").to_dict()})
    _tell_readers(context)
    run, target = run.reserve(1)
    yield from _publish(
        context,
        target,
        [EventDraft(APPROVAL_REQUIRED, {"toolCalls": [PendingCallView.of(c).to_dict() for c in pending.calls]})],
    )
    while True:
        timer = context.create_timer(expires)
        decided_event = context.wait_for_external_event(APPROVAL_EVENT)
        winner = yield context.task_any([timer, decided_event, cancel])
        if winner is not timer:
            timer.cancel()
        if winner is cancel:
            raise TurnCancelled()
        state = PendingApproval.from_dict((yield context.call_entity(entity, "approval_state", context.instance_id)))
        if state is not None:
            pending = state
        if winner is timer or pending.decided:
            break
    yield context.call_entity(entity, "approvals_done", context.instance_id)
    context.set_custom_status(ACCEPTED_STATUS)
    verdicts = {c.tool_call_id: c for c in pending.calls}
    run, target = run.reserve(len(calls))
    yield from _publish(
        context,
        target,
        [
            EventDraft(
                APPROVAL_DECIDED,
                {
                    "toolCallId": c.id,
                    "approved": bool(verdicts[c.id].approved),
                    "reason": verdicts[c.id].reason if verdicts[c.id].approved is not None else "no answer in time",
                },
            )
            for c in calls
        ],
    )
    approved = [c for c in calls if verdicts[c.id].approved]
    run, results = yield from _run_calls(context, run, approved, index, cancel)
    refused: list[ToolResult] = []
    for call in calls:
        verdict = verdicts[call.id]
        if verdict.approved:
            continue
        why = "no answer in time" if verdict.approved is None else (verdict.reason or "no reason given")
        refused.append(
            ToolResult(call.id, call.name, f"error: the user declined this call ({why}); it did not run", ok=False)
        )
    if refused:
        denied_calls = [c for c in calls if not verdicts[c.id].approved]
        run, targets = run.tool_targets(denied_calls)
        drafts = [tool_started(c.id, c.name, c.arguments) for c in denied_calls]
        drafts += [tool_completed(r.tool_call_id, r.name, r.ok, r.content) for r in refused]
        yield from _publish(context, targets[denied_calls[0].id] if targets else None, drafts)
    return run, results + refused


@bp.function_name(name=POST_USER_QUERY)
@bp.orchestration_trigger(context_name="context", orchestration=POST_USER_QUERY)
def post_user_query(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Run one chat turn."""
    try:
        output = yield from run_turn(context)
    except TurnFailed:
        _tell_readers(context)
        raise
    _tell_readers(context)
    return output


def _tell_readers(context: df.DurableOrchestrationContext) -> None:
    """Wake this process's readers waiting on the turn's status (its end, its early reply, a wait for a person): a
    hint, not a fact (the status they read is committed just after this episode); never while replaying."""
    if not context.is_replaying:
        signals.finished(context.instance_id)
