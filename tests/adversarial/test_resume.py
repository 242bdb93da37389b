"""Resuming a turn's stream: after its last event the answer is 204 (browsers' EventSource stops), beyond it a 400,
and a storm of such reconnects all end at once, never holding a stream open."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.adversarial.conftest import read_until_terminal
from tests.assistant.conftest import AssistantHost
from tests.support.fake_openai import FakeOpenAI


def _finished_turn(host: AssistantHost, model: FakeOpenAI) -> tuple[str, str, int]:
    """A chat, its finished turn, and the sequence number of the turn's terminal event."""
    chat = host.new_chat()
    model.reply("done and dusted")
    answer = host.http.post(f"{host.api}/chats/{chat}", json={"message": "hi"}, headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.text
    turn = answer.json()["instanceId"]
    events = read_until_terminal(host, chat, turn)
    assert events[-1]["type"] == "turn.completed"
    return chat, turn, int(events[-1]["sequence"])


def test_resuming_after_the_last_event_is_204_and_beyond_it_400(target: AssistantHost, model: FakeOpenAI) -> None:
    """Last-Event-ID (or ?after=) equal to the terminal event's id: 204 at once, SSE or JSON; greater: 400 JSON."""
    host = target
    chat, turn, last = _finished_turn(host, model)
    url = f"{host.api}/chats/{chat}/turns/{turn}/events"
    for headers, params in (
        ({"Last-Event-ID": str(last), "Accept": "text/event-stream"}, {}),
        ({"Accept": "text/event-stream"}, {"after": last}),
        ({"Last-Event-ID": str(last), "Accept": "application/json"}, {}),
    ):
        started = time.monotonic()
        response = host.http.get(url, headers=headers, params=params, timeout=10)
        assert response.status_code == 204 and response.content == b"", (headers, params, response.text)
        assert time.monotonic() - started < 2.0
    for beyond in (last + 1, 10**17):
        response = host.http.get(url, headers={"Last-Event-ID": str(beyond)})
        assert response.status_code == 400 and "beyond the turn's last event" in response.json()["error"]
    earlier = host.http.get(url, headers={"Last-Event-ID": str(last - 1), "Accept": "application/json"})
    assert [e["sequence"] for e in earlier.json()] == [last]


def test_a_storm_of_reconnects_after_the_end_all_close(target: AssistantHost, model: FakeOpenAI) -> None:
    """200 EventSource-style reconnects with the terminal id, 20 at a time: every one answered 204, none left open."""
    host = target
    chat, turn, last = _finished_turn(host, model)
    url = f"{host.api}/chats/{chat}/turns/{turn}/events"

    def reconnect(_: int) -> int:
        with httpx.Client(timeout=15) as http:
            return http.get(url, headers={"Last-Event-ID": str(last), "Accept": "text/event-stream"}).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(reconnect, range(200)))
    assert statuses == [204] * 200
    assert time.monotonic() - started < 60
