"""Cut, empty and garbage model answers never become a reply: the call is retried (its stream voided with
`message.reset`), and failing that the turn fails with the chat unchanged."""

from __future__ import annotations

import json

import httpx
import pytest
from httpx_sse import connect_sse

from assistant.events import TurnEvent, final_text
from tests.assistant.conftest import AssistantHost
from tests.support.fake_openai import FakeOpenAI, ScriptedReply


def _stream(host: AssistantHost, chat: str, message: str) -> list[TurnEvent]:
    with (
        httpx.Client(timeout=30) as http,
        connect_sse(
            http, "POST", f"{host.api}/chats/{chat}", json={"message": message}, headers={"Accept": "text/event-stream"}
        ) as source,
    ):
        return [TurnEvent.from_dict(json.loads(sse.data)) for sse in source.iter_sse()]


def _messages(host: AssistantHost, chat: str) -> list[dict]:
    return host.http.get(f"{host.api}/chats/{chat}").json()["recentMessages"]


def test_a_stream_cut_short_is_voided_and_asked_again(target: AssistantHost, model: FakeOpenAI) -> None:
    """The first answer ends after two words with no finish_reason: its words are voided by `message.reset`, the
    second answer is the reply, in the stream and in the chat."""
    host = target
    chat = host.new_chat()
    model.script(
        ScriptedReply(content="Half of a sentence that never ends", end_after=2),
        ScriptedReply(content="The whole answer."),
    )
    events = _stream(host, chat, "tell me")
    kinds = [e.type for e in events]
    assert "message.reset" in kinds and kinds[-1] == "turn.completed", kinds
    deltas_before_reset = [e for e in events[: kinds.index("message.reset")] if e.type == "message.delta"]
    assert "".join(e.data["text"] for e in deltas_before_reset).startswith("Half")
    assert final_text(events) == "The whole answer." == events[-1].data["reply"]
    assert _messages(host, chat)[-1]["content"] == "The whole answer."


@pytest.mark.parametrize("streamed", [False, True], ids=["asked-whole", "streamed"])
def test_only_cut_or_garbage_answers_fail_the_turn_with_the_chat_unchanged(
    target: AssistantHost, model: FakeOpenAI, streamed: bool
) -> None:
    """Every attempt cut, empty or not an answer at all (HTML, broken JSON): the turn fails saying the model's answer
    was not complete (or not JSON), retryable; nothing of the turn is in the chat. Both ways the model is asked: whole
    (a turn nobody streams: a 503) and streamed (an SSE POST: `turn.failed`)."""
    host = target
    for replies in (
        (ScriptedReply(content="cut here and", end_after=1), ScriptedReply(content="", end_after=0)),
        (ScriptedReply(raw=b"<html>502 Bad Gateway</html>"), ScriptedReply(raw=b'{"choices": [{"ind')),
    ):
        chat = host.new_chat()
        model.reset().script(*replies)
        if streamed:
            last = _stream(host, chat, "hi")[-1]
            assert last.type == "turn.failed" and last.data["retryable"] is True, last
            error = str(last.data["error"])
        else:
            answer = host.http.post(
                f"{host.api}/chats/{chat}", json={"message": "hi"}, headers={"Accept": "application/json"}
            )
            assert answer.status_code == 503, answer.text
            assert answer.json()["recorded"] is False
            error = answer.json()["error"]
        assert "before it was complete" in error or "not valid JSON" in error, error
        assert [m["role"] for m in _messages(host, chat)] == ["system"]


def test_a_content_filter_stop_is_a_502_saying_so(target: AssistantHost, model: FakeOpenAI) -> None:
    """`finish_reason: content_filter` fails the turn at once (no retry): 502 naming the filter, the chat unchanged."""
    host = target
    chat = host.new_chat()
    model.script(ScriptedReply(content="I was about to say", finish_reason="content_filter"))
    answer = host.http.post(f"{host.api}/chats/{chat}", json={"message": "hi"}, headers={"Accept": "application/json"})
    assert answer.status_code == 502 and "content filter" in answer.json()["error"], answer.text
    assert len(model.requests) == 1
    assert [m["role"] for m in _messages(host, chat)] == ["system"]


def test_a_reply_cut_at_the_token_limit_is_kept_marked_truncated(target: AssistantHost, model: FakeOpenAI) -> None:
    """`finish_reason: length`: the text is the reply, and the chat marks the message truncated."""
    host = target
    chat = host.new_chat()
    model.script(ScriptedReply(content="A very long story that", finish_reason="length"))
    answer = host.http.post(f"{host.api}/chats/{chat}", json={"message": "hi"}, headers={"Accept": "application/json"})
    assert answer.status_code == 200 and answer.json()["reply"] == "A very long story that"
    last = _messages(host, chat)[-1]
    assert last["role"] == "assistant" and last["truncated"] is True
