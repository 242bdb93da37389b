"""End to end: the slow-model 202 path, DELETE, the assistants routes, bad input."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from azure.data.tables import TableServiceClient

from assistant.ids import TURN_ID_LENGTH
from tests.assistant.conftest import AssistantHost, assert_conforms
from tests.support.fake_openai import FakeOpenAI, tool_call


def follow_until_done(http: httpx.Client, url: str, timeout: float = 30) -> httpx.Response:
    """GET the status URL until it stops answering 202."""
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(url)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_slow_model_answers_202_and_the_status_url_gives_the_turn(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """Past `timeoutSeconds` POST answers 202 with Location; the status URL later holds the turn's messages."""
    host = assistant_host
    chat = host.new_chat()
    model.reply("Sorry for the wait.", delay=1.0)
    response = host.http.post(f"{host.api}/chats/{chat}", params={"message": "hello?", "timeoutSeconds": "0.3"})
    assert response.status_code == 202, response.text
    payload = response.json()
    assert_conforms(payload, "CheckStatus")
    assert response.headers["Location"] == payload["statusQueryGetUri"] and len(payload["id"]) == TURN_ID_LENGTH
    done = follow_until_done(host.http, payload["statusQueryGetUri"])
    assert done.status_code == 200, done.text
    status = done.json()
    output = status.get("output", status)
    assert output["reply"] == "Sorry for the wait."
    assert [(m["role"], m["content"]) for m in output["recentMessages"]] == [
        ("user", "hello?"),
        ("assistant", "Sorry for the wait."),
    ]


