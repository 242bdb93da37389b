"""The `chat_completion` activity: the only place a turn talks to the model.

It fits the conversation to the prompt token budget (tiktoken), offers the skills as tools and
returns the model's answer as a `CompletionResult`, its text cut to `CHAT_MAX_REPLY_BYTES`. A
failure that may pass (throttling, time-outs, 5xx, a broken connection) raises, so the
orchestrator's Durable retry runs it again; a refusal that will not (another 4xx) is returned as
the result's `error`, so the turn fails at once.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import azure.durable_functions as df

from assistant.payloads import CompletionRequest, CompletionResult
from assistant.providers import ModelUnavailable, chat_model, cut_text
from assistant.settings import assistant_settings, model_settings
from assistant.tokens import fit_to_budget, token_counter, tools_tokens
from skills import registry

__all__ = ["CHAT_COMPLETION_ACTIVITY", "bp", "complete"]

CHAT_COMPLETION_ACTIVITY = "chat_completion"

bp = df.Blueprint()


def complete(request: CompletionRequest) -> CompletionResult:
    """Ask the process's model to answer `request`, within the prompt budget."""
    settings = assistant_settings()
    tools = registry.tool_definitions() if request.allow_tools else []
    count = token_counter(model_settings().model)
    reserve = tools_tokens(tools, count) + (settings.max_completion_tokens or 0)
    messages = fit_to_budget(request.messages, settings.prompt_token_budget, count, reserve=reserve)
    try:
        answer = chat_model().complete([m.to_openai() for m in messages], tools or None, settings.max_completion_tokens)
    except ModelUnavailable as error:
        if error.transient:
            raise
        return CompletionResult(content="", error=str(error))
    return replace(answer, content=cut_text(answer.content, settings.max_reply_bytes))


@bp.function_name(name=CHAT_COMPLETION_ACTIVITY)
@bp.activity_trigger(input_name="request")
def chat_completion(request: Any) -> dict[str, Any]:
    """Activity: one model call."""
    payload = json.loads(request) if isinstance(request, str) else request
    return complete(CompletionRequest.from_dict(payload)).to_dict()
