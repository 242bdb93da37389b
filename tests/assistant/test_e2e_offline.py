"""End to end with no model settings: the built-in offline model demos the whole flow."""
from __future__ import annotations

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
    assert whois.startswith("[offline model]") and "Who is Grace?" in whois
