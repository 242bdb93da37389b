"""End to end with keys required: the Durable webhooks are closed like Azure's, a terminated turn does not block its
chat, old turn histories are purged by the cleanup timer (messages kept, disk given back), idle chats expire."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.ids import chat_turns_range
from tests.assistant.conftest import AssistantHost, start_assistant_host
from tests.support.azurite import Azurite
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

WEBHOOKS = "/runtime/webhooks/durabletask"


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, fake_model: FakeOpenAI
) -> Iterator[AssistantHost]:
    """devhost with --require-keys (function key `fkey`, master key `mkey`), a retention of zero hours, and queued turns
    checking the turn ahead of them every 2 s."""
    env = {"OPENAI_BASE_URL": fake_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
    extra = {
        "DEVHOST_FUNCTION_KEY": "fkey",
        "DEVHOST_MASTER_KEY": "mkey",
        "CHAT_TURN_RETENTION_HOURS": "0",
        "CHAT_QUEUE_CHECK_SECONDS": "2",  # a turn terminated by hand is found within 2 s
    }
    for host in start_assistant_host(tmp_path_factory, azurite, env, extra, ("--require-keys",)):
        host.http.headers["x-functions-key"] = "fkey"
        yield host


def system_key(host: AssistantHost) -> str:
    return str(json.loads((host.devhost.data_dir / "keys.json").read_text())["durabletask_extension"])


def test_every_webhook_needs_the_master_or_system_key_and_the_apps_client_still_works(
    secured: AssistantHost, model: FakeOpenAI
) -> None:
    """No key or a function key: 401 on every management operation, and the chat they aimed at is untouched;
    the master key and the system key work; the app's own client (status URLs it hands out included) works."""
    host = secured
    chat = host.new_chat()
    model.reply("hello")
    assert host.http.post(f"{host.api}/chats/{chat}", json={"message": "hi"}).text == "hello"
    instance = httpx.get(
        f"{host.devhost.base_url}{WEBHOOKS}/instances",
        params={"code": "mkey", "instanceIdPrefix": chat_turns_range(chat)[0]},
    ).json()[0]["instanceId"]
    operations = [
        ("GET", "/instances"),
        ("DELETE", "/instances?createdTimeFrom=2000-01-01T00:00:00Z"),
        ("GET", f"/instances/{instance}"),
        ("DELETE", f"/instances/{instance}"),
        ("POST", f"/instances/{instance}/raiseEvent/x"),
        ("POST", f"/instances/{instance}/terminate"),
        ("POST", f"/instances/{instance}/suspend"),
        ("POST", f"/instances/{instance}/resume"),
        ("POST", f"/instances/{instance}/restart"),
        ("POST", f"/instances/{instance}/rewind"),
        ("POST", "/orchestrators/post_user_query"),
        ("POST", "/orchestrators/chat_admin/evil"),
        ("GET", "/entities"),
        ("GET", "/entities/chat"),
        ("GET", f"/entities/chat/{chat}"),
        ("POST", f"/entities/chat/{chat}?op=delete"),
    ]
    anonymous = httpx.Client(base_url=host.devhost.base_url + WEBHOOKS, timeout=10)
    for method, path in operations:
        for headers in ({}, {"x-functions-key": "fkey"}, {"x-functions-key": "wrong"}):
            response = anonymous.request(method, path, headers=headers, json={} if method == "POST" else None)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert "durabletask_extension" in response.json()["error"]
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    assert state["exists"] and state["totalMessages"] == 3
    for key in ("mkey", system_key(host)):
        assert anonymous.get(f"/entities/chat/{chat}", params={"code": key}).status_code == 200
        assert anonymous.get(f"/instances/{instance}", headers={"x-functions-key": key}).status_code == 200
    model.script(ScriptedReply(content="slow", delay=1.0))
    accepted = host.http.post(f"{host.api}/chats/{chat}", params={"timeoutSeconds": "0"}, json={"message": "slow one"})
    assert accepted.status_code == 202
    status_url = accepted.json()["statusQueryGetUri"]
    assert f"code={system_key(host)}" in status_url
    deadline = time.monotonic() + 20
    while (status := httpx.get(status_url)).json()["runtimeStatus"] != "Completed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status.status_code == 200 and status.json()["output"]["reply"] == "slow"


