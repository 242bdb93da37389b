"""Model providers: one `ChatModel` per process, chosen by `model_settings()`.

Azure OpenAI (key, or Microsoft Entra ID through `DefaultAzureCredential`), any OpenAI-compatible
server (`OPENAI_BASE_URL`), or the built-in offline model. This is the only code that talks to a
model; clients are built on first use and reused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

from assistant.messages import ToolCall
from assistant.offline import OfflineModel
from assistant.payloads import CompletionResult
from assistant.settings import ModelSettings, built_from_settings, model_settings
from assistant.state import Usage

__all__ = [
    "ChatModel",
    "ModelUnavailable",
    "OpenAIChatModel",
    "announce_model",
    "build_openai_client",
    "chat_model",
    "clean_text",
    "cut_text",
    "reset_clients",
]

log = logging.getLogger(__name__)

AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"


class ModelUnavailable(RuntimeError):
    """The model could not answer (after the client's retries): HTTP errors, timeouts, refused connections,
    an answer that is not a whole chat completion, or one its content filter stopped."""

    def __init__(self, message: str, status: int | None = None, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.status = status
        self._retryable = retryable

    @property
    def transient(self) -> bool:
        """Whether asking again later may work: throttling, time-outs, 5xx, broken connections, cut or garbled
        answers (not other 4xx, not a content filter's refusal)."""
        if self._retryable is not None:
            return self._retryable
        return self.status is None or self.status in (408, 409, 429) or self.status >= 500


INCOMPLETE = "the model's answer ended before it was complete (no finish_reason)"
CONTENT_FILTER = "the model's content filter stopped the answer (finish_reason: content_filter)"


def _finished(finish: str | None) -> bool:
    """Whether an answer that ended with `finish` is whole and may be kept (`length`: kept, marked truncated);
    raises `ModelUnavailable` for one that is not: none (a cut or garbled answer, asked again) or a content
    filter's (not asked again)."""
    if not finish:
        raise ModelUnavailable(INCOMPLETE)
    if finish == "content_filter":
        raise ModelUnavailable(CONTENT_FILTER, retryable=False)
    return finish == "length"


def clean_text(text: str) -> str:
    """`text` with what UTF-8 cannot encode (lone surrogates) replaced by U+FFFD, so it can be stored and sent."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def cut_text(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes (on a character boundary), with a note when cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    note = f"\n[reply cut at {limit} bytes]"
    return data[: max(limit - len(note.encode()), 0)].decode("utf-8", "ignore") + note


DeltaSink = Callable[[str], None]
"""Receives each piece of the answer's text as the model writes it."""


class ChatModel(Protocol):
    """Anything that answers a chat-completions request."""

    name: str

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        max_tokens: int | None = None,
        on_delta: DeltaSink | None = None,
    ) -> CompletionResult:
        """The model's answer to `messages` (chat-completions wire form), offered `tools`; with `on_delta`, streamed."""
        ...


class OpenAIChatModel:
    """A `ChatModel` over an `openai` client (OpenAI, Azure OpenAI or any compatible server)."""

    def __init__(self, client: Any, model: str, reasoning: bool) -> None:
        self.client = client
        self.name = model
        self.reasoning = reasoning

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        max_tokens: int | None = None,
        on_delta: DeltaSink | None = None,
    ) -> CompletionResult:
        """Call chat completions; reasoning models get `max_completion_tokens`, others `max_tokens`. With `on_delta`
        the answer is streamed (`stream_options.include_usage`, so token counts stay exact) and each text piece is
        handed over as it arrives; tool-call arguments are gathered, not handed over."""
        kwargs: dict[str, Any] = {"model": self.name, "messages": messages}
        if tools:
            kwargs["tools"] = tools
        if max_tokens is not None:
            kwargs["max_completion_tokens" if self.reasoning else "max_tokens"] = max_tokens
        import httpx
        import openai

        try:
            if on_delta is not None:
                return self._stream(kwargs, on_delta)
            from openai.types.chat import ChatCompletion

            # The SDK's documented `post` sends the body as given. The messages are already plain
            # wire JSON; `chat.completions.create` would first walk them through the SDK's typed
            # transform, ~0.4 ms per message (30 ms for a 65-message prompt on 2 cores).
            response = self.client.post("/chat/completions", body=kwargs, cast_to=ChatCompletion)
        except openai.APIStatusError as error:
            raise ModelUnavailable(f"the model answered HTTP {error.status_code}", error.status_code) from error
        except (openai.APIError, httpx.HTTPError) as error:
            raise ModelUnavailable(f"the model could not be reached: {type(error).__name__}") from error
        except ValueError as error:  # a body that is not JSON (json.JSONDecodeError)
            raise ModelUnavailable(f"the model's answer is not valid JSON: {error}") from error
        try:
            choice = response.choices[0]
            message = choice.message
            calls = tuple(
                ToolCall(
                    id=clean_text(c.id or ""),
                    name=clean_text(c.function.name or ""),
                    arguments=clean_text(c.function.arguments or ""),
                )
                for c in message.tool_calls or ()
                if getattr(c, "function", None) is not None
            )
        except (AttributeError, IndexError, TypeError) as error:
            raise ModelUnavailable(
                f"the model's answer is not a chat completion ({type(error).__name__}: {error})"
            ) from error
        truncated = _finished(getattr(choice, "finish_reason", None))
        return CompletionResult(
            content=clean_text(message.content or "") if isinstance(message.content, str) else "",
            tool_calls=calls,
            usage=_usage(response.usage),
            model=response.model or self.name,
            truncated=truncated,
        )

    def _stream(self, kwargs: dict[str, Any], on_delta: DeltaSink) -> CompletionResult:
        from openai import Stream
        from openai.types.chat import ChatCompletion, ChatCompletionChunk

        body = {**kwargs, "stream": True, "stream_options": {"include_usage": True}}
        stream = self.client.post(
            "/chat/completions", body=body, cast_to=ChatCompletion, stream=True, stream_cls=Stream[ChatCompletionChunk]
        )
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage: Any = None
        model = ""
        finish: str | None = None
        with stream:
            for chunk in stream:
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices or ():
                    if choice.index == 0 and choice.finish_reason:
                        finish = choice.finish_reason
                    delta = choice.delta
                    if delta is None:
                        continue
                    if isinstance(delta.content, str) and delta.content:
                        text.append(delta.content)
                        on_delta(clean_text(delta.content))
                    for call in delta.tool_calls or ():
                        slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                        slot["id"] = call.id or slot["id"]
                        if call.function is not None:
                            slot["name"] += call.function.name or ""
                            slot["arguments"] += call.function.arguments or ""
        truncated = _finished(finish)  # a stream cut short, empty, or not SSE at all: not an answer
        tool_calls = tuple(
            ToolCall(id=clean_text(c["id"]), name=clean_text(c["name"]), arguments=clean_text(c["arguments"]))
            for _, c in sorted(calls.items())
        )
        return CompletionResult(
            content=clean_text("".join(text)),
            tool_calls=tool_calls,
            usage=_usage(usage),
            model=model or self.name,
            truncated=truncated,
        )


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    return Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0, usage.total_tokens or 0)


