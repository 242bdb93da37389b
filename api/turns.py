"""`POST /api/chats/{chatId}`: accept one turn (once per `Idempotency-Key`), wait a bounded time, answer.

A turn is one `post_user_query` orchestration. With an `Idempotency-Key` header its instance id
is derived from the chat id and the key, so a repeat finds the same instance in the durable store
(across restarts too) and starts nothing new; a repeat with another message is a 422. A turn whose
orchestration failed wrote nothing, so repeating its key runs it again.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus
from azurefunctions.extensions.http.fastapi import Response

from api.errors import HttpError, json_response
from api.events import approvals_url, events_url, sse_response, wants_sse
from api.http import RequestView, text_response
from api.inputs import json_body, parse_timeout, required_text, wants_json
from api.lookup import ask_live, stored_input
from api.models import CheckStatus, Error, TurnReply
from api.spec import ERROR, Param, Reply
from api.waiting import FINISHED, InstanceGone, early_output, wait_for_instance
from assistant import telemetry
from assistant.failures import TurnFailure
from assistant.ids import turn_instance_id
from assistant.payloads import TurnInput
from assistant.settings import assistant_settings
from assistant.views import MessageView
from orchestrators.post_user_query import POST_USER_QUERY
from storage.event_log import delete_turn_events, forget_stale_turn_events

__all__ = [
    "IDEMPOTENCY_HEADER",
    "MESSAGE_PARAMS",
    "TURN_REPLIES",
    "parse_idempotency_key",
    "post_message",
    "request_hash",
    "turn_failure",
    "turn_instance_id",
]

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
ACCEPT_WAIT_SECONDS = 10.0
"""How long a POST answering 202 waits for its turn to take its place in the queue."""
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
_GONE = "chat {chat_id!r} was reset or deleted before the turn finished; nothing was written"
_RETRYABLE = OrchestrationRuntimeStatus.Failed, OrchestrationRuntimeStatus.Terminated
STALE_LOG_MARGIN = timedelta(seconds=1)
"""Clock skew allowed between app instances when a keyed request clears a purged turn's leftover log."""


def parse_idempotency_key(req: RequestView) -> str | None:
    """The `Idempotency-Key` header (1-255 visible ASCII characters), None when absent, else 400 (an empty one too)."""
    raw = req.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    if not _KEY.fullmatch(raw):
        raise HttpError(400, f"{IDEMPOTENCY_HEADER} must be 1-255 visible ASCII characters without spaces")
    return raw


