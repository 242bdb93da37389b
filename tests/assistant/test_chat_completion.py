"""The chat_completion activity: prompt budget, tools offered or withdrawn, the model's answer typed."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from activities.chat_completion import chat_completion
from assistant.messages import ChatMessage
from assistant.payloads import CompletionRequest
from assistant.settings import reset_settings
from tests.support.fake_openai import FakeOpenAI, tool_call


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("CHAT_MODEL_DEPLOYMENT_NAME", "fake-gpt")
        monkeypatch.setenv("CHAT_MODEL_MAX_RETRIES", "0")
        monkeypatch.setenv("CHAT_PROMPT_TOKEN_BUDGET", "600")
        reset_settings()
        yield server
    reset_settings()


def history(turns: int) -> tuple[ChatMessage, ...]:
    messages = [ChatMessage(role="system", content="rules", created_at="2026-11-20T12:00:00.000000Z")]
    for i in range(turns):
        messages.append(ChatMessage(role="user", content=f"question {i} " + "word " * 40))
        messages.append(ChatMessage(role="assistant", content=f"answer {i} " + "word " * 40))
    return tuple(messages)


def test_long_history_is_cut_to_the_budget_keeping_system_and_newest(fake: FakeOpenAI) -> None:
    """Only the newest turns fit; the system message and the last question are always sent."""
    fake.call_tools(tool_call("GetTodos", {}, call_id="c1"))
    payload = CompletionRequest(messages=history(20) + (ChatMessage(role="user", content="newest"),)).to_dict()
    answer = chat_completion(payload)
    assert answer["toolCalls"] == [{"id": "c1", "name": "GetTodos", "arguments": "{}"}]
    sent = fake.requests[0]["messages"]
    assert sent[0] == {"role": "system", "content": "rules"} and sent[-1] == {"role": "user", "content": "newest"}
    assert 1 < len(sent) < 41 and sent[1]["role"] == "user"
    assert {t["function"]["name"] for t in fake.requests[0]["tools"]} == {"AddTodo", "GetTodos", "CompleteTodo", "DeleteTodo"}


def test_tools_are_withdrawn_when_not_allowed(fake: FakeOpenAI) -> None:
    """After the round limit the model is asked without tools."""
    fake.reply("final words")
    answer = chat_completion(CompletionRequest(messages=history(1), allow_tools=False).to_dict())
    assert answer["content"] == "final words" and answer["usage"]["totalTokens"] == 15
    assert "tools" not in fake.requests[0]
