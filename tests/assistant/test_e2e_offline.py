"""End to end with no model settings: the built-in offline model demos the whole flow."""

from __future__ import annotations

import time

from tests.assistant.conftest import AssistantHost


def test_offline_model_adds_and_lists_todos(offline_host: AssistantHost) -> None:
    """'add a todo to buy milk' → AddTodo → a marked reply naming the task; listing finds it."""
    host = offline_host
    assert "assistant model: offline model" in host.devhost.log_text()
    chat = host.new_chat()
    reply = host.http.post(f"{host.api}/chats/{chat}", json={"message": "add a todo to buy milk"}).text
    assert reply == '[offline model] Added "buy milk" to your todo list.'
    messages = host.http.get(f"{host.api}/chats/{chat}").json()["recentMessages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[2]["toolCalls"][0]["functionName"] == "AddTodo"
    listed = host.http.post(f"{host.api}/chats/{chat}", json={"message": "what are my todos?"}).text
    assert listed == "[offline model] You have 1 todo(s): 1. buy milk."
    whois = host.http.get(f"{host.api}/whois/Grace").text
    assert whois.startswith("[offline model] Grace is someone") and "canned" in whois
    asked = host.http.post(f"{host.api}/ask", json={"prompt": "Write a haiku about queues."}).text
    assert asked.startswith("[offline model] A canned answer to your 5-word prompt") and "haiku" in asked


def test_offline_model_asks_to_delete_and_a_person_approves(offline_host: AssistantHost) -> None:
    """'delete buy milk': the turn waits for approval (GET shows it); approved, the todo is gone and the reply says
    so."""
    host = offline_host
    chat = host.new_chat()
    host.http.post(f"{host.api}/chats/{chat}", json={"message": "add a todo to buy milk"})
    waiting = host.http.post(
        f"{host.api}/chats/{chat}", params={"timeoutSeconds": "10"}, json={"message": "delete buy milk"}
    )
    assert waiting.status_code == 202 and waiting.json()["status"] == "requires_action"
    action = host.http.get(f"{host.api}/chats/{chat}").json()["requiresAction"]
    assert action["toolCalls"][0]["name"] == "DeleteTodo"
    decision = {"decisions": [{"toolCallId": action["toolCalls"][0]["toolCallId"], "approve": True}]}
    assert host.http.post(action["approvalsUrl"], json=decision).status_code == 202
    deadline = time.monotonic() + 15
    while host.http.get(f"{host.api}/chats/{chat}").json()["turnInProgress"] and time.monotonic() < deadline:
        time.sleep(0.05)
    messages = host.http.get(f"{host.api}/chats/{chat}").json()["recentMessages"]
    assert messages[-1]["content"] == '[offline model] Deleted "buy milk".'
    listed = host.http.post(f"{host.api}/chats/{chat}", json={"message": "what are my todos?"}).text
    assert listed == "[offline model] You have no todos."
