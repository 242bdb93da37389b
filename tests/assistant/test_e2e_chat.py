"""End to end through devhost, Azurite and the scripted model: chat turns with the todo skills."""

from __future__ import annotations

import json

from tests.assistant.conftest import AssistantHost, assert_conforms
from tests.support.fake_openai import FakeOpenAI, tool_call


def test_add_todo_turn_records_exactly_the_turns_messages(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """PUT, POST 'add a todo', 200 reply naming the task; GET shows system, user, assistant+call, tool, assistant."""
    host = assistant_host
    chat = host.new_chat("You keep the user's todo list.")
    model.call_tools(tool_call("AddTodo", {"taskDescription": "buy milk"}, call_id="call_milk"))
    model.reply('I added "buy milk" to your todo list.')
    response = host.http.post(f"{host.api}/chats/{chat}", json={"message": "Please add buy milk to my todos"})
    # tokens counted exactly from the shipped encodings: no download attempted, nothing estimated (no network here)
    assert "tiktoken encoding" not in host.devhost.log_text()
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == 'I added "buy milk" to your todo list.'

    state = host.http.get(f"{host.api}/chats/{chat}").json()
    assert_conforms(state, "ChatState")
    assert state["exists"] is True and state["id"] == chat
    messages = state["recentMessages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[0]["content"] == "You keep the user's todo list."
    assert messages[1]["content"] == "Please add buy milk to my todos"
    assert messages[2]["toolCalls"] == [
        {"id": "call_milk", "functionName": "AddTodo", "arguments": '{"taskDescription": "buy milk"}'}
    ]
    assert (
        messages[3]["toolCallId"] == "call_milk" and json.loads(messages[3]["content"])["taskDescription"] == "buy milk"
    )
    assert messages[4]["content"] == 'I added "buy milk" to your todo list.'
    assert state["totalMessages"] == 5 and state["totalTokens"] == 30
    stamps = [m["createdAt"] for m in messages]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5

    first, second = model.requests
    assert first["model"] == "fake-gpt"
    assert first["messages"] == [
        {"role": "system", "content": "You keep the user's todo list."},
        {"role": "user", "content": "Please add buy milk to my todos"},
    ]
    assert {t["function"]["name"] for t in first["tools"]} == {"AddTodo", "GetTodos", "CompleteTodo", "DeleteTodo"}
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_milk", "content": messages[3]["content"]}

    later = host.http.get(f"{host.api}/chats/{chat}", params={"timestampUTC": messages[1]["createdAt"]}).json()
    assert [m["role"] for m in later["recentMessages"]] == ["assistant", "tool", "assistant"]
    # The model client's HTTP library logs each request at INFO; devhost keeps it to warnings.
    assert "HTTP Request: POST" not in host.devhost.log_text()


def test_listing_todos_and_two_chats_isolated(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """Each chat's GetTodos sees only its own todos; the JSON reply carries the turn's messages."""
    host = assistant_host
    mine, theirs = host.new_chat(), host.new_chat()
    for chat, task in ((mine, "walk the dog"), (theirs, "pay rent")):
        model.call_tools(tool_call("AddTodo", {"taskDescription": task})).reply(f"Added {task}.")
        assert host.http.post(f"{host.api}/chats/{chat}", json={"message": f"add {task}"}).status_code == 200
    for chat, task in ((mine, "walk the dog"), (theirs, "pay rent")):
        model.call_tools(tool_call("GetTodos", {})).reply("Here they are.")
        response = host.http.post(
            f"{host.api}/chats/{chat}", json={"message": "what are my todos?"}, headers={"Accept": "application/json"}
        )
        body = response.json()
        assert_conforms(body, "TurnReply")
        assert response.status_code == 200 and body["chatId"] == chat and body["reply"] == "Here they are."
        assert body["instanceId"]
        assert [m["role"] for m in body["recentMessages"]] == ["user", "assistant", "tool", "assistant"]
        listed = json.loads(body["recentMessages"][2]["content"])
        assert [t["taskDescription"] for t in listed] == [task]
        stored = host.http.get(f"{host.api}/chats/{chat}").json()["recentMessages"]
        assert stored[-4:] == body["recentMessages"]


def test_parallel_tool_calls_and_unknown_tool_in_one_answer(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """Two AddTodo calls and an unknown tool in one answer: both todos added, the model told about the unknown one."""
    host = assistant_host
    chat = host.new_chat()
    model.call_tools(
        tool_call("AddTodo", {"taskDescription": "one"}, call_id="c_one"),
        tool_call("Teleport", {}, call_id="c_tp"),
        tool_call("AddTodo", {"taskDescription": "two"}, call_id="c_two"),
    )
    model.call_tools(tool_call("GetTodos", {}, call_id="c_list")).reply("Done.")
    assert host.http.post(f"{host.api}/chats/{chat}", json={"message": "add one and two"}).text == "Done."
    tool_messages = model.requests[1]["messages"][-3:]
    assert [m["tool_call_id"] for m in tool_messages] == ["c_one", "c_tp", "c_two"]
    assert "no tool named 'Teleport'" in tool_messages[1]["content"]
    listed = json.loads(model.requests[2]["messages"][-1]["content"])
    assert sorted(t["taskDescription"] for t in listed) == ["one", "two"]
