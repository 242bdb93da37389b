"""The turn's steps: answer handling, tool planning, round limit, the record and output."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from assistant.messages import ChatMessage, ToolCall
from assistant.payloads import CompletionResult, ToolResult, TurnInput
from assistant.state import Usage
from assistant.turn import ROUND_LIMIT_REPLY, TurnRun

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SYSTEM = (ChatMessage(role="system", content="rules", created_at="2026-11-20T11:00:00.000000Z"),)
TOOLS = frozenset({"AddTodo", "GetTodos", "CompleteTodo", "DeleteTodo"})


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
        ("tool", "a", "ok"),
        ("tool", "b", plan.rejected[0].content),
        ("tool", "c", "[]"),
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
    assert all(a < b for a, b in itertools.pairwise(stamps))


def test_repeated_call_ids_in_one_answer_are_made_unique_so_each_call_keeps_its_result() -> None:
    """Two calls with id `call_1` in one answer: the second becomes `call_1~2`, and each result answers its own call."""
    calls = (
        ToolCall("call_1", "AddTodo", '{"taskDescription": "a"}'),
        ToolCall("call_1", "AddTodo", '{"taskDescription": "b"}'),
    )
    run, plan = begin().on_answer(CompletionResult("", tool_calls=calls), T0, TOOLS)
    assert [c.id for c in plan.to_run] == ["call_1", "call_1~2"]
    keys = {run.invocation(c, i).idempotency_key for i, c in enumerate(plan.to_run)}
    assert len(keys) == 2
    run = run.on_tool_results([ToolResult("call_1~2", "AddTodo", "B"), ToolResult("call_1", "AddTodo", "A")], T0)
    assert [(m.tool_call_id, m.content) for m in run.new_messages if m.role == "tool"] == [
        ("call_1", "A"),
        ("call_1~2", "B"),
    ]


def test_calls_beyond_the_cap_do_not_run_and_are_not_kept() -> None:
    """With at most 2 calls per answer: two run, the third gets an error the model reads, the rest are left out."""
    turn = TurnInput("c", "many", 5, max_tool_calls=2)
    calls = tuple(ToolCall(f"c{i}", "GetTodos", "{}") for i in range(5))
    run, plan = TurnRun.begin(turn, "turn-1", SYSTEM, T0).on_answer(CompletionResult("", tool_calls=calls), T0, TOOLS)
    assert [c.id for c in plan.to_run] == ["c0", "c1"]
    assert [r.tool_call_id for r in plan.rejected] == ["c2"]
    assert "too many tool calls" in plan.rejected[0].content and "the 2 after it" in plan.rejected[0].content
    assert [c.id for c in run.new_messages[-1].tool_calls] == ["c0", "c1", "c2"]


def test_idempotency_keys_are_unique_per_run_round_and_call_and_stable_for_the_same_run() -> None:
    """The key names the turn, its run, the round and the call's place: a new run or round gives new keys."""
    call = ToolCall("call_1", "AddTodo", "{}")
    first = TurnRun.begin(TurnInput("c", "x"), "turn-1", SYSTEM, T0, run_key="run-a")
    run, _ = first.on_answer(CompletionResult("", tool_calls=(call,)), T0, TOOLS)
    again, _ = first.on_answer(CompletionResult("", tool_calls=(call,)), T0, TOOLS)
    assert run.invocation(call, 0).idempotency_key == again.invocation(call, 0).idempotency_key == "turn-1/run-a/1/0"
    other = TurnRun.begin(TurnInput("c", "x"), "turn-1", SYSTEM, T0, run_key="run-b")
    other, _ = other.on_answer(CompletionResult("", tool_calls=(call,)), T0, TOOLS)
    assert other.invocation(call, 0).idempotency_key != run.invocation(call, 0).idempotency_key


def test_resume_goes_on_from_the_recorded_messages_without_running_their_calls_again() -> None:
    """A resumed turn starts with the partial messages and its rounds counted, asking the model next."""
    run, _plan = begin().on_answer(CompletionResult("", tool_calls=(ToolCall("a", "AddTodo", "{}"),)), T0, TOOLS)
    run = run.on_tool_results([ToolResult("a", "AddTodo", "ok")], T0)
    assert run.tools_ran and run.partial_record().incomplete
    resumed = TurnRun.resume(TurnInput("c", "add milk"), "turn-1", SYSTEM, run.new_messages, "run-2")
    assert resumed.rounds == 1 and not resumed.done
    assert [m.role for m in resumed.model_request().messages] == ["system", "user", "assistant", "tool"]
    done, _ = resumed.on_answer(CompletionResult("Added."), T0, TOOLS)
    assert [m.role for m in done.record().messages] == ["user", "assistant", "tool", "assistant"]
