"""The pure replay executor with hand-built histories and the SDK's own orchestrator handler."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df

from devhost.durable import history as h
from devhost.durable.replay import ReplayState, build_context, decide, is_retry_event, run_orchestrator

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Run:
    """Drives one orchestrator through steps the way the engine does, keeping the history."""

    def __init__(self, fn: Any, input_value: Any = None) -> None:
        self.handler = df.Orchestrator.create(fn)
        self.state = ReplayState()
        self.played: list[h.Event] = []
        self.input = json.dumps(input_value) if input_value is not None else None
        self.clock = 0.0

    def step(self, *events: h.Event) -> Any:
        self.clock += 1
        now = _at(self.clock)
        episode = list(events) or [h.execution_started(now, "fn", "i1", "e1", self.input)]
        new = [h.orchestrator_started(now), *episode]
        played = [json.dumps({**e, "IsPlayed": True}) for e in self.played]
        outcome = run_orchestrator(self.handler, build_context("i1", None, self.input, played, new))
        decision = decide(self.state, episode, outcome, now, "i1", "e1")
        self.played += new + decision.new_events
        return decision


def test_activities_take_sequence_numbers_in_order() -> None:
    """Each yielded activity gets the next number; replayed ones are not scheduled again."""

    def chain(ctx: df.DurableOrchestrationContext):
        a = yield ctx.call_activity("hello", "A")
        b = yield ctx.call_activity("hello", "B")
        return [a, b]

    run = Run(chain)
    first = run.step()
    assert [(c.task_id, c.name, c.input) for c in first.activities] == [(0, "hello", '"A"')]
    assert first.new_events[0]["EventType"] == h.EventType.TASK_SCHEDULED and first.new_events[0]["EventId"] == 0
    second = run.step(h.task_completed(_at(1.5), 0, '"Hello A"'))
    assert [(c.task_id, c.input) for c in second.activities] == [(1, '"B"')]
    last = run.step(h.task_completed(_at(2.5), 1, '"Hello B"'))
    assert last.completion is not None and last.completion.status == "Completed"
    assert json.loads(last.completion.output or "") == ["Hello A", "Hello B"]


def test_fan_out_uses_compound_actions_and_numbers_children() -> None:
    """task_all children are numbered in order (V3 WhenAll action flattened)."""

    def fan(ctx: df.DurableOrchestrationContext):
        values = yield ctx.task_all([ctx.call_activity("double", i) for i in range(3)])
        return sum(values)

    run = Run(fan)
    decision = run.step()
    assert [c.task_id for c in decision.activities] == [0, 1, 2]
    run.step(h.task_completed(_at(1.1), 2, "4"), h.task_completed(_at(1.2), 0, "0"))
    done = run.step(h.task_completed(_at(2.1), 1, "2"))
    assert done.completion is not None and done.completion.output == "6"


def test_retry_numbers_timer_and_next_attempt_and_gives_up() -> None:
    """A failed attempt takes a timer number, its firing the next attempt's; exhaustion raises."""

    def retried(ctx: df.DurableOrchestrationContext):
        options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)
        try:
            yield ctx.call_activity_with_retry("flaky", options, 1)
        except Exception as exc:
            return f"gave up: {exc}"
        return "ok"

    run = Run(retried)
    assert [c.task_id for c in run.step().activities] == [0]
    failed = h.task_failed(_at(1.5), 0, "boom", "trace")
    assert is_retry_event(failed, run.state)
    after_failure = run.step(failed)
    assert [t.timer_id for t in after_failure.timers] == [1]
    assert after_failure.timers[0].fire_at == _at(2) + timedelta(seconds=1)
    second_attempt = run.step(h.timer_fired(_at(3), 1, _at(3)))
    assert [c.task_id for c in second_attempt.activities] == [2]
    timer_again = run.step(h.task_failed(_at(4.5), 2, "boom again", "trace"))
    assert [t.timer_id for t in timer_again.timers] == [3]
    final = run.step(h.timer_fired(_at(6), 3, _at(6)))
    assert final.completion is not None and "gave up: boom again" in json.loads(final.completion.output or "")
    assert final.activities == []


