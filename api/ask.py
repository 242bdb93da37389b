"""One-shot completions, as in the seed sample: `POST /api/ask` and `GET /api/whois/{name}`.

These are single model calls with no chat state, so they call the process's model directly
(in a worker thread) rather than through an orchestration.
"""

from __future__ import annotations

import asyncio

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from api.errors import HttpError, json_errors
from api.http import read_request, text_response
from api.inputs import encodable, is_blank, json_body, required_text
from api.models import AskBody, Error
from api.spec import ERROR, Reply, operation, path_param
from api.turns import RETRY_AFTER_SECONDS
from assistant.providers import ModelUnavailable, chat_model

__all__ = ["WHOIS_MAX_TOKENS", "bp"]

WHOIS_MAX_TOKENS = 100

bp = func.Blueprint()


async def _complete(prompt: str, max_tokens: int | None) -> str:
    try:
        answer = await asyncio.to_thread(chat_model().complete, [{"role": "user", "content": prompt}], None, max_tokens)
    except ModelUnavailable as error:
        if error.status in (429, 503):
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            raise HttpError(503, f"{error}; try again later", headers=headers) from error
        raise HttpError(502, f"{error}; try again later") from error
    return answer.content


_UNAVAILABLE = Reply(
    "The model is throttled or unavailable; try again after `Retry-After`.",
    json=Error,
    headers={"Retry-After": "Seconds to wait."},
)
path_param(
    "name",
    "Whom to ask about (1-200 characters, not blank).",
    {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
)


@bp.function_name(name="ask")
@bp.route(route="ask", methods=["POST"])
@json_errors
@operation(
    "POST",
    "/ask",
    operation_id="ask",
    tags=("Completions",),
    summary="One completion for a prompt.",
    body=AskBody,
    body_required=True,
    replies={200: Reply("The model's answer.", text=True), 400: ERROR, 413: ERROR, 502: ERROR, 503: _UNAVAILABLE},
)
async def ask(req: Request) -> Response:
    """200 text/plain: the model's answer to `{"prompt": "..."}`."""
    view = await read_request(req)
    prompt = required_text(json_body(view, required=True).get("prompt"), "prompt")
    return text_response(await _complete(prompt, None))


@bp.function_name(name="whois")
@bp.route(route="whois/{name}", methods=["GET"])
@json_errors
@operation(
    "GET",
    "/whois/{name}",
    operation_id="whois",
    tags=("Completions",),
    summary='Ask the model "Who is {name}?" (at most 100 tokens).',
    replies={200: Reply("The model's answer.", text=True), 400: ERROR, 502: ERROR, 503: _UNAVAILABLE},
)
async def whois(req: Request) -> Response:
    """200 text/plain: the model's answer to "Who is {name}?" in at most 100 tokens."""
    name = str(req.path_params.get("name") or "")
    if is_blank(name):
        raise HttpError(400, "name is required")
    encodable(name, "name")
    if len(name) > 200:
        raise HttpError(400, "name must be at most 200 characters")
    return text_response(await _complete(f"Who is {name.strip()}?", WHOIS_MAX_TOKENS))
