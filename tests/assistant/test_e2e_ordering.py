"""End to end: turns of one chat run one at a time in arrival order; Idempotency-Key repeats start nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.assistant.conftest import AssistantHost, assert_conforms
from tests.support.fake_openai import FakeOpenAI, ScriptedReply


def echo(delay: float = 0.0) -> Any:
    """A responder answering `reply to <last user message>` after `delay`."""

    def respond(body: dict[str, Any]) -> ScriptedReply:
        last_user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        return ScriptedReply(content=f"reply to {last_user}", delay=delay)

    return respond


def pairs(state: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in state["recentMessages"][1:]]


def test_concurrent_posts_are_queued_and_each_sees_the_turns_before_it(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """Six POSTs at once: all 200, GET shows a turn in progress with pending turns, and every turn's prompt holds all
    earlier turns."""
    host = assistant_host
    chat = host.new_chat()
    model.responder = echo(delay=0.15)
    messages = [f"m{i}" for i in range(6)]
    with ThreadPoolExecutor(len(messages) + 1) as pool:
        posts = [pool.submit(host.http.post, f"{host.api}/chats/{chat}", json={"message": m}) for m in messages]
        time.sleep(0.2)
        busy = host.http.get(f"{host.api}/chats/{chat}").json()
        answers = [p.result() for p in posts]
    assert_conforms(busy, "ChatState")
    assert busy["turnInProgress"] is True and busy["pendingTurns"] >= 1, busy
    assert [(a.status_code, a.text) for a in answers] == [(200, f"reply to {m}") for m in messages]
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    assert state["turnInProgress"] is False and state["pendingTurns"] == 0
    order = [content for role, content in pairs(state) if role == "user"]
    assert sorted(order) == messages
    assert pairs(state) == [p for m in order for p in (("user", m), ("assistant", f"reply to {m}"))]
    # one turn at a time: the k-th model call saw the system message, k earlier turns and its own message
    assert [len(r["messages"]) for r in model.requests] == [2 + 2 * k for k in range(len(messages))]


def test_turns_run_in_the_order_their_posts_were_accepted(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """POSTs answered 202 at once (timeoutSeconds=0), one after the other: the chat holds them in that order."""
    host = assistant_host
    chat = host.new_chat()
    model.responder = echo(delay=0.05)
    messages = [f"n{i}" for i in range(5)]
    status_urls = []
    for message in messages:
        response = host.http.post(f"{host.api}/chats/{chat}", params={"timeoutSeconds": "0"}, json={"message": message})
        assert response.status_code == 202, response.text
        status_urls.append(response.json()["statusQueryGetUri"])
    deadline = time.monotonic() + 20
    while host.http.get(status_urls[-1]).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.05)
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    assert pairs(state) == [p for m in messages for p in (("user", m), ("assistant", f"reply to {m}"))]


def test_idempotency_key_repeat_returns_the_same_turn_and_a_different_message_is_422(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """Same key: same reply and instance, one model call, one turn stored; same key, other message: 422 JSON."""
    host = assistant_host
    chat = host.new_chat()
    model.responder = echo()
    url = f"{host.api}/chats/{chat}"
    headers = {"Idempotency-Key": "order-42", "Accept": "application/json"}
    first = host.http.post(url, json={"message": "buy milk"}, headers=headers)
    again = host.http.post(url, json={"message": "buy milk"}, headers=headers)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert first.json() == again.json() and first.json()["reply"] == "reply to buy milk"
    assert len(model.requests) == 1
    other = host.http.post(url, json={"message": "buy eggs"}, headers=headers)
    assert other.status_code == 422 and "different request" in other.json()["error"]
    assert_conforms(other.json(), "Error")
    elsewhere = host.http.post(f"{host.api}/chats/{host.new_chat()}", json={"message": "buy eggs"}, headers=headers)
    assert elsewhere.status_code == 200 and elsewhere.json()["reply"] == "reply to buy eggs"
    assert pairs(host.http.get(url).json()) == [("user", "buy milk"), ("assistant", "reply to buy milk")]
    bad_key = host.http.post(url, json={"message": "x"}, headers={"Idempotency-Key": "has space"})
    assert bad_key.status_code == 400 and "Idempotency-Key" in bad_key.json()["error"]


def _one_running_one_queued_then(
    host: AssistantHost, model: FakeOpenAI, action: Callable[[str], bool]
) -> tuple[str, list[httpx.Response]]:
    """A new chat with turn "a" running (slow model) and "b" queued behind it, then `action(url)` (asserted
    true) while they are; the chat's URL and both POSTs' answers."""
    chat = host.new_chat()
    model.responder = echo(delay=0.4)
    url = f"{host.api}/chats/{chat}"
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(host.http.post, url, json={"message": "a"})
        time.sleep(0.1)
        queued = pool.submit(host.http.post, url, json={"message": "b"})
        time.sleep(0.1)
        assert action(url)
        return url, [first.result(), queued.result()]


def test_reset_cancels_queued_turns_and_they_write_nothing(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """PUT while turns are queued: the queued ones end 409, the fresh chat holds no message of theirs."""
    host = assistant_host
    url, answers = _one_running_one_queued_then(
        host, model, lambda url: host.http.put(url, json={"instructions": "fresh"}).status_code == 202
    )
    assert [a.status_code for a in answers] == [409, 409], [a.text for a in answers]
    assert "reset or deleted" in answers[1].json()["error"]
    state = host.http.get(url).json()
    assert state["totalMessages"] == 1 and state["turnInProgress"] is False
    assert host.http.post(url, json={"message": "c"}).text == "reply to c"


def test_delete_with_queued_turns_answers_204_and_the_turns_409(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """DELETE while a turn runs and one waits: 204, both POSTs 409, the chat stays gone."""
    host = assistant_host
    url, answers = _one_running_one_queued_then(host, model, lambda url: host.http.delete(url).status_code == 204)
    assert [a.status_code for a in answers] == [409, 409], [a.text for a in answers]
    assert host.http.get(url).json()["exists"] is False


def test_the_finished_turns_post_wakes_the_next_queued_turn(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """Turn A's POST raises `turn-ready` on turn B (queued behind it): B's history holds that event."""
    host = assistant_host
    chat = host.new_chat()
    model.responder = echo(delay=0.4)
    url = f"{host.api}/chats/{chat}"
    headers = {"Accept": "application/json"}
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(host.http.post, url, json={"message": "a"}, headers=headers)
        time.sleep(0.1)
        second = pool.submit(host.http.post, url, json={"message": "b"}, headers=headers)
        answers = [first.result(), second.result()]
    assert [a.status_code for a in answers] == [200, 200]
    status_url = f"{host.devhost.base_url}/runtime/webhooks/durabletask/instances/{answers[1].json()['instanceId']}"
    history = host.http.get(status_url, params={"showHistory": "true"}).json()["historyEvents"]
    assert any(e.get("EventType") == "EventRaised" and e.get("Name") == "turn-ready" for e in history), history