def test_changed_activity_name_is_non_deterministic() -> None:
    """A replay scheduling a different activity than the history fails with a clear message."""
    names = ["first"]

    def shifty(ctx: df.DurableOrchestrationContext):
        yield ctx.call_activity(names[0], None)
        yield ctx.call_activity("next", None)

    run = Run(shifty)
    run.step()
    names[0] = "other"
    decision = run.step(h.task_completed(_at(1.5), 0, "null"))
    assert decision.completion is not None and decision.completion.status == "Failed"
    assert decision.completion.output.startswith("Non-deterministic workflow detected")
    assert "'first'" in decision.completion.output and "'other'" in decision.completion.output


def test_lost_timer_of_task_any_is_cancelled() -> None:
    """When the event wins, the timer the code cancels is reported for removal."""

    def race(ctx: df.DurableOrchestrationContext):
        timer = ctx.create_timer(ctx.current_utc_datetime + timedelta(hours=1))
        event = ctx.wait_for_external_event("go")
        winner = yield ctx.task_any([event, timer])
        if winner == event:
            timer.cancel()
        return ctx.is_replaying

    run = Run(race)
    first = run.step()
    assert [t.timer_id for t in first.timers] == [0]
    done = run.step(h.event_raised(_at(1.5), "go", '"yes"'))
    assert done.cancelled_timers == [0]
    assert done.completion is not None and done.completion.output == "false"


def test_orchestrator_exception_becomes_failure_with_its_message() -> None:
    """The SDK's $OutOfProcData$ error is parsed into a failed completion."""

    def broken(ctx: df.DurableOrchestrationContext):
        yield ctx.call_activity("a", None)
        raise ValueError("kaboom")

    run = Run(broken)
    run.step()
    decision = run.step(h.task_completed(_at(1.5), 0, "null"))
    assert decision.completion is not None and decision.completion.status == "Failed"
    assert decision.completion.output == "kaboom"


def test_entity_call_sends_request_and_reads_response() -> None:
    """call_entity emits EventSent with a request id; the response event resolves it."""

    def caller(ctx: df.DurableOrchestrationContext):
        ctx.signal_entity(df.EntityId("Counter", "k"), "add", 1)
        value = yield ctx.call_entity(df.EntityId("Counter", "k"), "get")
        return value

    run = Run(caller)
    decision = run.step()
    assert [c.target for c in decision.entity_calls] == ["@counter@k", "@counter@k"]
    signal, call = (c.request for c in decision.entity_calls)
    assert signal["signal"] is True and call["signal"] is False and call["op"] == "get"
    assert [e["EventId"] for e in decision.new_events] == [0, 1]
    response = h.event_raised(_at(1.5), call["id"], json.dumps({"result": "41"}))
    done = run.step(response)
    assert done.completion is not None and done.completion.output == "41"


def test_continue_as_new_and_custom_status() -> None:
    """continue_as_new ends the step with the new input; custom status is carried."""

    def looping(ctx: df.DurableOrchestrationContext):
        ctx.set_custom_status({"n": ctx.get_input()})
        yield ctx.call_activity("tick", None)
        ctx.continue_as_new(ctx.get_input() + 1)

    run = Run(looping, 4)
    first = run.step()
    assert json.loads(first.custom_status or "") == {"n": 4}
    decision = run.step(h.task_completed(_at(1.5), 0, "null"))
    assert decision.completion is not None and decision.completion.status == "ContinuedAsNew"
    assert decision.completion.output == "5"


def test_context_declares_schema_versions_and_replaying() -> None:
    """The context carries upperSchemaVersion 1 / New 2 and isReplaying when history exists."""
    context = json.loads(build_context("i", "p", '"x"', [json.dumps(h.orchestrator_started(T0))], []))
    assert context["upperSchemaVersion"] == 1 and context["upperSchemaVersionNew"] == 2
    assert context["isReplaying"] is True and context["parentInstanceId"] == "p" and context["input"] == '"x"'


def test_replay_state_round_trips_through_json() -> None:
    """The persisted bookkeeping (sequence, actions, retries) survives serialization."""

    def retried(ctx: df.DurableOrchestrationContext):
        yield ctx.call_activity_with_retry("flaky", df.RetryOptions(10, 3), None)

    run = Run(retried)
    run.step()
    again = ReplayState.from_json(run.state.to_json())
    assert again == run.state and again.retry_by_task(0) is not None
