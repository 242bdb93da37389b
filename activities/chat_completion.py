"""The `chat_completion` activity: the only place a turn talks to the model.

It fits the conversation to the prompt token budget (tiktoken), offers the skills as tools and
returns the model's answer as a `CompletionResult`, its text cut to `CHAT_MAX_REPLY_BYTES`. A
failure that may pass (throttling, time-outs, 5xx, a broken connection) raises, so the
orchestrator's Durable retry runs it again; a refusal that will not (another 4xx) is returned as
the result's `error`, so the turn fails at once.
"""

from __future__ import annotations

import functools
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import azure.durable_functions as df
from azure.core.exceptions import AzureError
from opentelemetry.trace import SpanKind

from assistant import telemetry
from assistant.events import DELTA, MESSAGE_COMPLETED, RESET, EventDraft, TurnEvent
from assistant.failures import ModelFailure
from assistant.memory import cut_tool_results, fold_point, prompt_budget, summary_room
from assistant.messages import ToolCall
from assistant.payloads import CompletionRequest, CompletionResult, EventTarget
from assistant.providers import ModelUnavailable, chat_model, cut_text
from assistant.settings import assistant_settings, model_settings
from assistant.state import Usage
from assistant.tokens import count_message_tokens, fit_to_budget, token_counter, token_cutter, tools_tokens
from skills import registry
from storage.event_log import EventWriter, read_events, try_insert_events

__all__ = ["CHAT_COMPLETION_ACTIVITY", "ask_model", "bp", "complete", "current_budget"]

CHAT_COMPLETION_ACTIVITY = "chat_completion"

bp = df.Blueprint()


def current_budget() -> int:
    """The prompt budget of this process's model and settings (`assistant.memory.prompt_budget`)."""
    settings = assistant_settings()
    return prompt_budget(
        model_settings().model,
        settings.context_tokens,
        settings.prompt_token_budget,
        settings.prompt_budget_set,
        settings.max_completion_tokens,
    )


def complete(request: CompletionRequest) -> CompletionResult:
    """Ask the process's model to answer `request`, within the prompt budget (streaming into the turn's log
    when `request.events` says where): tool results cut to their cap, then the newest messages that fit."""
    settings = assistant_settings()
    tools = registry.tool_definitions(request.tools) if request.allow_tools else []
    model = model_settings().model
    count = functools.lru_cache(maxsize=None)(token_counter(model))  # cutting, folding and fitting count the same texts
    budget, reserve = current_budget(), tools_tokens(tools, count)
    shown = cut_tool_results(request.messages, settings.tool_result_tokens, count, token_cutter(model))
    fold = 0
    if request.fold_check:
        instructions = count_message_tokens(shown[0], count) if shown else 0
        room = budget - reserve - instructions - summary_room(budget, settings.summary_tokens)
        fold = fold_point([m for m in shown if m.role != "system"], max(room, 1), count)
    wire = [m.to_openai() for m in fit_to_budget(shown, budget, count, reserve=reserve)]
    if request.queued_seconds is not None:
        _queue_wait().record(request.queued_seconds)
    ask = functools.partial(ask_model, traceparent=request.traceparent)
    if request.events is None:
        answer = ask(wire, tools, settings.max_completion_tokens, settings.max_reply_bytes, None)
    else:
        answer = _ask_streaming(
            request.events, wire, tools, settings.max_completion_tokens, settings.max_reply_bytes, ask
        )
    return replace(answer, fold_count=fold)


@functools.lru_cache(maxsize=1)
def _instruments() -> tuple[Any, Any]:
    m = telemetry.meter()
    return (
        m.create_histogram("gen_ai.client.operation.duration", unit="s", description="Model call latency"),
        m.create_histogram("gen_ai.client.token.usage", unit="{token}", description="Tokens per model call"),
    )


@functools.lru_cache(maxsize=1)
def _queue_wait() -> Any:
    return telemetry.meter().create_histogram(
        "assistant.turn.queue_wait", unit="s", description="How long a turn waited behind earlier turns of its chat"
    )


def ask_model(
    wire: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    max_tokens: int | None,
    max_reply: int,
    on_delta: Callable[[str], None] | None,
    traceparent: str | None = None,
) -> CompletionResult:
    """One model call, as a GenAI `chat {model}` span of the turn's trace, with its latency and tokens as metrics."""
    settings = model_settings()
    provider = {"azure": "azure.ai.openai", "openai": "openai"}.get(settings.provider, settings.provider)
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.request.model": settings.model,
        "gen_ai.request.stream": on_delta is not None,
    }
    if max_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = max_tokens
    duration, tokens = _instruments()
    started = time.perf_counter()
    with telemetry.span(f"chat {settings.model}", traceparent, SpanKind.CLIENT, attributes) as span:
        if telemetry.content_enabled():
            span.set_attribute("gen_ai.input.messages", json.dumps(wire, ensure_ascii=False)[:32_000])
        try:
            answer = chat_model().complete(wire, tools or None, max_tokens, on_delta)
        except ModelUnavailable as error:
            span.set_attribute("error.type", f"HTTP {error.status}" if error.status else "unavailable")
            duration.record(
                time.perf_counter() - started, {**_metric_attributes(attributes), "error.type": "unavailable"}
            )
            if error.transient:
                raise
            return CompletionResult(content="", error=str(error))
        finish = "tool_calls" if answer.tool_calls else "stop"
        span.set_attributes(
            {
                "gen_ai.response.model": answer.model or settings.model,
                "gen_ai.response.finish_reasons": [finish],
                "gen_ai.usage.input_tokens": answer.usage.prompt_tokens,
                "gen_ai.usage.output_tokens": answer.usage.completion_tokens,
            }
        )
        if telemetry.content_enabled():
            span.set_attribute(
                "gen_ai.output.messages", json.dumps({"content": answer.content}, ensure_ascii=False)[:32_000]
            )
        base = _metric_attributes(attributes)
        duration.record(time.perf_counter() - started, base)
        tokens.record(answer.usage.prompt_tokens, {**base, "gen_ai.token.type": "input"})
        tokens.record(answer.usage.completion_tokens, {**base, "gen_ai.token.type": "output"})
    return replace(answer, content=cut_text(answer.content, max_reply))


