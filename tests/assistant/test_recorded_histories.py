"""Histories recorded by earlier code (`tests/fixtures/record_histories.py`) replay through today's orchestrator.

A turn's history is kept by the Durable backend while it runs (and for the retention after): code deployed
while turns are in flight replays their histories. For each recorded `post_user_query` history the SDK's own
handler replays it through today's code, and:
- the same work is scheduled in the same order (activity names, entity operations, timers): no
  non-determinism, for histories of the shipped code too;
- for histories recorded by the code of this payload format, every activity input and entity operation input
  is the same JSON, key for key in the same order (`wave3-*`): the payload types write what they wrote;
- the turn's output is the same;
- every recorded payload, read by its type and written again, is the same JSON (orchestration inputs and
  outputs, the chat entity's state, activity inputs and results).
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from api.openapi_document import app_functions
from assistant.payloads import CompletionRequest, CompletionResult, ToolInvocation, ToolResult, TurnInput
from assistant.state import ChatState
from devhost.durable.replay import run_orchestrator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "histories"
SAME_FORMAT = ("wave3-hardening.json.gz",)
"""Recordings of today's payload format: byte-for-byte comparisons apply."""
TASK_SCHEDULED, EVENT_SENT, TIMER_CREATED = 4, 14, 10
CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY, CREATE_TIMER, CALL_ENTITY = 0, 1, 2, 7


@cache
def _recording(name: str) -> dict[str, Any]:
    with gzip.open(FIXTURES / name, "rt", encoding="utf-8") as source:
        return json.load(source)


def _cases() -> list[tuple[str, int]]:
    return [
        (path.name, index)
        for path in sorted(FIXTURES.glob("*.json.gz"))
        for index, _ in enumerate(_recording(path.name)["instances"])
    ]


@cache
def _handler(name: str) -> Any:
    return next(f.get_user_function() for f in app_functions() if f.get_function_name() == name)


def _scheduled(history: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """What the history says was scheduled, in order: (kind, name, input JSON)."""
    out = []
    for event in history:
        if event["EventType"] == TASK_SCHEDULED:
            out.append(("activity", event["Name"], event.get("Input") or ""))
        elif event["EventType"] == EVENT_SENT:
            request = json.loads(event["Input"])
            out.append((f"entity {event['InstanceId']}", request["op"], request.get("input") or ""))
    return out


def _replayed(actions: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    out = []
    for action in actions:
        kind = action["actionType"]
        if kind in (CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY):
            out.append(("activity", action["functionName"], action.get("input") or ""))
        elif kind == CALL_ENTITY:
            out.append((f"entity {action['instanceId']}", action["operation"], action.get("input") or ""))
    return out


def _same_json(recorded: str, written: Any) -> None:
    """`written` (a payload's dict form) is the recorded JSON: equal values, keys in the same order."""
    assert json.dumps(json.loads(recorded)) == json.dumps(written)


@pytest.mark.parametrize(("recording", "index"), _cases(), ids=[f"{r}#{i}" for r, i in _cases()])
def test_a_recorded_turn_replays_the_same(recording: str, index: int) -> None:
    """The SDK replays the recorded history through today's orchestrator: the same work in the same order, the same
    output; for today's format the same inputs byte for byte."""
    instance = _recording(recording)["instances"][index]
    assert instance["name"] == "post_user_query"
    context = {
        "history": instance["history"],
        "instanceId": instance["instanceId"],
        "isReplaying": True,
        "parentInstanceId": None,
        "input": instance["input"],
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
    }
    outcome = run_orchestrator(_handler(instance["name"]), json.dumps(context))
    recorded, replayed = _scheduled(instance["history"]), _replayed(outcome.actions)
    assert [(k, n) for k, n, _ in replayed[: len(recorded)]] == [(k, n) for k, n, _ in recorded]
    if recording in SAME_FORMAT:
        for (_, name, was), (_, _, now) in zip(recorded, replayed):
            assert json.loads(was) == json.loads(now), name
            _same_json(was, json.loads(now))
    if instance["status"] == "Completed":
        assert outcome.done and outcome.error is None
        assert outcome.output == json.loads(instance["output"])
    else:
        assert outcome.error is not None and "TurnFailed" in outcome.error


_PAYLOADS = {
    "chat_completion": (CompletionRequest, CompletionResult),
    "AddTodo": (ToolInvocation, ToolResult),
    "DeleteTodo": (ToolInvocation, ToolResult),
}


@pytest.mark.parametrize("recording", sorted(p.name for p in FIXTURES.glob("*.json.gz")))
def test_recorded_payloads_read_and_written_again_are_the_same_json(recording: str) -> None:
    """Every recorded turn input, model and skill activity input and result, and chat state: read by its type and
    written again, the same JSON (today's format) or the same values (older formats, with the fields added since
    at their defaults, which are not written)."""
    data = _recording(recording)
    checked = 0
    for instance in data["instances"]:
        _same_json(instance["input"], TurnInput.from_dict(json.loads(instance["input"])).to_dict())
        results: dict[int, str] = {
            e["TaskScheduledId"]: e["Result"] for e in instance["history"] if e["EventType"] == 5 and "Result" in e
        }
        for event in instance["history"]:
            kinds = _PAYLOADS.get(event.get("Name", "")) if event["EventType"] == TASK_SCHEDULED else None
            if kinds is None:
                continue
            request, result = kinds
            _same_json(event["Input"], request.from_dict(json.loads(event["Input"])).to_dict())
            if event["EventId"] in results:
                _same_json(results[event["EventId"]], result.from_dict(json.loads(results[event["EventId"]])).to_dict())
            checked += 1
    for entity in data["entities"]:
        state = json.loads(entity["state"])
        _same_json(entity["state"], ChatState.from_dict(state).to_dict())
    assert checked > 10
