"""The turn event log's table fails mid-turn (the rest of the account works): streams say so and end, the turn finishes
durably, plain POSTs and the chat answer, and once the table is back the log ends with the turn's outcome, nothing
repeated."""

from __future__ import annotations

import json
import time

import httpx
from httpx_sse import connect_sse

from tests.adversarial.conftest import ProxiedHost, read_until_terminal
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call
from tests.support.storage_proxy import ProxiedRequest

EVENTS_TABLE = "turnevents"
SENTENCE = " ".join(f"word{i}" for i in range(40))


def _events_table(request: ProxiedRequest) -> bool:
    return request.table == EVENTS_TABLE


def test_a_stream_says_the_live_log_is_unavailable_and_the_turn_finishes(
    proxied: ProxiedHost, model: FakeOpenAI
) -> None:
    """Refused after the first words: the stream ends with `event: error` (`live_log_unavailable`, the status URL),
    never `turn.failed`; the turn completes; the chat holds its reply once; a plain POST meanwhile gets its reply;
    once the table is back, the log reads to `turn.completed` with the whole reply, no event twice."""
    host, proxy = proxied.host, proxied.proxy
    chat = host.new_chat()
    model.script(ScriptedReply(content=SENTENCE, delay=0.2, token_delay=0.05))
    received: list[tuple[str, dict]] = []
    try:
        with (
            httpx.Client(timeout=30) as http,
            connect_sse(
                http,
                "POST",
                f"{host.api}/chats/{chat}",
                json={"message": "talk"},
                headers={"Accept": "text/event-stream"},
            ) as source,
        ):
            for sse in source.iter_sse():
                received.append((sse.event, json.loads(sse.data)))
                if sse.event == "message.delta" and not proxy._refusals:
                    proxy.refuse(_events_table)  # the log's table goes down mid-stream
        kinds = [kind for kind, _ in received]
        assert kinds[-1] == "error" and "turn.failed" not in kinds, kinds
        error = received[-1][1]
        assert (
            error["code"] == "live_log_unavailable"
            and "/runtime/webhooks/durabletask/instances/" in error["statusQueryGetUri"]
        )
        turn = received[0][1]["turnId"]
        status = host.http.get(error["statusQueryGetUri"])
        deadline = time.monotonic() + 30
        while status.status_code == 202 and time.monotonic() < deadline:
            time.sleep(0.2)
            status = host.http.get(error["statusQueryGetUri"])
        assert status.json()["runtimeStatus"] == "Completed" and status.json()["output"]["reply"] == SENTENCE
        model.reset().reply("still here")
        plain = host.http.post(
            f"{host.api}/chats/{chat}", json={"message": "and now?"}, headers={"Accept": "application/json"}
        )
        assert plain.status_code == 200 and plain.json()["reply"] == "still here"
        replies = [
            m["content"]
            for m in host.http.get(f"{host.api}/chats/{chat}").json()["recentMessages"]
            if m["role"] == "assistant"
        ]
        assert replies == [SENTENCE, "still here"]
    finally:
        proxy.clear()
    events = read_until_terminal(host, chat, turn)
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(set(sequences))
    assert events[-1]["type"] == "turn.completed" and events[-1]["reply"] == SENTENCE


def test_a_long_poll_answers_503_while_the_log_is_down(proxied: ProxiedHost, model: FakeOpenAI) -> None:
    """`Accept: application/json` on a turn whose log cannot be read: 503 with `Retry-After`, the code and the status
    URL (the turn's outcome); back, the same request answers the events."""
    host, proxy = proxied.host, proxied.proxy
    chat = host.new_chat()
    model.reply("fine")
    done = host.http.post(f"{host.api}/chats/{chat}", json={"message": "hi"}, headers={"Accept": "application/json"})
    turn = done.json()["instanceId"]
    proxy.refuse(_events_table)
    try:
        url = f"{host.api}/chats/{chat}/turns/{turn}/events"
        down = host.http.get(url, headers={"Accept": "application/json"}, params={"waitSeconds": 5})
        assert down.status_code == 503 and down.headers["Retry-After"], down.text
        assert down.json()["code"] == "live_log_unavailable" and down.json()["statusQueryGetUri"]
    finally:
        proxy.clear()
    assert read_until_terminal(host, chat, turn)[-1]["reply"] == "fine"


def test_skills_and_the_model_call_do_not_fail_when_the_log_refuses(proxied: ProxiedHost, model: FakeOpenAI) -> None:
    """The table down for the whole turn: a turn with a tool call completes (the log is best effort for its writers)."""
    host, proxy = proxied.host, proxied.proxy
    chat = host.new_chat()
    model.script(
        ScriptedReply(tool_calls=(tool_call("AddTodo", {"taskDescription": "during the outage"}),)),
        ScriptedReply(content="added"),
    )
    proxy.refuse(_events_table)
    try:
        answer = host.http.post(
            f"{host.api}/chats/{chat}", json={"message": "add"}, headers={"Accept": "application/json"}
        )
        assert answer.status_code == 200 and answer.json()["reply"] == "added", answer.text
    finally:
        proxy.clear()
    todos = host.http.get(f"{host.api}/chats/{chat}/todos").json()
    assert [t["taskDescription"] for t in todos] == ["during the outage"]
