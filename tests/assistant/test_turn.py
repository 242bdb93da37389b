"""The turn's steps: answer handling, tool planning, round limit, the record and output."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from assistant.messages import ChatMessage, ToolCall
from assistant.payloads import CompletionResult, ToolResult, TurnInput
from assistant.state import Usage
from assistant.turn import ROUND_LIMIT_REPLY, TurnRun

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
SYSTEM = (ChatMessage(role="system", content="rules", created_at="2026-11-20T11:00:00.000000Z"),)
TOOLS = frozenset({"AddTodo", "GetTodos"})


def begin(max_rounds: int = 5) -> TurnRun:
    return TurnRun.begin(TurnInput("c", "add milk", max_rounds), "turn-1", SYSTEM, T0)


def test_text_answer_ends_the_turn_with_that_reply() -> None:
    """No tool calls: one model request, reply recorded, usage summed."""
    run = begin()
    request = run.model_request()
    assert [m.role for m in request.messages] == ["system", "user"] and request.allow_tools
    run, plan = run.on_answer(CompletionResult("Hello!", usage=Usage(3, 2, 5)), T0, TOOLS)
    assert run.done and run.reply == "Hello!" and plan.to_run == ()
    record = run.record()
    assert [m.role for m in record.messages] == ["user", "assistant"] and record.usage.total_tokens == 5


def test_tool_calls_are_planned_and_unknown_tools_rejected_in_call_order() -> None:
    """Known skills run; an unknown name gets an error result; results follow the calls' order."""
    calls = (ToolCall("a", "AddTodo", "{}"), ToolCall("b", "Nope", "{}"), ToolCall("c", "GetTodos", "{}"))
    run, plan = begin().on_answer(CompletionResult("", tool_calls=calls), T0, TOOLS)
    assert not run.done and run.rounds == 1
    assert [c.id for c in plan.to_run] == ["a", "c"]
    assert [(r.tool_call_id, r.ok) for r in plan.rejected] == [("b", False)]
    assert "no tool named 'Nope'" in plan.rejected[0].content
    results = [ToolResult("c", "GetTodos", "[]"), ToolResult("a", "AddTodo", "ok"), *plan.rejected]
    run = run.on_tool_results(results, T0 + timedelta(seconds=1))
    assert [(m.role, m.tool_call_id, m.content) for m in run.new_messages[2:]] == [
        ("tool", "a", "ok"), ("tool", "b", plan.rejected[0].content), ("tool", "c", "[]")
    ]
    run, _ = run.on_answer(CompletionResult("Added."), T0, TOOLS)
    assert run.reply == "Added."
    assert [m.role for m in run.output().recent_messages] == ["user", "assistant", "tool", "tool", "tool", "assistant"]


def test_round_limit_withdraws_tools_and_never_ends_on_an_empty_reply() -> None:
    """After the limit the request has no tools; a model that still calls tools gets the fixed reply."""
    call = (ToolCall("a", "GetTodos", "{}"),)
    run, _ = begin(max_rounds=1).on_answer(CompletionResult("", tool_calls=call), T0, TOOLS)
    run = run.on_tool_results([ToolResult("a", "GetTodos", "[]")], T0)
    assert run.model_request().allow_tools is False
    run, plan = run.on_answer(CompletionResult("", tool_calls=(ToolCall("b", "GetTodos", "{}"),)), T0, TOOLS)
    assert run.done and run.reply == ROUND_LIMIT_REPLY and plan.to_run == ()
    assert run.new_messages[-1].tool_calls == ()


def test_turn_stamps_strictly_increase_after_the_history_even_at_one_instant() -> None:
    """Every message of a turn is stamped after the previous one, so the entity stores them as returned."""
    from assistant.messages import parse_utc

    calls = (ToolCall("a", "AddTodo", "{}"), ToolCall("b", "GetTodos", "{}"))
    early = T0 - timedelta(hours=2)  # before the system message: the floor is the history
    run = TurnRun.begin(TurnInput("c", "hi"), "turn-1", SYSTEM, early)
    run, _ = run.on_answer(CompletionResult("", tool_calls=calls), early, TOOLS)
    run = run.on_tool_results([ToolResult("a", "AddTodo", "x"), ToolResult("b", "GetTodos", "y")], early)
    run, _ = run.on_answer(CompletionResult("done"), early, TOOLS)
    stamps = [parse_utc(m.created_at) for m in SYSTEM + run.new_messages]
    assert all(a < b for a, b in zip(stamps, stamps[1:]))
