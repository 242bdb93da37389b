"""End to end: live turns over SSE, from the turn's event log, resumable with nothing missing or twice."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import connect_sse

from assistant.events import TurnEvent, final_text
from assistant.ids import turn_instance_id
from tests.assistant.conftest import AssistantHost, start_assistant_host
from tests.support.azurite import Azurite
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call

SENTENCE = "The quick brown fox jumps over the lazy dog while the cat watches from the warm windowsill."


def stream_post(
    host: AssistantHost, chat: str, message: str, *, stop_after: int | None = None, key: str | None = None
) -> list[tuple[float, TurnEvent]]:
    """POST with Accept: text/event-stream; the events with their arrival times (stopping after `stop_after`)."""
    headers = {"Accept": "text/event-stream", **({"Idempotency-Key": key} if key else {})}
    received: list[tuple[float, TurnEvent]] = []
    with (
        httpx.Client(timeout=30) as http,
        connect_sse(http, "POST", f"{host.api}/chats/{chat}", json={"message": message}, headers=headers) as source,
    ):
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for sse in source.iter_sse():
            event = TurnEvent.from_dict(json.loads(sse.data))
            assert sse.id == str(event.sequence) and sse.event == event.type
            received.append((time.monotonic(), event))
            if stop_after is not None and len(received) >= stop_after:
                break
    return received


def stream_get(host: AssistantHost, chat: str, turn: str, last_id: int | None = None) -> list[TurnEvent]:
    headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
    with (
        httpx.Client(timeout=30) as http,
        connect_sse(http, "GET", f"{host.api}/chats/{chat}/turns/{turn}/events", headers=headers) as source,
    ):
        return [TurnEvent.from_dict(json.loads(sse.data)) for sse in source.iter_sse()]


def types(events: list[TurnEvent]) -> list[str]:
    return [e.type for e in events]


def assert_gapless(events: list[TurnEvent], first: int = 1) -> None:
    assert [e.sequence for e in events] == list(range(first, first + len(events)))


def test_a_text_turn_streams_its_reply_as_the_model_writes_it(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """Events 1..n in order; deltas arrive progressively before turn.completed; their text is the reply, as stored."""
    host = assistant_host
    chat = host.new_chat()
    model.script(ScriptedReply(content=SENTENCE, delay=0.2, token_delay=0.04))
    received = stream_post(host, chat, "tell me a story")
    events = [e for _, e in received]
    assert_gapless(events)
    assert types(events)[:2] == ["turn.queued", "turn.started"] and events[0].data["position"] == 0
    assert types(events)[-2:] == ["message.completed", "turn.completed"]
    deltas = [(t, e) for t, e in received if e.type == "message.delta"]
    assert len(deltas) >= 5, "coalesced, but still many pieces over ~0.7 s of tokens"
    completed_at = received[-1][0]
    assert completed_at - deltas[0][0] > 0.4, "the first words arrived before the model had finished"
    assert final_text(events) == SENTENCE == events[-1].data["reply"]
    assert {e.turn_id for e in events} == {events[0].turn_id} and {e.chat_id for e in events} == {chat}
    stored = host.http.get(f"{host.api}/chats/{chat}").json()["recentMessages"][-1]
    assert stored["role"] == "assistant" and stored["content"] == SENTENCE


def test_a_tool_turn_shows_each_call_then_the_text(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """Two parallel AddTodo calls: the tool-calling message, a started and a completed event per call, then the text."""
    host = assistant_host
    chat = host.new_chat()
    model.call_tools(
        tool_call("AddTodo", {"taskDescription": "milk"}, "c1"), tool_call("AddTodo", {"taskDescription": "eggs"}, "c2")
    )
    model.reply("Added milk and eggs.")
    events = [e for _, e in stream_post(host, chat, "add milk and eggs")]
    assert_gapless(events)
    kinds = types(events)
    first_message = kinds.index("message.completed")
    assert [c["name"] for c in events[first_message].data["toolCalls"]] == ["AddTodo", "AddTodo"]
    tool_events = [e for e in events if e.type.startswith("tool_call.")]
    assert sorted((e.type, e.data["toolCallId"]) for e in tool_events) == [
        ("tool_call.completed", "c1"),
        ("tool_call.completed", "c2"),
        ("tool_call.started", "c1"),
        ("tool_call.started", "c2"),
    ]
    assert all(e.data["ok"] and "added" in e.data["result"] for e in tool_events if e.type == "tool_call.completed")
    last_tool = max(kinds.index(e.type) for e in tool_events)
    assert first_message < min(events.index(e) for e in tool_events) and last_tool < kinds.index("message.delta")
    assert kinds[-1] == "turn.completed" and final_text(events) == "Added milk and eggs."


def test_a_turn_queued_behind_a_slow_one_says_so_then_starts_after_it(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """turn.queued with position 1 first; turn.started only once the first turn is done."""
    host = assistant_host
    chat = host.new_chat()
    model.script(ScriptedReply(content="slow first", delay=1.2), ScriptedReply(content="second"))
    first_done: list[float] = []

    def first() -> None:
        response = host.http.post(f"{host.api}/chats/{chat}", json={"message": "one"})
        assert response.text == "slow first"
        first_done.append(time.monotonic())

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.3)
    received = stream_post(host, chat, "two")
    thread.join(30)
    events = [e for _, e in received]
    assert events[0].type == "turn.queued" and events[0].data["position"] == 1
    started_at = next(t for t, e in received if e.type == "turn.started")
    assert first_done and started_at >= first_done[0] - 0.05
    assert events[-1].type == "turn.completed" and events[-1].data["reply"] == "second"


def test_a_dropped_client_resumes_with_nothing_missing_or_twice(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """Disconnect after 4 events, resume with Last-Event-ID: the rest exactly once; the JSON long poll agrees."""
    host = assistant_host
    chat = host.new_chat()
    model.script(ScriptedReply(content=SENTENCE, token_delay=0.03))
    first = [e for _, e in stream_post(host, chat, "stream then drop", stop_after=4)]
    turn = first[0].turn_id
    rest = stream_get(host, chat, turn, last_id=first[-1].sequence)
    whole = first + rest
    assert_gapless(whole)
    assert whole[-1].type == "turn.completed" and final_text(whole) == SENTENCE
    replay = stream_get(host, chat, turn)
    assert [e.to_dict() for e in replay] == [e.to_dict() for e in whole]
    polled = host.http.get(
        f"{host.api}/chats/{chat}/turns/{turn}/events",
        params={"after": 2, "waitSeconds": 1},
        headers={"Accept": "application/json"},
    )
    assert polled.status_code == 200 and polled.json() == [e.to_dict() for e in whole[2:]]


def test_a_model_failing_mid_stream_resets_then_streams_the_whole_text(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """The stream breaks after 3 words; the turn's next attempt: message.reset, then the full text; the invariant
    holds."""
    host = assistant_host
    chat = host.new_chat()
    model.script(
        ScriptedReply(content="this attempt will break off", drop_after=3, token_delay=0.02),
        ScriptedReply(content=SENTENCE),
    )
    events = [e for _, e in stream_post(host, chat, "try twice")]
    assert_gapless(events)
    kinds = types(events)
    reset = kinds.index("message.reset")
    assert events[reset].data["attempt"] == 2
    assert "message.delta" in kinds[:reset] and "message.delta" in kinds[reset:]
    assert final_text(events) == SENTENCE == events[-1].data["reply"]


def test_unknown_or_foreign_turns_are_404_and_a_failed_turn_ends_with_turn_failed(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """Another chat's turn, a made-up turn: 404 JSON; a turn whose model fails for good: its stream ends turn.failed."""
    host = assistant_host
    chat, other = host.new_chat(), host.new_chat()
    model.fail(400)
    events = [e for _, e in stream_post(host, chat, "doomed")]
    assert events[-1].type == "turn.failed" and "HTTP 400" in events[-1].data["error"]
    assert events[-1].data["retryable"] is False and events[-1].data["recorded"] is False
    turn = events[0].turn_id
    for chat_id, turn_id in ((other, turn), (chat, turn_instance_id(chat, None))):
        response = host.http.get(f"{host.api}/chats/{chat_id}/turns/{turn_id}/events")
        assert response.status_code == 404 and "no turn" in response.json()["error"]
    bad = host.http.get(f"{host.api}/chats/{chat}/turns/{turn}/events", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 400


def test_a_slow_posts_202_and_get_name_the_events_url(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """The 202 of a POST past its wait and the chat's GET (while the turn runs) both name the turn's events URL."""
    host = assistant_host
    chat = host.new_chat()
    model.script(ScriptedReply(content="eventually", delay=1.0))
    accepted = host.http.post(f"{host.api}/chats/{chat}", params={"timeoutSeconds": "0"}, json={"message": "slow"})
    assert accepted.status_code == 202
    url = accepted.json()["eventsUrl"]
    assert url == f"{host.api}/chats/{chat}/turns/{accepted.json()['id']}/events"
    running = host.http.get(f"{host.api}/chats/{chat}").json()["turns"]
    assert running == [{"turnId": accepted.json()["id"], "state": "running", "eventsUrl": url}]
    with httpx.Client(timeout=30) as http, connect_sse(http, "GET", url) as source:
        last = [json.loads(s.data) for s in source.iter_sse()][-1]
    assert last["type"] == "turn.completed" and last["reply"] == "eventually"


@pytest.fixture(scope="module")
def kill_host(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, fake_model: FakeOpenAI
) -> Iterator[AssistantHost]:
    env = {"OPENAI_BASE_URL": fake_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
    yield from start_assistant_host(tmp_path_factory, azurite, env, {"CHAT_MODEL_TIMEOUT_SECONDS": "10"})


def test_devhost_killed_mid_stream_the_client_resumes_and_the_turn_completes(
    kill_host: AssistantHost, fake_model: FakeOpenAI
) -> None:
    """SIGKILL devhost while the reply streams, restart it, resume from the last event: the turn completes and the
    whole stream still spells the reply exactly once."""
    host = kill_host
    fake_model.reset()
    chat = host.new_chat()
    fake_model.script(ScriptedReply(content=SENTENCE * 2, token_delay=0.05), ScriptedReply(content=SENTENCE * 2))
    first = [e for _, e in stream_post(host, chat, "long story", stop_after=6, key="kill-1")]
    host.devhost.kill()
    host.devhost.start()
    rest = stream_get(host, chat, first[0].turn_id, last_id=first[-1].sequence)
    whole = first + rest
    assert_gapless(whole)
    assert whole[-1].type == "turn.completed"
    assert final_text(whole) == SENTENCE * 2 == whole[-1].data["reply"]
    stored = host.http.get(f"{host.api}/chats/{chat}").json()["recentMessages"]
    assert [m["content"] for m in stored[1:]] == ["long story", SENTENCE * 2]
