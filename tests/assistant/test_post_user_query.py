"""The turn orchestrator's decisions, driving its generator with scripted task results."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.durable_functions.models.Task import TaskState

from assistant.failures import ModelFailure, TurnFailure
from assistant.messages import ToolCall
from assistant.payloads import CompletionResult, ToolInvocation, TurnInput
from assistant.queueing import TurnSlot
from assistant.state import ChatState, Usage, new_chat
from orchestrators.post_user_query import LIVENESS_SECONDS
from orchestrators.post_user_query import run_turn as _run_turn

CANCEL = ("event", "cancel")


class Won:
    """What `task_any` hands back when the raced work finished (or failed)."""

    def __init__(self, result: Any, failed: bool = False) -> None:
        self.result = result
        self.state = TaskState.FAILED if failed else TaskState.SUCCEEDED


class Steps:
    """Drives the orchestrator's generator; a step raced by the cancel event shows as the work itself, and the value
    sent back is wrapped as the winner (the work's), so the tests read as the turn's plain sequence of steps."""

    def __init__(self, generator: Any) -> None:
        self.generator = generator
        self.race = False

    def _show(self, item: Any) -> Any:
        self.race = isinstance(item, tuple) and item[:1] == ("any",) and len(item[1]) == 2 and item[1][1] == CANCEL
        return item[1][0] if self.race else item

    def __iter__(self) -> Steps:
        return self

    def __next__(self) -> Any:
        return self._show(next(self.generator))

    def send(self, value: Any) -> Any:
        return self._show(self.generator.send(Won(value) if self.race else value))

    def throw(self, error: BaseException) -> Any:
        if self.race:
            return self._show(self.generator.send(Won(error, failed=True)))
        return self._show(self.generator.throw(error))


def run_turn(context: Any) -> Steps:
    return Steps(_run_turn(context))


T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Timer(tuple):
    """A timer task that records being cancelled."""

    cancelled = False

    def __new__(cls, fire_at: datetime) -> Timer:
        return super().__new__(cls, ("timer", fire_at))

    def cancel(self) -> None:
        self.cancelled = True


class ScriptedContext:
    """Records what the orchestrator schedules; tasks are plain tuples."""

    def __init__(self, turn: TurnInput) -> None:
        self.instance_id = "chat1-turn-x"
        self.is_replaying = False
        self.current_utc_datetime = T0
        self._input = turn.to_dict()

    def get_input(self) -> dict[str, Any]:
        return self._input

    def call_entity(self, entity: Any, operation: str, data: Any = None) -> tuple[Any, ...]:
        return ("entity", entity.name, entity.key, operation, data)

    def set_custom_status(self, status: Any) -> None:
        self.custom_status = status

    def create_timer(self, fire_at: datetime) -> Timer:
        return Timer(fire_at)

    def wait_for_external_event(self, name: str) -> tuple[Any, ...]:
        return ("event", name)

    def task_any(self, tasks: list[Any]) -> tuple[Any, ...]:
        return ("any", tuple(tasks))

    def call_activity(self, name: str, data: Any) -> tuple[Any, ...]:
        return ("activity", name, data)

    def call_activity_with_retry(self, name: str, retry: Any, data: Any) -> tuple[Any, ...]:
        self.retry = retry
        return ("activity", name, data)

    def new_uuid(self) -> str:
        return "run-1"

    def task_all(self, tasks: list[Any]) -> tuple[Any, ...]:
        return ("all", tuple(tasks))


def test_turn_with_parallel_tool_calls_then_text() -> None:
    """read → model → both AddTodo calls in one task_all → model → append_turn → output."""
    context = ScriptedContext(TurnInput("chat1", "add milk and eggs", 5))
    steps = run_turn(context)
    assert next(steps) == ("entity", "chat", "chat1", "enqueue_turn", {"turnId": "chat1-turn-x", "requestHash": ""})
    model_call = steps.send(running(new_chat("chat1", "be brief", T0)))
    assert model_call[:2] == ("activity", "chat_completion")
    assert [m["role"] for m in model_call[2]["messages"]] == ["system", "user"]
    calls = (
        ToolCall("c1", "AddTodo", '{"taskDescription": "milk"}'),
        ToolCall("c2", "AddTodo", '{"taskDescription": "eggs"}'),
    )
    fan_out = steps.send(CompletionResult("", tool_calls=calls, usage=Usage(1, 1, 2)).to_dict())
    assert fan_out[0] == "all"
    invocations = [ToolInvocation.from_dict(task[2]) for task in fan_out[1]]
    assert [(t[1], i.chat_id, i.call.id) for t, i in zip(fan_out[1], invocations)] == [
        ("AddTodo", "chat1", "c1"),
        ("AddTodo", "chat1", "c2"),
    ]
    results = [
        {"toolCallId": "c1", "name": "AddTodo", "content": "added milk", "ok": True},
        {"toolCallId": "c2", "name": "AddTodo", "content": "added eggs", "ok": True},
    ]
    second_model_call = steps.send(results)
    assert [m["role"] for m in second_model_call[2]["messages"]] == ["system", "user", "assistant", "tool", "tool"]
    append = steps.send(CompletionResult("Added milk and eggs.", usage=Usage(1, 1, 2)).to_dict())
    assert append[:4] == ("entity", "chat", "chat1", "append_turn")
    assert append[4]["turnId"] == "chat1-turn-x" and append[4]["usage"]["totalTokens"] == 4
    try:
        steps.send({"appended": True})
    except StopIteration as stop:
        output = stop.value
    assert output["reply"] == "Added milk and eggs." and output["found"] is True
    assert [m["role"] for m in output["recentMessages"]] == ["user", "assistant", "tool", "tool", "assistant"]
    json.dumps(output)  # the output must be plain JSON for the durable history


def running(chat: ChatState) -> dict[str, Any]:
    """The entity's answer when the turn is at the head of the queue."""
    return TurnSlot(state="running", chat=chat).to_dict()


def test_queued_turn_waits_for_its_wake_up_with_one_long_timer() -> None:
    """Queued: one long timer raced by the turn-ready event (no polling timers); woken, it asks the entity again, until
    the entity says it runs; when the timer fires with the same turn ahead, that turn's liveness is checked."""
    context = ScriptedContext(TurnInput("chat1", "second"))
    steps = run_turn(context)
    next(steps)
    assert context.custom_status == {"accepted": True}
    published = steps.send(TurnSlot(state="queued", position=1).to_dict())
    assert published == (
        "activity",
        "publish_turn_events",
        {
            "turnId": "chat1-turn-x",
            "chatId": "chat1",
            "start": 1,
            "events": [{"type": "turn.queued", "data": {"position": 1}}],
        },
    )
    first_wait = steps.send(1)
    assert first_wait == ("any", (("timer", T0 + timedelta(seconds=LIVENESS_SECONDS)), ("event", "turn-ready"), CANCEL))
    assert steps.send(first_wait[1][1]) == ("entity", "chat", "chat1", "poll_turn", "chat1-turn-x")
    assert first_wait[1][0].cancelled  # woken by the event: the timer is cancelled
    second_wait = steps.send(TurnSlot(state="queued", position=1, head="other").to_dict())
    assert second_wait[1][0] == ("timer", T0 + timedelta(seconds=LIVENESS_SECONDS))
    assert steps.send(second_wait[1][0]) == ("entity", "chat", "chat1", "poll_turn", "chat1-turn-x")  # timer fired
    asked = steps.send(TurnSlot(state="queued", position=1, head="other").to_dict())
    assert asked[:3] == ("activity", "turn_status", {"turnId": "other"})  # the same turn ahead: does it live?
    third_wait = steps.send("Running")
    steps.send(third_wait[1][1])
    model_call = steps.send(running(new_chat("chat1", None, T0)))
    assert model_call[:2] == ("activity", "chat_completion")
    assert model_call[2]["events"] == {
        "turnId": "chat1-turn-x",
        "chatId": "chat1",
        "start": 2,
        "preface": [{"type": "turn.started", "data": {}}],
    }


def test_missing_chat_ends_without_calling_the_model() -> None:
    """A chat deleted (or reset) before the turn ran: the output says not found and nothing is scheduled."""
    steps = run_turn(ScriptedContext(TurnInput("gone", "hi")))
    next(steps)
    try:
        steps.send(TurnSlot(state="cancelled").to_dict())
        raise AssertionError("the orchestrator scheduled more work for a missing chat")
    except StopIteration as stop:
        assert stop.value == {
            "chatId": "gone",
            "found": False,
            "reply": "",
            "recentMessages": [],
            "usage": Usage().to_dict(),
            "nextTurnId": None,
            "cancelled": False,
        }


def test_only_unknown_tools_schedule_no_activity() -> None:
    """An answer naming only unknown tools goes straight back to the model with error results."""
    steps = run_turn(ScriptedContext(TurnInput("chat1", "do magic")))
    next(steps)
    steps.send(running(new_chat("chat1", None, T0)))
    again = steps.send(CompletionResult("", tool_calls=(ToolCall("x", "Magic", "{}"),)).to_dict())
    assert again[:2] == ("activity", "chat_completion")
    assert again[2]["messages"][-1]["role"] == "tool" and "no tool named 'Magic'" in again[2]["messages"][-1]["content"]


def test_failed_model_call_notes_the_turn_and_fails() -> None:
    """A model failure before any tool ran appends nothing: the entity notes the failed turn, then the turn fails."""
    steps = run_turn(ScriptedContext(TurnInput("chat1", "hi")))
    next(steps)
    steps.send(running(new_chat("chat1", None, T0)))
    failure = ModelFailure("the model answered HTTP 503", 503).encode()
    noted = steps.throw(RuntimeError(f"Activity function 'chat_completion' failed: ModelCallFailed: {failure} \n tb"))
    assert noted == ("entity", "chat", "chat1", "note_failed_turn", "chat1-turn-x")
    try:
        steps.send(None)
        raise AssertionError("the orchestration should fail")
    except Exception as error:
        assert TurnFailure.decode(str(error)) == TurnFailure("the model answered HTTP 503", True, False, 503)


def test_failure_after_a_tool_ran_records_the_partial_turn() -> None:
    """Tools ran, then the model failed: the partial turn is appended, marked incomplete, with its tool result."""
    steps = run_turn(ScriptedContext(TurnInput("chat1", "add milk")))
    next(steps)
    steps.send(running(new_chat("chat1", None, T0)))
    calls = (ToolCall("call_1", "AddTodo", '{"taskDescription": "milk"}'),)
    fan_out = steps.send(CompletionResult("", tool_calls=calls).to_dict())
    invocation = ToolInvocation.from_dict(fan_out[1][0][2])
    assert invocation.idempotency_key == "chat1-turn-x/run-1/1/0"
    steps.send([{"toolCallId": "call_1", "name": "AddTodo", "content": "added", "ok": True}])
    appended = steps.throw(RuntimeError(ModelFailure("the model answered HTTP 500", 500).encode()))
    assert appended[3] == "append_turn" and appended[4]["incomplete"] is True
    assert [m["role"] for m in appended[4]["messages"]] == ["user", "assistant", "tool"]
    try:
        steps.send({"appended": True})
        raise AssertionError("the orchestration should fail")
    except Exception as error:
        failed = TurnFailure.decode(str(error))
        assert failed is not None and failed.recorded and failed.status == 500
