"""Provider selection from settings, and the OpenAI-compatible provider over the scripted server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import openai
import pytest

from assistant.offline import OfflineModel
from assistant.providers import ModelUnavailable, OpenAIChatModel, build_openai_client, chat_model
from assistant.settings import model_settings, reset_settings
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call

MODEL_VARS = (
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_KEY",
    "AZURE_OPENAI_API_VERSION",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "CHAT_MODEL_DEPLOYMENT_NAME",
    "CHAT_MODEL_REASONING",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in MODEL_VARS:
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    yield
    reset_settings()


def test_no_settings_means_the_offline_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty values count as unset."""
    monkeypatch.setenv("OPENAI_BASE_URL", "  ")
    assert model_settings().provider == "offline"
    assert isinstance(chat_model(), OfflineModel)
    assert chat_model() is chat_model()


def test_azure_wins_and_uses_key_or_entra_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """AZURE_OPENAI_ENDPOINT selects Azure; without a key the client gets a token provider."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://elsewhere/v1")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    monkeypatch.setenv("CHAT_MODEL_DEPLOYMENT_NAME", "o3-mini")
    settings = model_settings()
    assert (settings.provider, settings.model, settings.reasoning, settings.api_version) == (
        "azure",
        "o3-mini",
        True,
        "2024-10-21",
    )
    client = build_openai_client(settings)
    assert isinstance(client, openai.AzureOpenAI) and client._azure_ad_token_provider is not None
    monkeypatch.setenv("AZURE_OPENAI_KEY", "k")
    reset_settings()
    keyed = build_openai_client(model_settings())
    assert keyed.api_key == "k" and keyed._azure_ad_token_provider is None
    assert "Entra" not in model_settings().describe() and "k" not in model_settings().describe().split()


def test_openai_compatible_provider_talks_to_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tools, model name and max_tokens reach the server; tool calls and usage come back."""
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("CHAT_MODEL_DEPLOYMENT_NAME", "llama3")
        fake.call_tools(tool_call("GetTodos", {}, call_id="c1"))
        model = chat_model()
        assert isinstance(model, OpenAIChatModel) and not model.reasoning
        tools = [{"type": "function", "function": {"name": "GetTodos", "parameters": {"type": "object"}}}]
        answer = model.complete([{"role": "user", "content": "list"}], tools, 50)
        assert [(c.id, c.name, c.arguments) for c in answer.tool_calls] == [("c1", "GetTodos", "{}")]
        assert answer.usage.total_tokens == 15
        sent = fake.requests[0]
        assert (sent["model"], sent["max_tokens"], sent["tools"]) == ("llama3", 50, tools)


def test_reasoning_models_get_max_completion_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reasoning model is sent max_completion_tokens instead of max_tokens."""
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("CHAT_MODEL_DEPLOYMENT_NAME", "gpt-5-mini")
        fake.reply("hi")
        assert chat_model().complete([{"role": "user", "content": "x"}], None, 100).content == "hi"
        assert fake.requests[0]["max_completion_tokens"] == 100 and "max_tokens" not in fake.requests[0]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
@pytest.mark.parametrize(
    "reply",
    [
        ScriptedReply(content="half a sent ence", end_after=2),  # the body ends before finish_reason
        ScriptedReply(content="", end_after=0),  # an empty stream
        ScriptedReply(content="no finish", finish_reason=""),  # every piece, but no finish_reason
        ScriptedReply(raw=b"<html><body>502 Bad Gateway</body></html>"),  # a 200 that is not an answer
        ScriptedReply(raw=b'{"choices": [{"index": 0, "message": {"role": "assist'),  # broken JSON
    ],
    ids=["cut", "empty", "no-finish", "html", "broken-json"],
)
def test_only_whole_answers_are_accepted(monkeypatch: pytest.MonkeyPatch, reply: ScriptedReply, stream: bool) -> None:
    """An answer without a finish_reason (cut, empty, not SSE, not JSON) is a transient failure, never a reply."""
    if not stream and reply.end_after is not None:
        reply = replace(reply, finish_reason="")  # a whole (non-streamed) body has no pieces to cut
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("CHAT_MODEL_DEPLOYMENT_NAME", "m")
        monkeypatch.setenv("CHAT_MODEL_MAX_RETRIES", "0")
        fake.script(reply)
        pieces: list[str] = []
        with pytest.raises(ModelUnavailable) as failed:
            chat_model().complete([{"role": "user", "content": "x"}], None, None, pieces.append if stream else None)
        assert failed.value.transient, str(failed.value)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_length_is_kept_marked_truncated_and_content_filter_is_final(
    monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    """`finish_reason: length` keeps the text, marked truncated; `content_filter` fails for good, saying so."""
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("CHAT_MODEL_DEPLOYMENT_NAME", "m")
        fake.script(ScriptedReply(content="a long story that", finish_reason="length"))
        fake.script(ScriptedReply(content="something", finish_reason="content_filter"))
        sink = (lambda _: None) if stream else None
        answer = chat_model().complete([{"role": "user", "content": "x"}], None, None, sink)
        assert (answer.content, answer.truncated) == ("a long story that", True)
        with pytest.raises(ModelUnavailable) as failed:
            chat_model().complete([{"role": "user", "content": "x"}], None, None, sink)
        assert not failed.value.transient and "content filter" in str(failed.value)