def request_hash(chat_id: str, message: str) -> str:
    """What makes a turn's request the same request: the chat and the message (not the raw bytes, not `Accept` or
    the wait), as SHA-256 hex."""
    canonical = json.dumps({"chatId": chat_id, "message": message}, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def turn_failure(instance_id: str, output: Any, keyed: bool = False) -> HttpError:
    """The HTTP error for a failed turn: 503 when the model was throttled or unreachable, else 502.

    The message says what happened to the chat: unchanged (nothing ran), or the tool calls that ran
    are recorded and a repeat with the same `Idempotency-Key` resumes the turn without running them again.
    """
    failure = TurnFailure.decode(output) or TurnFailure("the turn failed", retryable=False, recorded=False)
    reason = failure.reason
    status = 503 if failure.unavailable else 502
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if failure.unavailable else None
    if failure.recorded:
        again = (
            "send the message again with the same Idempotency-Key to finish this turn (those calls do not run again)"
            if keyed
            else "send it again to go on (the model sees what ran)"
        )
        advice = f"the tool calls that ran before it failed are recorded in the chat; {again}"
    else:
        advice = "the chat is unchanged, send the message again"
    return HttpError(
        status,
        f"{reason}; {advice}",
        headers=headers,
        reason=reason,
        instanceId=instance_id,
        recorded=failure.recorded,
    )


@functools.lru_cache(maxsize=1)
def _turn_duration() -> Any:
    return telemetry.meter().create_histogram(
        "assistant.turn.duration", unit="s", description="From a turn's start to its end, as the waiting POST saw it"
    )


def _requires_action(status: df.DurableOrchestrationStatus) -> bool:
    custom = status.custom_status
    return isinstance(custom, dict) and bool(custom.get("requiresAction"))


MESSAGE_PARAMS = (
    Param(
        "message",
        "query",
        "The message, when not sent in the body (at most CHAT_MAX_MESSAGE_BYTES UTF-8 bytes, "
        "default 32 KiB; not blank).",
        {"type": "string", "minLength": 1, "pattern": "\\S"},
    ),
    Param(
        "timeoutSeconds",
        "query",
        "How long to wait for the reply (default 30, at most 230).",
        {"type": "number", "minimum": 0, "maximum": 230},
    ),
    Param(
        IDEMPOTENCY_HEADER,
        "header",
        "Makes the POST safe to repeat: a repeat with the same key for this chat "
        "starts no new turn and answers with that turn's result. The key names one request: the same key with "
        "another message is a 422. It lives as long as the turn's history (CHAT_TURN_RETENTION_HOURS, 24 h). "
        "1-255 visible ASCII characters.",
        {"type": "string", "pattern": "^[\\t ]*[\\x21-\\x7e]{1,255}[\\t ]*$"},
    ),
)
"""The POST's parameters (the message may come from the query instead of the body)."""
RETRY_AFTER_SECONDS = 10
"""`Retry-After` of a 503 (the model throttled or unavailable)."""
TURN_REPLIES = {
    200: Reply(
        "The assistant's final reply (text or JSON), or with `Accept: text/event-stream` the turn's live events.",
        text=True,
        json=TurnReply,
        sse="With `Accept: text/event-stream`: the turn's events (see TurnEvent), each as `id: <sequence>`, "
        "`event: <type>`, `data: <JSON>`, ending with turn.completed, turn.failed or turn.cancelled.",
    ),
    202: Reply(
        "Still running, or waiting for a person (`status: requires_action`): the Durable check-status payload; "
        "follow statusQueryGetUri for the turn's output.",
        json=CheckStatus,
        headers={"Location": "The statusQueryGetUri.", "Retry-After": "Seconds before polling it."},
    ),
    400: ERROR,
    404: ERROR,
    406: ERROR,
    409: ERROR,
    413: ERROR,
    422: ERROR,
    500: ERROR,
    502: ERROR,
    503: Reply(
        "The model is throttled or unavailable; try again after `Retry-After`.",
        json=Error,
        headers={"Retry-After": "Seconds to wait."},
    ),
}
"""What a POST of a message answers."""

_KEY_REUSED = (
    f"this {IDEMPOTENCY_HEADER} was already used with a different request (another message or chat); "
    "an Idempotency-Key names one request: use a new key for a new message"
)


def _same_request(status: df.DurableOrchestrationStatus, turn: TurnInput) -> None:
    """422 unless the stored turn was started by the same request as `turn` (its hash; the message for turns
    started before hashes were stored)."""
    stored = stored_input(status)
    same = (
        stored.get("requestHash") == turn.request_hash
        if stored.get("requestHash")
        else stored.get("message") == turn.message and stored.get("chatId") == turn.chat_id
    )
    if not same:
        raise HttpError(422, _KEY_REUSED)


async def _start_once(
    client: df.DurableOrchestrationClient, instance_id: str, turn: TurnInput, keyed: bool
) -> df.DurableOrchestrationStatus | None:
    """Start the turn; with a key, unless a repeat finds it already there (its status is returned) — and only for
    the request that owns the key (422 for another: checked before the start and again after it, since concurrent
    starts may both succeed when the first turn has already finished, Durable overwriting a finished instance)."""
    if not keyed:
        await client.start_new(POST_USER_QUERY, instance_id, turn.to_dict())
        return None
    checked_at = datetime.now(UTC)
    existing = await client.get_status(instance_id, show_input=True)
    if existing and existing.runtime_status is not None:
        _same_request(existing, turn)
        if existing.runtime_status not in _RETRYABLE:
            return existing
        # Run again: the turn's event log starts afresh (its earlier run ended it with turn.failed).
        await asyncio.to_thread(delete_turn_events, instance_id)
    else:
        # The key's first turn, or a key reused after its turn was purged: a log left by that older turn must not
        # be read as this one's. Only rows older than this check go (a concurrent request's new turn writes later).
        await asyncio.to_thread(forget_stale_turn_events, instance_id, checked_at - STALE_LOG_MARGIN)
    try:
        await client.start_new(POST_USER_QUERY, instance_id, turn.to_dict())
    except Exception as error:  # the SDK raises a bare Exception; a conflict means a repeat started it first
        if "already" not in str(error).lower() and "409" not in str(error):
            raise
        log.info("turn %s was started by a concurrent request with the same key", instance_id)
    stored = await client.get_status(instance_id, show_input=True)
    if stored and stored.runtime_status is not None:
        _same_request(stored, turn)
    return None


def check_status_response(
    client: df.DurableOrchestrationClient, view: RequestView, instance_id: str, **extra: Any
) -> Response:
    """202 with the Durable check-status payload (URLs on the request's origin), `Location` and `Retry-After`,
    as the SDK's `create_check_status_response` builds it; `extra` fields are added to the payload."""
    payload = client.get_client_response_links(view, instance_id)  # reads only `view.url`
    headers = {"Location": payload["statusQueryGetUri"], "Retry-After": "10"}
    return json_response(CheckStatus.from_dict({**payload, **extra}).to_dict(), status=202, headers=headers)


def _accepted(status: df.DurableOrchestrationStatus) -> bool:
    return bool(status.custom_status) or status.runtime_status not in (None, OrchestrationRuntimeStatus.Pending)


async def _wait_accepted(client: df.DurableOrchestrationClient, instance_id: str) -> None:
    """Wait (bounded, reading the status on the waits' schedule) until the turn holds its place in the chat's queue."""
    await wait_for_instance(client, instance_id, ACCEPT_WAIT_SECONDS, until=_accepted)


async def post_message(
    req: RequestView, client: df.DurableOrchestrationClient, chat_id: str, chat_exists: bool
) -> Response:
    """POST: run one turn; 200 with the reply if done within the wait, else 202 with status URLs (the turn's trace
    starts here: its spans are children of this request's)."""
    with telemetry.start_span_from(
        "POST /api/chats/{chatId}", attributes={"http.request.method": "POST", "chat.id": chat_id}
    ) as span:
        response = await _post_message(req, client, chat_id, chat_exists)
        span.set_attribute("http.response.status_code", response.status_code)
        return response


async def _post_message(
    req: RequestView, client: df.DurableOrchestrationClient, chat_id: str, chat_exists: bool
) -> Response:
    body = json_body(req, required=False)
    message = required_text(body["message"] if "message" in body else req.params.get("message"), "message")
    timeout = parse_timeout(req)
    key = parse_idempotency_key(req)
    if not chat_exists:
        raise HttpError(404, f"chat {chat_id!r} does not exist; create it with PUT first")
    settings = assistant_settings()
    # A turn is live (its events in the log as they happen) when its request streams it or will follow it (it does
    # not wait: `timeoutSeconds=0`); any other turn writes none unless a reader comes (`live_on_watch`).
    live = settings.turn_events and (wants_sse(req) or timeout == 0)
    turn = TurnInput(
        chat_id=chat_id,
        message=message,
        request_hash=request_hash(chat_id, message),
        max_tool_rounds=settings.max_tool_rounds,
        working_messages=settings.working_messages,
        max_tool_calls=settings.max_tool_calls,
        model_attempts=settings.model_attempts,
        model_retry_seconds=settings.model_retry_seconds,
        queue_check_seconds=settings.queue_check_seconds,
        events=live,
        live_on_watch=settings.turn_events and not live,
        traceparent=telemetry.inject(),
        summary=settings.summary,
    )
    instance_id = turn_instance_id(chat_id, key)
    existing = await _start_once(client, instance_id, turn, keyed=key is not None)
    if wants_sse(req):
        if not settings.turn_events:
            raise HttpError(406, "this app publishes no turn events (CHAT_TURN_EVENTS=off); ask for JSON or text")
        if existing is not None:  # a repeat of the key streams a turn a plain request may have started
            await ask_live(client, existing)
        return sse_response(client, req, chat_id, instance_id)
    try:
        status = await wait_for_instance(
            client, instance_id, timeout, until=lambda s: _requires_action(s) or early_output(s) is not None
        )
    except InstanceGone:
        # Deleting the chat purged the turn after it ended without writing anything.
        raise HttpError(409, _GONE.format(chat_id=chat_id), instanceId=instance_id) from None
    extra = {"eventsUrl": events_url(req, chat_id, instance_id)} if settings.turn_events else {}
    early = early_output(status) if status is not None else None
    if status is not None and status.runtime_status not in FINISHED and early is None:
        # The turn waits for a person: say what to decide, and where.
        action = dict(status.custom_status["requiresAction"])
        action["approvalsUrl"] = approvals_url(req, chat_id, instance_id)
        return check_status_response(client, req, instance_id, status="requires_action", requiresAction=action, **extra)
    if status is None:
        await _wait_accepted(client, instance_id)
        return check_status_response(client, req, instance_id, status="running", **extra)
    if early is None and status.runtime_status != OrchestrationRuntimeStatus.Completed:
        log.error("turn %s of chat %s ended %s: %s", instance_id, chat_id, status.runtime_status, status.output)
        raise turn_failure(instance_id, status.output, keyed=key is not None)
    if early is not None:  # the reply is in the chat; the turn goes on writing the summary
        output = early
    else:
        output = status.output if isinstance(status.output, dict) else json.loads(status.output)
    if output.get("requestHash", turn.request_hash) != turn.request_hash:
        # Another request with this key replaced the finished turn (Durable overwrites a finished instance).
        raise HttpError(
            409, "the turn of this Idempotency-Key was replaced by a different request", instanceId=instance_id
        )
    if status.created_time and status.last_updated_time:
        _turn_duration().record((status.last_updated_time - status.created_time).total_seconds())
    if output.get("cancelled"):
        raise HttpError(409, "the turn was cancelled; nothing of it was written to the chat", instanceId=instance_id)
    if not output.get("found", True):
        raise HttpError(409, _GONE.format(chat_id=chat_id), instanceId=instance_id)
    if wants_json(req):
        reply = TurnReply(
            chat_id, output["reply"], [MessageView.from_dict(m) for m in output["recentMessages"]], instance_id
        )
        return json_response(reply.to_dict())
    return text_response(output["reply"])
