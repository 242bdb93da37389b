"""End to end: prompts stay within the token budget; the entity keeps a bounded window and older messages move to Table
storage.

Its own devhost with a small budget (`CHAT_PROMPT_TOKEN_BUDGET=700`), a small working window
(`CHAT_WORKING_MESSAGES=6`), an archive table of its own and no running summary (`CHAT_SUMMARY=off`: what
leaves the prompt is forgotten, as before summaries; `test_e2e_summary.py` covers them).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.data.tables import TableClient

from assistant.messages import ChatMessage, ToolCall
from assistant.tokens import count_message_tokens, token_counter, tools_tokens
from tests.assistant.conftest import AssistantHost, start_assistant_host
from tests.support.azurite import Azurite
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call

BUDGET = 700
WINDOW = 6


@pytest.fixture(scope="module")
def small_host(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, fake_model: FakeOpenAI
) -> Iterator[tuple[AssistantHost, str]]:
    """devhost with a 700-token prompt budget (room for the four tool definitions and a few turns), a 6-message working
    window and its own archive table."""
    archive = f"chatmessages{uuid.uuid4().hex[:10]}"
    env = {"OPENAI_BASE_URL": fake_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
    extra = {
        "CHAT_PROMPT_TOKEN_BUDGET": str(BUDGET),
        "CHAT_WORKING_MESSAGES": str(WINDOW),
        "CHAT_ARCHIVE_TABLE": archive,
        "CHAT_SUMMARY": "off",
    }
    for host in start_assistant_host(tmp_path_factory, azurite, env, extra):
        yield host, archive


def as_message(wire: dict[str, Any]) -> ChatMessage:
    """A chat-completions request message back as a `ChatMessage` (to count it as the app does)."""
    calls = tuple(
        ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"]["arguments"])
        for c in wire.get("tool_calls") or ()
    )
    return ChatMessage(
        role=wire["role"], content=wire.get("content") or "", tool_calls=calls, tool_call_id=wire.get("tool_call_id")
    )


def echo_with_tools(body: dict[str, Any]) -> ScriptedReply:
    """Every third user message gets a GetTodos call first; otherwise a long-ish text reply."""
    last = body["messages"][-1]
    user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    index = int(user.split()[1])
    if last["role"] == "user" and index % 3 == 0:
        return ScriptedReply(tool_calls=(tool_call("GetTodos", {}, call_id=f"call-{index}"),))
    return ScriptedReply(content=f"answer {index} " + "lorem ipsum " * 12)


def test_every_prompt_fits_the_budget_keeping_instructions_and_the_latest_message(
    small_host: tuple[AssistantHost, str], fake_model: FakeOpenAI
) -> None:
    """30 turns of long messages with tool calls: each request within the budget, system first, the turn's message
    last-but-tools, calls with their results."""
    host, _ = small_host
    fake_model.reset().responder = echo_with_tools
    chat = host.new_chat("You are terse.")
    count = token_counter("fake-gpt")
    for index in range(30):
        sent = f"message {index} " + "please remember this detail " * 8
        response = host.http.post(f"{host.api}/chats/{chat}", json={"message": sent})
        assert response.status_code == 200, response.text
        for request in fake_model.requests:
            messages = [as_message(m) for m in request["messages"]]
            used = sum(count_message_tokens(m, count) for m in messages) + tools_tokens(
                request.get("tools") or [], count
            )
            assert used <= BUDGET, (index, used)
            assert messages[0].role == "system" and messages[0].content == "You are terse."
            assert [m.content for m in messages if m.role == "user"][-1] == sent
            answered = {c.id for m in messages for c in m.tool_calls}
            assert all(m.tool_call_id in answered for m in messages if m.role == "tool")
        fake_model.requests.clear()
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    assert next(m["content"] for m in state["recentMessages"] if m["role"] == "user").startswith("message 0 ")
    assert state["totalMessages"] == len(state["recentMessages"]) == 1 + 30 * 2 + 10 * 2


def entity_state(host: AssistantHost, chat: str) -> str:
    response = host.http.get(f"{host.devhost.base_url}/runtime/webhooks/durabletask/entities/chat/{chat}")
    assert response.status_code == 200, response.text
    return response.text


def test_entity_state_stays_bounded_and_get_returns_the_whole_history_in_order(
    small_host: tuple[AssistantHost, str], fake_model: FakeOpenAI, azurite: Azurite
) -> None:
    """200 turns: the entity's state late in the chat is no bigger than early on; GET has all 401 messages in order;
    filters and DELETE work."""
    host, archive = small_host
    fake_model.reset().responder = lambda body: ScriptedReply(content="re " + body["messages"][-1]["content"])
    chat = host.new_chat()
    sizes: dict[int, int] = {}
    for index in range(200):
        response = host.http.post(f"{host.api}/chats/{chat}", json={"message": f"m{index:03d}"})
        assert response.status_code == 200 and response.text == f"re m{index:03d}", response.text
        if 40 <= index < 60 or index >= 180:
            sizes[index] = len(entity_state(host, chat))
    stored = json.loads(entity_state(host, chat))
    assert len(stored["messages"]) <= WINDOW + 1 + 2 and stored["archivedCount"] >= 400 - WINDOW - 2
    # the window fills and empties in a cycle, so compare the largest state of turns 41-60 and 181-200
    early, late = max(v for k, v in sizes.items() if k < 60), max(v for k, v in sizes.items() if k >= 180)
    assert late <= early * 1.05, (early, late)
    state = host.http.get(f"{host.api}/chats/{chat}").json()
    expected = [("user", f"m{i:03d}") if k == 0 else ("assistant", f"re m{i:03d}") for i in range(200) for k in (0, 1)]
    assert [(m["role"], m["content"]) for m in state["recentMessages"][1:]] == expected
    assert state["totalMessages"] == 401 and len(state["recentMessages"]) == 401
    stamps = [m["createdAt"] for m in state["recentMessages"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == 401
    after = state["recentMessages"][150]["createdAt"]
    later = host.http.get(f"{host.api}/chats/{chat}", params={"timestampUTC": after}).json()
    assert [m["content"] for m in later["recentMessages"]] == [m["content"] for m in state["recentMessages"][151:]]
    rows = TableClient.from_connection_string(azurite.connection_string, archive)
    assert len(list(rows.query_entities(f"PartitionKey eq '{chat}'"))) == stored["archivedCount"]
    assert host.http.delete(f"{host.api}/chats/{chat}").status_code == 204
    assert list(rows.query_entities(f"PartitionKey eq '{chat}'")) == []
    assert host.http.get(f"{host.api}/chats/{chat}").json()["exists"] is False