def build_openai_client(settings: ModelSettings) -> Any:
    """The `openai` client for `settings` (Azure with key or Entra ID, or OpenAI-compatible)."""
    import openai

    if settings.provider == "azure":
        if settings.api_key:
            return openai.AzureOpenAI(
                azure_endpoint=settings.endpoint,
                api_key=settings.api_key,
                api_version=settings.api_version,
                timeout=settings.timeout_seconds,
                max_retries=settings.max_retries,
            )
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider

        return openai.AzureOpenAI(
            azure_endpoint=settings.endpoint,
            azure_ad_token_provider=get_bearer_token_provider(DefaultAzureCredential(), AZURE_SCOPE),
            api_version=settings.api_version,
            timeout=settings.timeout_seconds,
            max_retries=settings.max_retries,
        )
    return openai.OpenAI(
        base_url=settings.endpoint,
        # Local OpenAI-compatible servers (Ollama, vLLM, llama.cpp) accept any key; the SDK needs one.
        api_key=settings.api_key or "not-needed",
        timeout=settings.timeout_seconds,
        max_retries=settings.max_retries,
    )


@lru_cache(maxsize=1)
def chat_model() -> ChatModel:
    """The process's model, built on first use from `model_settings()`."""
    settings = model_settings()
    if settings.provider == "offline":
        return OfflineModel()
    return OpenAIChatModel(build_openai_client(settings), settings.model, settings.reasoning)


def announce_model() -> str:
    """Log (and return) which model this process uses."""
    line = f"assistant model: {model_settings().describe()}"
    if model_settings().provider == "offline":
        log.warning(line)
    else:
        log.info(line)
    return line


@built_from_settings
def reset_clients() -> None:
    """Forget the built model and client (for tests)."""
    chat_model.cache_clear()
