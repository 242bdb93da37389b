"""Settings are read lazily, cached until reset, and bad values are named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assistant.settings import assistant_settings, model_settings, reset_settings


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    reset_settings()
    yield
    reset_settings()


def test_defaults_and_cache_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defaults apply when unset; a change is seen only after reset_settings()."""
    for name in (
        "CHAT_MAX_TOOL_ROUNDS",
        "CHAT_PROMPT_TOKEN_BUDGET",
        "CHAT_MAX_COMPLETION_TOKENS",
        "CHAT_MAX_MESSAGE_BYTES",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = assistant_settings()
    assert (
        settings.max_tool_rounds,
        settings.prompt_token_budget,
        settings.max_completion_tokens,
        settings.max_message_bytes,
    ) == (5, 12000, None, 32768)
    monkeypatch.setenv("CHAT_MAX_TOOL_ROUNDS", "2")
    assert assistant_settings().max_tool_rounds == 5
    reset_settings()
    assert assistant_settings().max_tool_rounds == 2


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [("CHAT_MAX_TOOL_ROUNDS", "many", "must be an integer"), ("CHAT_PROMPT_TOKEN_BUDGET", "10", "at least 256")],
)
def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str) -> None:
    """The error names the setting and what is wrong."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name} {says}" if "integer" in says else says):
        assistant_settings()


def test_openai_key_alone_means_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    """OPENAI_API_KEY without a base URL targets OpenAI's own endpoint."""
    for name in ("AZURE_OPENAI_ENDPOINT", "OPENAI_BASE_URL", "CHAT_MODEL_DEPLOYMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = model_settings()
    assert (settings.provider, settings.endpoint, settings.model) == (
        "openai",
        "https://api.openai.com/v1",
        "gpt-4o-mini",
    )
    assert "sk-test" not in settings.describe()