def _metric_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in attributes.items()
        if k in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")
    }


def _recorded(event: TurnEvent) -> CompletionResult:
    """The answer a `message.completed` of an earlier run of this call recorded."""
    data = event.data
    return CompletionResult(
        content=str(data.get("content") or ""),
        tool_calls=tuple(
            ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"]) for c in data.get("toolCalls") or ()
        ),
        usage=Usage.from_dict(data.get("usage")),
        model=str(data.get("model") or ""),
        last_sequence=event.sequence,
        truncated=bool(data.get("truncated")),
    )


def _ask_streaming(
    target: EventTarget,
    wire: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    max_tokens: int | None,
    max_reply: int,
    ask: Callable[..., CompletionResult] = ask_model,
) -> CompletionResult:
    """The model call of a turn: preface, then the text as it comes, then `message.completed`, all in the log.

    First it finds out whether an earlier run of this call wrote anything (one round trip): when the
    call has a preface (the orchestrator's events before it: the turn started, calls that did not run),
    its insert tells — all of it new means no earlier run got that far, since a run writes its preface
    before anything else; otherwise it reads what earlier runs wrote after the preface. A
    `message.completed` there is the answer (recorded by a run whose completion was lost: the model is
    not asked again, and no second span appears); streamed text without one is voided with
    `message.reset` before the new text. Then the model is asked, on a thread of its own, while this
    thread writes what it streams; the last text goes out with `message.completed` in one write.
    """
    body_start = target.start + len(target.preface)
    fresh = bool(target.preface) and try_insert_events(
        target.turn_id, target.chat_id, target.start, target.preface, together=True
    )
    try:
        earlier = [] if fresh else read_events(target.turn_id, after=body_start - 1)
    except AzureError:  # the log is down: nothing recorded can be found; the model is asked (the log is best effort)
        earlier, fresh = [], None
    completed = [e for e in earlier if e.type == MESSAGE_COMPLETED]
    if completed:
        return _recorded(completed[-1])
    pieces: queue.SimpleQueue[object] = queue.SimpleQueue()

    def run() -> None:
        try:
            pieces.put(_Done(ask(wire, tools, max_tokens, max_reply, pieces.put)))
        except BaseException as error:
            pieces.put(_Failed(error))

    threading.Thread(target=run, name="model-stream", daemon=True).start()
    writer = EventWriter(
        target.turn_id, target.chat_id, earlier[-1].sequence + 1 if earlier else body_start, last_write=0.0
    )
    writer.broken = fresh is None
    attempt = 1 + sum(1 for e in earlier if e.type == RESET) + (1 if any(e.type == DELTA for e in earlier) else 0)
    if any(e.type == DELTA for e in earlier):
        writer.reset(attempt)
    while True:
        try:
            item = pieces.get(timeout=writer.flush_due())
        except queue.Empty:
            writer.flush()
            continue
        while isinstance(item, str):  # take what has already arrived before writing: it goes out together
            writer.delta(item, write=False)
            try:
                item = pieces.get_nowait()
            except queue.Empty:
                writer.write_due()
                break
        if isinstance(item, str):
            continue
        if isinstance(item, _Failed):
            writer.flush()
            raise item.error
        else:
            answer = item.result  # type: ignore[attr-defined]
            break
    if answer.error is not None:
        writer.flush()
        return replace(answer, last_sequence=writer.last_sequence)
    writer.finish_text(answer.content, attempt + 1)
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in answer.tool_calls]
    writer.put(
        [
            EventDraft(
                MESSAGE_COMPLETED,
                {
                    "content": answer.content,
                    "toolCalls": calls,
                    "usage": answer.usage.to_dict(),
                    "model": answer.model,
                    **({"truncated": True} if answer.truncated else {}),
                },
            )
        ]
    )
    return replace(answer, last_sequence=writer.last_sequence)


@dataclass(frozen=True)
class _Done:
    result: CompletionResult


@dataclass(frozen=True)
class _Failed:
    error: BaseException


@bp.function_name(name=CHAT_COMPLETION_ACTIVITY)
@bp.activity_trigger(input_name="request")
def chat_completion(request: Any) -> dict[str, Any]:
    """Activity: one model call. A failure that may pass raises `ModelCallFailed` carrying a `ModelFailure` (Durable
    retries the activity; when every attempt failed, the turn reads why from it)."""
    payload = json.loads(request) if isinstance(request, str) else request
    try:
        return complete(CompletionRequest.from_dict(payload)).to_dict()
    except ModelUnavailable as error:
        raise ModelCallFailed(ModelFailure(str(error), error.status).encode()) from error


class ModelCallFailed(RuntimeError):
    """The model call failed in a way that may pass; the message is a `ModelFailure`'s encoding."""