def test_a_terminated_turn_does_not_block_its_chat(secured: AssistantHost, model: FakeOpenAI) -> None:
    """The running turn is terminated through the management API; the next message still gets its answer."""
    host = secured
    chat = host.new_chat()

    def respond(body: dict[str, object]) -> ScriptedReply:
        last = body["messages"][-1]["content"]  # type: ignore[index]
        return ScriptedReply(content="never seen", delay=1.0) if last == "stuck" else ScriptedReply(content="next one")

    model.responder = respond
    accepted = host.http.post(f"{host.api}/chats/{chat}", params={"timeoutSeconds": "0"}, json={"message": "stuck"})
    turn = accepted.json()["id"]
    time.sleep(0.3)
    terminated = httpx.post(f"{host.devhost.base_url}{WEBHOOKS}/instances/{turn}/terminate", params={"code": "mkey"})
    assert terminated.status_code == 202
    response = host.http.post(f"{host.api}/chats/{chat}", json={"message": "are you there?"})
    assert response.status_code == 200 and response.text == "next one"
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    assert [m["content"] for m in state["recentMessages"][1:]] == ["are you there?", "next one"]
    assert state["turnInProgress"] is False


def _store_size(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.glob("assistant.sqlite*"))


def test_cleanup_purges_finished_turns_keeps_every_message_and_shrinks_the_store(
    secured: AssistantHost, model: FakeOpenAI
) -> None:
    """Retention 0 h: the cleanup timer function (run by hand) purges every finished turn's history; the chat
    still holds all its messages and the store is smaller than before."""
    host = secured
    chat = host.new_chat()
    model.fallback_text = "ok " + "x" * 20_000
    for i in range(30):
        assert host.http.post(f"{host.api}/chats/{chat}", json={"message": f"message {i}"}).status_code == 200
    listing = {"code": "mkey", "instanceIdPrefix": chat_turns_range(chat)[0]}
    instances = f"{host.devhost.base_url}{WEBHOOKS}/instances"
    assert len(httpx.get(instances, params=listing).json()) == 30
    before = _store_size(host.devhost.data_dir)
    ran = httpx.post(
        f"{host.devhost.base_url}/admin/functions/cleanup", params={"wait": "true"}, headers={"x-functions-key": "mkey"}
    )
    assert ran.status_code == 200
    assert httpx.get(instances, params=listing).json() == []
    after = _store_size(host.devhost.data_dir)
    assert after < before, (before, after)
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    assert state["totalMessages"] == 61
    assert [m["content"] for m in state["recentMessages"] if m["role"] == "user"] == [f"message {i}" for i in range(30)]


def test_an_idle_chat_expires_after_its_ttl(secured: AssistantHost) -> None:
    """PUT with ttlSeconds: the chat is deleted once idle that long; bad TTLs are a 400."""
    host = secured
    for bad in (0, -5, "60", True, 10**9):
        response = host.http.put(f"{host.api}/chats/ttl-bad", json={"ttlSeconds": bad})
        assert response.status_code == 400 and "ttlSeconds" in response.json()["error"]
    response = host.http.put(f"{host.api}/chats/ttl-chat", json={"ttlSeconds": 2})
    assert response.status_code == 202
    assert host.http.get(f"{host.api}/chats/ttl-chat").json()["exists"] is True
    deadline = time.monotonic() + 15
    while host.http.get(f"{host.api}/chats/ttl-chat").json()["exists"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert host.http.get(f"{host.api}/chats/ttl-chat").json()["exists"] is False
