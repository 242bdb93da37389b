"""Chat ids that prefix other chat ids: a chat never reaches another chat's turns (events, cancel, approvals)."""

from __future__ import annotations

import uuid

from assistant.ids import turn_instance_id
from tests.adversarial.conftest import read_until_terminal
from tests.assistant.conftest import AssistantHost
from tests.support.fake_openai import FakeOpenAI


def test_a_chat_whose_id_prefixes_another_cannot_reach_its_turns(target: AssistantHost, model: FakeOpenAI) -> None:
    """Chat `v` and chat `v-turn-x`: `v` reads none of the other's events (its secrets), cancels and decides nothing."""
    host = target
    short = f"v{uuid.uuid4().hex[:8]}"
    long = f"{short}-turn-x"
    for chat in (short, long):
        assert host.http.put(f"{host.api}/chats/{chat}").status_code == 202
    model.reply("the other chat's secret", delay=1.0)
    started = host.http.post(f"{host.api}/chats/{long}", params={"message": "hi", "timeoutSeconds": "0"})
    assert started.status_code == 202, started.text
    turn = started.json()["id"]
    assert short not in turn and long not in turn  # the id names no chat
    crafted = [turn, f"{long}-turn-{turn}", f"{short}-turn-{turn}", turn_instance_id(long, None)]
    for turn_id in crafted:
        base = f"{host.api}/chats/{short}/turns/{turn_id}"
        for method, url in (("GET", f"{base}/events"), ("POST", f"{base}/cancel"), ("POST", f"{base}/approvals")):
            body = {"decisions": [{"toolCallId": "c1", "approve": True}]} if url.endswith("approvals") else None
            response = host.http.request(method, url, json=body, headers={"Accept": "application/json"})
            assert response.status_code == 404, (method, url, response.text)
            assert "secret" not in response.text
    # The turn's own chat still reaches it, and nobody cancelled it.
    seen = read_until_terminal(host, long, turn)
    assert seen[-1]["type"] == "turn.completed" and seen[-1]["reply"] == "the other chat's secret"


def test_turn_ids_of_any_length_or_shape_are_a_404_not_a_500(target: AssistantHost) -> None:
    """Made-up turn ids (too long, odd characters, another chat's digest) are a 404 JSON."""
    host = target
    chat = host.new_chat()
    for turn_id in ("x" * 300, "t" + "0" * 49, "a%20b", "..", "turn~:._-"):
        response = host.http.get(f"{host.api}/chats/{chat}/turns/{turn_id}/events")
        assert response.status_code in (404, 400), (turn_id, response.status_code)
        assert response.headers["content-type"].startswith("application/json")
