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
    assert {t["function"]["name"] for t in fake.requests[0]["tools"]} == {
        "AddTodo",
        "GetTodos",
        "CompleteTodo",
        "DeleteTodo",
    }


def test_tools_are_withdrawn_when_not_allowed(fake: FakeOpenAI) -> None:
    """After the round limit the model is asked without tools."""
    fake.reply("final words")
    answer = chat_completion(CompletionRequest(messages=history(1), allow_tools=False).to_dict())
    assert answer["content"] == "final words" and answer["usage"]["totalTokens"] == 15
    assert "tools" not in fake.requests[0]


def _sent_tokens(request: dict) -> int:
    """The request's messages and tools, counted as the app counts them (exactly, with the shipped encoding)."""
    from assistant.tokens import count_message_tokens, token_counter, tools_tokens

    count = token_counter("fake-gpt")
    messages = [ChatMessage(role=m["role"], content=m.get("content") or "") for m in request["messages"]]
    return sum(count_message_tokens(m, count) for m in messages) + tools_tokens(request.get("tools") or [], count)


@pytest.mark.parametrize("window", [1_400, 2_400])
def test_the_context_window_setting_sets_the_budget(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    """CHAT_MODEL_CONTEXT_TOKENS - completion cap - margin is what a prompt may take: a larger window sends more."""
    monkeypatch.delenv("CHAT_PROMPT_TOKEN_BUDGET")
    monkeypatch.setenv("CHAT_MODEL_CONTEXT_TOKENS", str(window))
    monkeypatch.setenv("CHAT_MAX_COMPLETION_TOKENS", "200")
    reset_settings()
    fake.reply("ok")
    chat_completion(CompletionRequest(messages=history(30) + (ChatMessage(role="user", content="newest"),)).to_dict())
    budget = window - 200 - 256
    sent = _sent_tokens(fake.requests[0])
    assert budget - 120 < sent <= budget  # full up to less than one more message pair (about 100 tokens)


def test_a_huge_tool_result_is_cut_in_the_prompt(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 200 KB result goes to the model as its first CHAT_TOOL_RESULT_TOKENS tokens and a note."""
    from assistant.messages import ToolCall
    from assistant.tokens import token_counter

    monkeypatch.setenv("CHAT_PROMPT_TOKEN_BUDGET", "12000")
    monkeypatch.setenv("CHAT_TOOL_RESULT_TOKENS", "300")
    reset_settings()
    big = "".join(f'{{"id": {i}, "taskDescription": "{"y" * 40}"}}\n' for i in range(3_500))
    assert len(big) > 200_000
    fake.reply("done")
    messages = history(1) + (
        ChatMessage(role="user", content="list"),
        ChatMessage(role="assistant", content="", tool_calls=(ToolCall("c1", "GetTodos", "{}"),)),
        ChatMessage(role="tool", content=big, tool_call_id="c1", name="GetTodos"),
    )
    chat_completion(CompletionRequest(messages=messages).to_dict())
    shown = fake.requests[0]["messages"][-1]["content"]
    body, note = shown.rsplit("\n[", 1)
    assert big.startswith(body) and token_counter("fake-gpt")(body) <= 300 and "of the prompt" not in note
    assert note.startswith("result cut to its first 300 of")


def test_fold_count_is_reported_when_asked(fake: FakeOpenAI) -> None:
    """With fold_check the activity says how many old messages to fold (whole turns); without, nothing."""
    fake.reply("a").reply("b")
    request = CompletionRequest(messages=history(12) + (ChatMessage(role="user", content="newest"),))
    assert chat_completion(request.to_dict()).get("foldCount") is None
    fold = chat_completion(CompletionRequest(messages=request.messages, fold_check=True).to_dict())["foldCount"]
    assert fold > 0 and fold % 2 == 0
