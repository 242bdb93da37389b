"""The `summarize` activity: folds messages that are leaving the prompt into the chat's running summary.

Input: a `FoldPlan` (the summary so far and the messages to fold). It asks the model, as the
`chat_completion` activity would (same client, span and metrics; no tools, not streamed), with
`assistant.memory.summary_request`, and returns `{"summary": text}`, cut to the summary's token
cap; `{"summary": null, "error": ...}` when the model refuses for good. A failure that may pass
raises, so the orchestrator's retry runs it again. It writes nothing itself: the chat entity applies
the result once (`summarized`), so a re-run after a crash cannot fold the same messages twice.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import azure.durable_functions as df

from activities.chat_completion import ask_model, current_budget
from assistant.memory import FoldPlan, cut_tool_results, summary_request, summary_room
from assistant.settings import assistant_settings, model_settings
from assistant.tokens import token_counter, token_cutter

__all__ = ["SUMMARIZE_ACTIVITY", "bp", "summarize"]

SUMMARIZE_ACTIVITY = "summarize"

bp = df.Blueprint()


def summarize(plan: FoldPlan) -> dict[str, Any]:
    """The new summary of `plan` (`{"summary": text}`), or `{"summary": None, "error": why}` on a lasting refusal."""
    settings = assistant_settings()
    model = model_settings().model
    count, cut = token_counter(model), token_cutter(model)
    limit = plan.max_tokens or summary_room(current_budget(), settings.summary_tokens)
    shown = replace(plan, messages=tuple(cut_tool_results(plan.messages, settings.tool_result_tokens, count, cut)))
    answer = ask_model(summary_request(shown, limit), [], limit, settings.max_reply_bytes, None)
    if answer.error is not None:
        return {"summary": None, "error": answer.error}
    return {"summary": cut(answer.content.strip(), limit)}


@bp.function_name(name=SUMMARIZE_ACTIVITY)
@bp.activity_trigger(input_name="plan")
def summarize_activity(plan: Any) -> dict[str, Any]:
    """Activity: one fold of a chat's summary."""
    payload = json.loads(plan) if isinstance(plan, str) else plan
    return summarize(FoldPlan.from_dict(payload))
