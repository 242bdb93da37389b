"""The `post_user_query` orchestrator: one chat turn, deterministic (no I/O, clock or randomness).

First it takes its place in the chat's turn queue (`enqueue_turn` on the chat entity; the
custom status `{"accepted": true}` tells the API it is queued) and waits, re-asking the entity
(`poll_turn`) after durable timers of growing length, until it is the running turn; a
`turn-ready` external event (raised by the API once the turn before it has ended and named it
as `nextTurnId`) cuts a wait short, so the timers are only the guarantee, not the pace. Then it
drives `assistant.turn.TurnRun` step by step from the chat the entity handed over: ask the model
(`chat_completion` activity), run the answer's tool calls as skill activities in parallel
(`task_all`), repeat until the model answers in text or the round limit is reached, then append
the turn to the chat (entity), which also lets the next queued turn run, and return the turn's
messages; when the entity's working window overflows, the append's result names the oldest
messages, which the `archive_messages` activity writes to Table storage before the entity drops
them (`archived`). A turn that fails (the model cannot be reached) appends nothing and leaves the queue
(`note_failed_turn`), so the next turn runs; the entity notes its id, so DELETE can purge it.
Timers and entity calls are in the history, so after a crash the turn resumes where it was.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.archive import ARCHIVE_ACTIVITY
from activities.chat_completion import CHAT_COMPLETION_ACTIVITY
from assistant.payloads import CompletionResult, ToolInvocation, ToolResult, TurnInput, TurnOutput
from assistant.queueing import DONE, QUEUED, RUNNING, TurnSlot
from assistant.state import ChatState
from assistant.turn import TurnRun
from assistant.window import ArchiveBatch
from entities.chat import chat_entity_id
from skills import registry

__all__ = ["ACCEPTED_STATUS", "POST_USER_QUERY", "TURN_READY_EVENT", "bp", "queue_wait_delays", "run_turn"]

POST_USER_QUERY = "post_user_query"
ACCEPTED_STATUS = {"accepted": True}
"""Custom status set in the turn's first step: once visible, the turn holds its place in the queue."""
TURN_READY_EVENT = "turn-ready"
"""External event that cuts a queued turn's wait short (raised by the API when the turn before it ends)."""
FIRST_WAIT_SECONDS = 0.02
MAX_WAIT_SECONDS = 0.5

bp = df.Blueprint()


def queue_wait_delays() -> Generator[float, None, None]:
    """Seconds between queue polls: 20 ms growing by half each time, at most 0.5 s."""
    delay = FIRST_WAIT_SECONDS
    while True:
        yield delay
        delay = min(delay * 1.5, MAX_WAIT_SECONDS)


def run_turn(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Queue, then the turn loop; `known_tools` come from the skill registry (in-memory, the same on every replay)."""
    turn = TurnInput.from_dict(context.get_input())
    entity = chat_entity_id(turn.chat_id)
    context.set_custom_status(ACCEPTED_STATUS)
    slot = TurnSlot.from_dict((yield context.call_entity(entity, "enqueue_turn", context.instance_id)))
    delays = queue_wait_delays()
    while slot.state == QUEUED:
        timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=next(delays)))
        woken = context.wait_for_external_event(TURN_READY_EVENT)
        if (yield context.task_any([timer, woken])) is woken:
            timer.cancel()
        slot = TurnSlot.from_dict((yield context.call_entity(entity, "poll_turn", context.instance_id)))
    if slot.state == DONE:
        # A repeat of an instance id whose turn is already in the chat (an Idempotency-Key race).
        return TurnOutput(chat_id=turn.chat_id, found=True, reply=_reply(slot), recent_messages=slot.messages).to_dict()
    if slot.state != RUNNING or slot.chat is None:
        return TurnOutput(chat_id=turn.chat_id, found=False).to_dict()
    try:
        return (yield from _turn_loop(context, turn, slot.chat))
    except Exception:
        # Nothing of the turn was appended; leave the queue so the next turn runs, and remember
        # the id so deleting the chat purges it too.
        yield context.call_entity(entity, "note_failed_turn", context.instance_id)
        raise


def _reply(slot: TurnSlot) -> str:
    finals = [m.content for m in slot.messages if m.role == "assistant" and not m.tool_calls]
    return finals[-1] if finals else ""


def _turn_loop(
    context: df.DurableOrchestrationContext, turn: TurnInput, chat: ChatState
) -> Generator[Any, Any, dict[str, Any]]:
    """Model requests and tool rounds until the final text, then the append."""
    known_tools = registry.names()
    run = TurnRun.begin(turn, context.instance_id, chat.messages, context.current_utc_datetime)
    while not run.done:
        answer = yield context.call_activity(CHAT_COMPLETION_ACTIVITY, run.model_request().to_dict())
        run, plan = run.on_answer(CompletionResult.from_dict(answer), context.current_utc_datetime, known_tools)
        if run.done:
            break
        results: list[ToolResult] = list(plan.rejected)
        if plan.to_run:
            tasks = [
                context.call_activity(call.name, ToolInvocation(chat_id=turn.chat_id, call=call).to_dict())
                for call in plan.to_run
            ]
            done = yield context.task_all(tasks)
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
        yield context.call_activity(ARCHIVE_ACTIVITY, batch.to_dict())
        yield context.call_entity(entity, "archived", {"generation": batch.generation, "uptoSeq": batch.upto_seq})
    return replace(run.output(), next_turn_id=next_turn).to_dict()


@bp.function_name(name=POST_USER_QUERY)
@bp.orchestration_trigger(context_name="context", orchestration=POST_USER_QUERY)
def post_user_query(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Run one chat turn."""
    return (yield from run_turn(context))
