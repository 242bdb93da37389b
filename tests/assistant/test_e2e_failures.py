"""End to end: model failures are retried within a bound, then fail the turn atomically; tool failures never crash a
turn."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.turn import ROUND_LIMIT_REPLY
from tests.assistant.conftest import AssistantHost, assert_conforms
from tests.support.fake_openai import FakeOpenAI, tool_call


def post(host: AssistantHost, chat: str, message: str) -> Any:
    return host.http.post(f"{host.api}/chats/{chat}", json={"message": message}, headers={"Accept": "application/json"})


def test_throttling_is_retried_honouring_retry_after(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """Two 429s with Retry-After, then an answer: the turn succeeds after three model requests."""
    host = assistant_host
    chat = host.new_chat()
    model.fail(429, retry_after=0.05, times=2).reply("finally")
    response = post(host, chat, "hi")
    assert response.status_code == 200 and response.json()["reply"] == "finally"
    assert len(model.requests) == 3


def test_timeout_and_dropped_connection_are_retried(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """A stall past the client timeout and a dropped connection are both retried; one turn is stored."""
    host = assistant_host
    chat = host.new_chat()
    model.stall(2.5).drop().reply("made it")
    response = post(host, chat, "hello")
    assert response.status_code == 200 and response.json()["reply"] == "made it"
    assert len(model.requests) == 3
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    assert [(m["role"], m["content"]) for m in state["recentMessages"][1:]] == [
        ("user", "hello"),
        ("assistant", "made it"),
    ]


@pytest.mark.parametrize(
    ("script", "status", "says", "requests"),
    [
        (lambda m: m.fail(503, retry_after=0.01, times=6), 503, "HTTP 503", 6),
        (lambda m: m.fail(429, retry_after=0.01, times=6), 503, "HTTP 429", 6),
        (lambda m: m.fail(500, retry_after=0.01, times=6), 502, "HTTP 500", 6),
        # an answer that breaks off after its 200 is retried by the client (a turn nobody streams asks without
        # streaming), then by the turn's next attempt; a stream that breaks off is retried only by the latter
        # (tests/adversarial/test_model_streams.py)
        (lambda m: m.drop(times=6), 503, "could not be reached", 6),
    ],
)
def test_model_still_failing_fails_the_turn_atomically_and_frees_the_chat(
    assistant_host: AssistantHost, model: FakeOpenAI, script: Any, status: int, says: str, requests: int
) -> None:
    """After the bounded retries (3 client tries x 2 durable attempts): 502/503 JSON naming the cause, status Failed
    with it, history unchanged, next message works."""
    host = assistant_host
    chat = host.new_chat()
    script(model)
    response = post(host, chat, "doomed")
    assert response.status_code == status, response.text
    body = response.json()
    assert_conforms(body, "Error")
    assert says in body["error"] and "the chat is unchanged, send the message again" in body["error"]
    assert len(model.requests) == requests
    turn = host.http.get(f"{host.devhost.base_url}/runtime/webhooks/durabletask/instances/{body['instanceId']}").json()
    assert turn["runtimeStatus"] == "Failed" and says in json.dumps(turn["output"])
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    assert state["totalMessages"] == 1 and state["turnInProgress"] is False
    model.reply("recovered")
    assert post(host, chat, "again").json()["reply"] == "recovered"


def test_a_model_failing_past_the_clients_retries_recovers_on_the_turns_next_attempt(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """Three 500s exhaust one activity run's client retries; the Durable retry runs it again and the turn completes."""
    host = assistant_host
    chat = host.new_chat()
    model.fail(500, retry_after=0.01, times=3).reply("second attempt")
    response = post(host, chat, "hello")
    assert response.status_code == 200 and response.json()["reply"] == "second attempt"
    assert len(model.requests) == 4


def test_a_request_the_model_refuses_fails_at_once_without_retries(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """A 400 cannot pass by retrying: one request, a 502 that names it, the chat unchanged."""
    host = assistant_host
    chat = host.new_chat()
    model.fail(400)
    response = post(host, chat, "too long")
    assert response.status_code == 502 and "HTTP 400" in response.json()["error"]
    assert len(model.requests) == 1


def test_tool_failures_become_error_results_the_model_sees(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """Bad JSON, schema violations, a skill's own error and an unknown tool: the model gets error results, the turn
    completes."""
    host = assistant_host
    chat = host.new_chat()
    model.call_tools(
        tool_call("AddTodo", "{not json", call_id="c_json"),
        tool_call("AddTodo", {"task": "milk"}, call_id="c_schema"),
        tool_call("AddTodo", {"taskDescription": "   "}, call_id="c_empty"),
        tool_call("Fly", {}, call_id="c_fly"),
    ).reply("Some of that failed.")
    response = post(host, chat, "do things")
    assert response.status_code == 200 and response.json()["reply"] == "Some of that failed."
    results = {m["tool_call_id"]: m["content"] for m in model.requests[1]["messages"] if m["role"] == "tool"}
    assert "not valid JSON" in results["c_json"]
    assert "invalid arguments for AddTodo" in results["c_schema"] and "taskDescription" in results["c_schema"]
    assert "taskDescription is empty" in results["c_empty"]
    assert "no tool named 'Fly'" in results["c_fly"]
    assert all(text.startswith("error:") for text in results.values())
    model.call_tools(tool_call("GetTodos", {}, call_id="c_list")).reply("none")
    post(host, chat, "list")
    assert json.loads(model.requests[-1]["messages"][-1]["content"]) == []


def test_round_limit_withdraws_tools_and_ends_with_a_text_reply(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """A model that keeps calling tools: after 5 rounds it is asked without tools; its tool calls then end the turn
    politely."""
    host = assistant_host
    chat = host.new_chat()
    for round_ in range(6):
        model.call_tools(tool_call("GetTodos", {}, call_id=f"c_round{round_}"))
    response = post(host, chat, "loop forever")
    assert response.status_code == 200 and response.json()["reply"] == ROUND_LIMIT_REPLY
    assert ["tools" in r for r in model.requests] == [True] * 5 + [False]
