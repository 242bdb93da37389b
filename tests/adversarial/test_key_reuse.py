"""One Idempotency-Key, one request: a second message under the same key is a 422, at the same time or later."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx

from tests.assistant.conftest import AssistantHost
from tests.support.fake_openai import FakeOpenAI, ScriptedReply


def _user_messages(host: AssistantHost, chat: str) -> list[str]:
    body = host.http.get(f"{host.api}/chats/{chat}").json()
    return [m["content"] for m in body["recentMessages"] if m["role"] == "user"]


def test_two_messages_under_one_key_at_once_one_runs_the_other_is_422(target: AssistantHost, model: FakeOpenAI) -> None:
    """Both POSTs sent together (repeated 5 times): exactly one answers 200 with the reply to its own message, the
    other 422; the chat holds that one message only."""
    host = target

    def answer(body: dict[str, Any]) -> ScriptedReply:
        asked = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        return ScriptedReply(content=f"reply to {asked}", delay=0.3)

    model.responder = answer
    for _ in range(5):
        chat, key = host.new_chat(), f"key-{uuid.uuid4().hex}"
        results: dict[str, httpx.Response] = {}
        gate = threading.Barrier(2)

        def send(
            message: str, chat: str = chat, key: str = key, results: dict = results, gate: threading.Barrier = gate
        ) -> None:
            with httpx.Client(timeout=30) as http:
                gate.wait()
                results[message] = http.post(
                    f"{host.api}/chats/{chat}",
                    json={"message": message},
                    headers={"Idempotency-Key": key, "Accept": "application/json"},
                )

        threads = [threading.Thread(target=send, args=(m,)) for m in ("first message", "second message")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        codes = sorted(r.status_code for r in results.values())
        assert codes == [200, 422], {m: (r.status_code, r.text) for m, r in results.items()}
        winner = next(m for m, r in results.items() if r.status_code == 200)
        assert results[winner].json()["reply"] == f"reply to {winner}"
        loser = next(r for r in results.values() if r.status_code == 422)
        assert "different request" in loser.json()["error"]
        assert _user_messages(host, chat) == [winner]


def test_a_key_reused_later_is_422_and_a_repeat_is_the_same_turn(target: AssistantHost, model: FakeOpenAI) -> None:
    """After the turn: the same key with another message is 422; with the same message, the same reply and no new
    model call; after the turn's history is purged (retention), the key starts a new turn."""
    host = target
    chat, key = host.new_chat(), f"key-{uuid.uuid4().hex}"
    model.reply("once")
    headers = {"Idempotency-Key": key, "Accept": "application/json"}
    first = host.http.post(f"{host.api}/chats/{chat}", json={"message": "m1"}, headers=headers)
    assert first.status_code == 200 and first.json()["reply"] == "once"
    other = host.http.post(f"{host.api}/chats/{chat}", json={"message": "m2"}, headers=headers)
    assert other.status_code == 422
    again = host.http.post(f"{host.api}/chats/{chat}", params={"message": "m1"}, headers=headers)
    assert again.status_code == 200 and again.json()["reply"] == "once" and len(model.requests) == 1
    turn = first.json()["instanceId"]
    purged = host.http.delete(f"{host.devhost.base_url}/runtime/webhooks/durabletask/instances/{turn}")
    assert purged.status_code == 200, purged.text
    time.sleep(1.2)  # past the clock-skew margin within which a log is taken for a concurrent request's own
    model.reply("a new turn")
    reused = host.http.post(f"{host.api}/chats/{chat}", json={"message": "m2"}, headers=headers)
    assert reused.status_code == 200 and reused.json()["reply"] == "a new turn"
    assert _user_messages(host, chat) == ["m1", "m2"]