def test_delete_removes_state_todos_and_turn_histories(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """DELETE answers 204; GET says exists false; the todos and the turn's orchestration are gone; others stay."""
    host = assistant_host
    doomed, kept = host.new_chat(), host.new_chat()
    for chat in (doomed, kept):
        model.call_tools(tool_call("AddTodo", {"taskDescription": f"task of {chat}"})).reply("ok")
    turns = []
    for chat in (doomed, kept):
        response = host.http.post(
            f"{host.api}/chats/{chat}", json={"message": "add it"}, headers={"Accept": "application/json"}
        )
        turns.append(response.json()["instanceId"])
    status_url = f"{host.devhost.base_url}/runtime/webhooks/durabletask/instances/{{}}"
    assert host.http.get(status_url.format(turns[0])).status_code == 200

    assert host.http.delete(f"{host.api}/chats/{doomed}").status_code == 204
    gone = host.http.get(f"{host.api}/chats/{doomed}").json()
    assert_conforms(gone, "ChatState")
    assert gone["exists"] is False
    assert host.http.get(status_url.format(turns[0])).status_code == 404
    assert host.http.get(status_url.format(turns[1])).status_code == 200
    table = TableServiceClient.from_connection_string(host.azurite.connection_string).get_table_client(host.todo_table)
    owners = {row["PartitionKey"] for row in table.list_entities()}
    assert doomed not in owners and kept in owners
    assert host.http.post(f"{host.api}/chats/{doomed}", json={"message": "still there?"}).status_code == 404


def test_put_resets_and_assistants_routes_answer_the_same_way(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """PUT on an existing chat starts it fresh; /api/assistants/{id} answers `assistantId`."""
    host = assistant_host
    chat = host.new_chat("first rules", route="assistants")
    model.reply("hi")
    assert host.http.post(f"{host.api}/assistants/{chat}", json={"message": "hello"}).text == "hi"
    response = host.http.put(f"{host.api}/assistants/{chat}", json={"instructions": "second rules"})
    assert response.status_code == 202 and response.json() == {"assistantId": chat}
    state = host.http.get(f"{host.api}/assistants/{chat}").json()
    assert [(m["role"], m["content"]) for m in state["recentMessages"]] == [("system", "second rules")]
    assert host.http.get(f"{host.api}/chats/{chat}").json()["totalMessages"] == 1
    default = host.new_chat()
    assert (
        "Don't make assumptions" in host.http.get(f"{host.api}/chats/{default}").json()["recentMessages"][0]["content"]
    )


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "says"),
    [
        (
            "POST",
            "chats/{chat}",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "not valid JSON",
        ),
        ("POST", "chats/{chat}", {"json": {"text": "hi"}}, 400, "message is required"),
        ("POST", "chats/{chat}", {"json": {"message": "  "}}, 400, "message must not be empty"),
        ("POST", "chats/{chat}", {"json": {"message": 5}}, 400, "message must be a string"),
        ("POST", "chats/{chat}", {"json": {"message": "x" * 40000}}, 400, "longer than 32768 bytes"),
        (
            "POST",
            "chats/{chat}",
            {"json": {"message": "hi"}, "params": {"timeoutSeconds": "999"}},
            400,
            "timeoutSeconds",
        ),
        ("POST", "chats/no-such-chat-0", {"json": {"message": "hi"}}, 404, "does not exist"),
        ("GET", "chats/{chat}", {"params": {"timestampUTC": "yesterday"}}, 400, "timestampUTC"),
        ("PUT", "chats/{chat}", {"json": ["not", "an", "object"]}, 400, "must be a JSON object"),
        ("PUT", "chats/{chat}", {"json": {"instructions": 7}}, 400, "instructions must be a string"),
        ("GET", "chats/bad%23id", {}, 400, "chatId must be"),
        ("PUT", "chats/" + "a" * 129, {}, 400, "chatId must be 1-128 characters"),
        ("PUT", "chats/back%5Cslash", {}, 400, "chatId must be"),
        ("PUT", "chats/slash%2Finside", {}, 400, "chatId must be"),
        ("PUT", "chats/what%3F", {}, 400, "chatId must be"),
        ("PUT", "chats/tab%09char", {}, 400, "chatId must be"),
        ("PUT", "chats/del%7Fchar", {}, 400, "chatId must be"),
        ("PUT", "chats/at%40sign", {}, 400, "chatId must be"),
        ("PUT", "assistants/caf%C3%A9", {}, 400, "assistantId must be"),
        (
            "POST",
            "chats/{chat}",
            {"content": b"", "headers": {"Content-Type": "application/json"}},
            400,
            "message is required",
        ),
        (
            "POST",
            "chats/{chat}",
            {"json": {"message": "hi"}, "headers": {"Idempotency-Key": "x" * 256}},
            400,
            "Idempotency-Key",
        ),
        ("POST", "ask", {"json": {}}, 400, "prompt is required"),
    ],
)
def test_bad_input_is_a_400_json_error_and_calls_no_model(
    assistant_host: AssistantHost, model: FakeOpenAI, method: str, path: str, kwargs: dict, status: int, says: str
) -> None:
    """Each mistake gets a JSON error saying what is wrong; nothing reaches the model."""
    host = assistant_host
    chat = host.new_chat()
    response = host.http.request(method, f"{host.api}/{path.format(chat=chat)}", **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert_conforms(response.json(), "Error")
    assert says in response.json()["error"]
    assert model.requests == []
    assert host.http.get(f"{host.api}/chats/{chat}").json()["totalMessages"] == 1


def test_model_failure_fails_the_turn_and_leaves_the_chat_unchanged(
    assistant_host: AssistantHost, model: FakeOpenAI
) -> None:
    """A failing model: POST answers 502 with a JSON error, the chat keeps only its system message, a retry works."""
    host = assistant_host
    chat = host.new_chat()
    model.fail(500, retry_after=0.01, times=3)
    response = host.http.post(f"{host.api}/chats/{chat}", json={"message": "hello"})
    assert response.status_code == 502 and "send the message again" in response.json()["error"]
    failed_turn = response.json()["instanceId"]
    assert host.http.get(f"{host.api}/chats/{chat}").json()["totalMessages"] == 1
    model.reply("Hello again.")
    assert host.http.post(f"{host.api}/chats/{chat}", json={"message": "hello"}).text == "Hello again."
    status_url = f"{host.devhost.base_url}/runtime/webhooks/durabletask/instances/{failed_turn}"
    assert host.http.get(status_url).json()["runtimeStatus"] == "Failed"
    assert host.http.delete(f"{host.api}/chats/{chat}").status_code == 204
    assert host.http.get(status_url).status_code == 404
    model.fail(429, retry_after=0.01, times=3)
    busy = host.http.post(f"{host.api}/ask", json={"prompt": "x"})
    assert busy.status_code == 503 and "HTTP 429" in busy.json()["error"]


def test_the_extension_samples_flow_against_assistants(assistant_host: AssistantHost, model: FakeOpenAI) -> None:
    """The Functions OpenAI extension's sample end to end, as its clients read it: "add a todo: Buy milk", then the
    state: 5 messages, the AddTodo call as a JSON string in `toolCalls`, the reply naming the task, tokens counted."""
    host = assistant_host
    chat = host.new_chat("You help the user keep a todo list.", route="assistants")
    model.call_tools(tool_call("AddTodo", {"taskDescription": "Buy milk"})).reply(
        "I added 'Buy milk' to your todo list."
    )
    reply = host.http.post(f"{host.api}/assistants/{chat}", json={"message": "add a todo: Buy milk"}).text
    state = host.http.get(f"{host.api}/assistants/{chat}").json()
    messages = state["recentMessages"]
    assert state["exists"] is True and state["totalMessages"] == 5 and len(messages) <= state["totalMessages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert all(isinstance(m["toolCalls"], str) for m in messages)
    calls = json.loads(messages[2]["toolCalls"])
    assert calls[0]["functionName"] == "AddTodo" and "Buy milk" in calls[0]["arguments"]
    assert "Buy milk" in messages[-1]["content"] and "Buy milk" in reply and state["totalTokens"] > 0
    assert isinstance(host.http.get(f"{host.api}/chats/{chat}").json()["recentMessages"][2]["toolCalls"], list)
