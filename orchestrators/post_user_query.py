"""The `post_user_query` orchestrator: one chat turn, deterministic (no I/O, clock or randomness).

It drives `assistant.turn.TurnRun` step by step: read the chat (entity), ask the model
(`chat_completion` activity), run the answer's tool calls as skill activities in parallel
(`task_all`), repeat until the model answers in text or the round limit is reached, then append
the turn to the chat (entity) and return the turn's messages. A turn that fails (the model cannot
be reached) appends nothing; the entity only notes its id, so DELETE can purge it.
"""
from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from activities.chat_completion import CHAT_COMPLETION_ACTIVITY
from assistant.payloads import CompletionResult, ToolInvocation, ToolResult, TurnInput, TurnOutput
from assistant.state import ChatState
from assistant.turn import TurnRun
from entities.chat import chat_entity_id
from skills import registry

__all__ = ["POST_USER_QUERY", "bp", "run_turn"]

POST_USER_QUERY = "post_user_query"

bp = df.Blueprint()


def run_turn(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """The turn loop; `known_tools` come from the skill registry (in-memory, the same on every replay)."""
    turn = TurnInput.from_dict(context.get_input())
    stored = yield context.call_entity(chat_entity_id(turn.chat_id), "read")
    if not stored:
        return TurnOutput(chat_id=turn.chat_id, found=False).to_dict()
    try:
        return (yield from _turn_loop(context, turn, ChatState.from_dict(stored)))
    except Exception:
        # Nothing of the turn was appended; remember its id so deleting the chat purges it too.
        yield context.call_entity(chat_entity_id(turn.chat_id), "note_failed_turn", context.instance_id)
        raise


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
    yield context.call_entity(chat_entity_id(turn.chat_id), "append_turn", run.record().to_dict())
    return run.output().to_dict()


@bp.function_name(name=POST_USER_QUERY)
@bp.orchestration_trigger(context_name="context", orchestration=POST_USER_QUERY)
def post_user_query(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Run one chat turn."""
    return (yield from run_turn(context))
