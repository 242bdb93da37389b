"""Settings of the assistant, read from the environment when first needed and cached.

An empty value counts as unset. Tests change the environment and call `reset_settings()`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

__all__ = [
    "AssistantSettings",
    "ModelSettings",
    "assistant_settings",
    "built_from_settings",
    "model_settings",
    "reset_settings",
]

DEFAULT_AZURE_API_VERSION = "2024-10-21"
DEFAULT_MODEL = "gpt-4o-mini"
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


N = TypeVar("N", int, float)
_SWITCH = {"on": True, "1": True, "true": True, "yes": True, "off": False, "0": False, "false": False, "no": False}


def _env_number(name: str, default: N, minimum: N, kind: type[N]) -> N:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError as error:
        raise ValueError(
            f"setting {name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}"
        ) from error
    if not value >= minimum:
        raise ValueError(f"setting {name} must be at least {minimum:g}, got {raw}")
    return value


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    return _env_number(name, default, minimum, int)


def _env_float(name: str, default: float, minimum: float = 0.0) -> float:
    return _env_number(name, default, minimum, float)


@dataclass(frozen=True)
class ModelSettings:
    """Which model provider to use and how to reach it."""

    provider: str
    """`azure`, `openai` (any OpenAI-compatible server) or `offline` (the built-in demo model)."""
    model: str
    """Model name, or the Azure OpenAI deployment name."""
    endpoint: str | None = None
    """`AZURE_OPENAI_ENDPOINT` or `OPENAI_BASE_URL`."""
    api_key: str | None = None
    """`AZURE_OPENAI_KEY` or `OPENAI_API_KEY`; none with Azure means Microsoft Entra ID."""
    api_version: str = DEFAULT_AZURE_API_VERSION
    reasoning: bool = False
    """Reasoning models take `max_completion_tokens` and no `temperature`."""
    timeout_seconds: float = 60.0
    max_retries: int = 2

    def describe(self) -> str:
        """One line for the start-up log (never the key)."""
        if self.provider == "offline":
            return "offline model (built-in demo; set OPENAI_BASE_URL or AZURE_OPENAI_ENDPOINT for a real one)"
        auth = "key" if self.api_key else ("Entra ID" if self.provider == "azure" else "no key")
        return f"{self.provider} model {self.model!r} at {self.endpoint} ({auth})"


@dataclass(frozen=True)
class AssistantSettings:
    """How turns run."""

    max_tool_rounds: int = 5
    """`CHAT_MAX_TOOL_ROUNDS`: model answers with tool calls allowed in one turn."""
    prompt_token_budget: int = 12000
    """`CHAT_PROMPT_TOKEN_BUDGET`: the most tokens of history sent to the model per call."""
    max_completion_tokens: int | None = None
    """`CHAT_MAX_COMPLETION_TOKENS`: cap of one answer (none: the model's default)."""
    max_message_bytes: int = 32 * 1024
    """`CHAT_MAX_MESSAGE_BYTES`: the largest message, prompt or instructions accepted (UTF-8 bytes)."""
    working_messages: int = 64
    """`CHAT_WORKING_MESSAGES`: messages the chat entity keeps beyond the system message before the oldest move to the
    archive."""
    max_tool_calls: int = 16
    """`CHAT_MAX_TOOL_CALLS`: tool calls of one model answer that run; the rest are answered with an error result."""
    max_reply_bytes: int = 64 * 1024
    """`CHAT_MAX_REPLY_BYTES`: the longest text kept of one model answer (UTF-8 bytes); the rest is cut."""
    max_body_bytes: int = 1024 * 1024
    """`CHAT_MAX_BODY_BYTES`: the largest request body the chat routes accept (413 above)."""
    model_attempts: int = 3
    """`CHAT_MODEL_TURN_ATTEMPTS`: times a turn tries a model call that fails for a passing reason (Durable retry)."""
    model_retry_seconds: float = 2.0
    """`CHAT_MODEL_RETRY_SECONDS`: the wait between those attempts."""
    queue_check_seconds: float = 30.0
    """A queued turn's one durable timer: when it fires with the same turn ahead, that turn's liveness is checked
    (`CHAT_QUEUE_CHECK_SECONDS`; the turn ahead wakes it when it leaves the queue, this only finds one terminated
    by hand)."""
    public_hosts: frozenset[str] = frozenset()
    """`CHAT_PUBLIC_HOSTS`: host names (with the port when not the default) a front end may forward (custom domains,
    tunnels): only a listed one decides the URLs the app hands out (comma-separated, case-insensitive)."""
    site_hostname: str | None = None
    """`WEBSITE_HOSTNAME`: the app's own host name (Azure sets it; devhost sets its address)."""
    on_azure: bool = False
    """Whether the app runs on Azure (`WEBSITE_INSTANCE_ID` set): its own URLs are `https`."""
    turn_events: bool = True
    """`CHAT_TURN_EVENTS` (`on`/`off`): turns publish their events (the live stream) to Table storage."""
    live_wake: bool = True
    """`CHAT_LIVE_WAKE` (`on`/`off`): a turn's writers hand its readers in the same process what they wrote, with no
    storage read (`assistant.signals`). Off, every reader polls storage within its budget, as it does where the turn
    runs in another process (Azure's usual case; how those budgets are measured on one machine)."""
    turn_retention_hours: float = 24.0
    """`CHAT_TURN_RETENTION_HOURS`: how long finished turns' orchestration histories are kept (the Idempotency-Key
    window)."""
    prompt_budget_set: bool = False
    """Whether `CHAT_PROMPT_TOKEN_BUDGET` was set (then it also caps a known context window's budget)."""
    context_tokens: int | None = None
    """`CHAT_MODEL_CONTEXT_TOKENS`: the model's context window (none: known from the model's name, else the fixed
    budget)."""
    summary: bool = True
    """`CHAT_SUMMARY` (`on`/`off`): fold what leaves the prompt into a running summary (default on with a real model,
    off with the offline one)."""
    summary_tokens: int = 800
    """`CHAT_SUMMARY_TOKENS`: the summary's cap (never more than a quarter of the prompt budget)."""
    tool_result_tokens: int = 4000
    """`CHAT_TOOL_RESULT_TOKENS`: a tool result longer than this is cut in the prompt (the chat keeps it whole)."""


@lru_cache(maxsize=1)
def model_settings() -> ModelSettings:
    """The model settings from the environment (cached; `reset_settings` clears)."""
    model = _env("CHAT_MODEL_DEPLOYMENT_NAME") or DEFAULT_MODEL
    reasoning_flag = _env("CHAT_MODEL_REASONING")
    reasoning = (
        reasoning_flag.lower() in ("1", "true", "yes")
        if reasoning_flag is not None
        else model.lower().startswith(_REASONING_PREFIXES)
    )
    timeout = float(_env("CHAT_MODEL_TIMEOUT_SECONDS") or 60)
    retries = _env_int("CHAT_MODEL_MAX_RETRIES", 2, minimum=0)
    azure_endpoint = _env("AZURE_OPENAI_ENDPOINT")
    if azure_endpoint:
        return ModelSettings(
            provider="azure",
            model=model,
            endpoint=azure_endpoint,
            api_key=_env("AZURE_OPENAI_KEY"),
            api_version=_env("AZURE_OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION,
            reasoning=reasoning,
            timeout_seconds=timeout,
            max_retries=retries,
        )
    base_url = _env("OPENAI_BASE_URL")
    if base_url or _env("OPENAI_API_KEY"):
        return ModelSettings(
            provider="openai",
            model=model,
            endpoint=base_url or "https://api.openai.com/v1",
            api_key=_env("OPENAI_API_KEY"),
            reasoning=reasoning,
            timeout_seconds=timeout,
            max_retries=retries,
        )
    return ModelSettings(provider="offline", model="offline", reasoning=False)


@lru_cache(maxsize=1)
def assistant_settings() -> AssistantSettings:
    """The turn settings from the environment (cached; `reset_settings` clears)."""
    max_completion = _env("CHAT_MAX_COMPLETION_TOKENS")
    context = _env("CHAT_MODEL_CONTEXT_TOKENS")
    summary = _env("CHAT_SUMMARY")
    if summary is not None and summary.lower() not in _SWITCH:
        raise ValueError(f"setting CHAT_SUMMARY must be on or off, got {summary!r}")
    return AssistantSettings(
        max_tool_rounds=_env_int("CHAT_MAX_TOOL_ROUNDS", 5),
        prompt_token_budget=_env_int("CHAT_PROMPT_TOKEN_BUDGET", 12000, minimum=256),
        max_completion_tokens=_env_int("CHAT_MAX_COMPLETION_TOKENS", 1) if max_completion else None,
        max_message_bytes=_env_int("CHAT_MAX_MESSAGE_BYTES", 32 * 1024),
        working_messages=_env_int("CHAT_WORKING_MESSAGES", 64, minimum=2),
        max_tool_calls=_env_int("CHAT_MAX_TOOL_CALLS", 16),
        max_reply_bytes=_env_int("CHAT_MAX_REPLY_BYTES", 64 * 1024, minimum=256),
        max_body_bytes=_env_int("CHAT_MAX_BODY_BYTES", 1024 * 1024, minimum=1024),
        model_attempts=_env_int("CHAT_MODEL_TURN_ATTEMPTS", 3),
        model_retry_seconds=_env_float("CHAT_MODEL_RETRY_SECONDS", 2.0),
        queue_check_seconds=_env_float("CHAT_QUEUE_CHECK_SECONDS", 30.0, minimum=1.0),
        public_hosts=frozenset(h.strip().lower() for h in (_env("CHAT_PUBLIC_HOSTS") or "").split(",") if h.strip()),
        site_hostname=_env("WEBSITE_HOSTNAME"),
        on_azure=_env("WEBSITE_INSTANCE_ID") is not None,
        turn_retention_hours=_env_float("CHAT_TURN_RETENTION_HOURS", 24.0),
        turn_events=(_env("CHAT_TURN_EVENTS") or "on").lower() not in ("off", "0", "false", "no"),
        live_wake=(_env("CHAT_LIVE_WAKE") or "on").lower() not in ("off", "0", "false", "no"),
        prompt_budget_set=_env("CHAT_PROMPT_TOKEN_BUDGET") is not None,
        context_tokens=_env_int("CHAT_MODEL_CONTEXT_TOKENS", 0, minimum=1024) if context else None,
        summary=_SWITCH[summary.lower()] if summary is not None else model_settings().provider != "offline",
        summary_tokens=_env_int("CHAT_SUMMARY_TOKENS", 800, minimum=32),
        tool_result_tokens=_env_int("CHAT_TOOL_RESULT_TOKENS", 4000, minimum=64),
    )


_DEPENDENTS: list[Callable[[], None]] = []
"""What was built from the settings (model clients, token counters): forgotten with them."""


def built_from_settings(forget: Callable[[], None]) -> Callable[[], None]:
    """Register `forget`, which drops something built from the settings, to run on `reset_settings` (the modules
    that build from settings register themselves; this one imports none of them)."""
    _DEPENDENTS.append(forget)
    return forget


def reset_settings() -> None:
    """Forget cached settings and what was built from them (for tests)."""
    model_settings.cache_clear()
    assistant_settings.cache_clear()
    for forget in _DEPENDENTS:
        forget()
