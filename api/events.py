"""A turn's live events: `GET /api/chats/{chatId}/turns/{turnId}/events` (SSE or JSON), and the stream a POST returns.

Every reader of a turn in this process reads from the turn's one feed (`api/feed.py`): events written here arrive
without a read of storage; events written elsewhere are read within the feed's budget (at most 3 storage reads a
second per turn, however many readers). The log's last event, `turn.completed` / `turn.failed` / `turn.cancelled`,
is written by the first feed that finds the turn finished without one, from the orchestration's output (an insert
at the next sequence number: of two readers racing, one writes it and both send the same event), so the turn needs
no extra work item to end its log, and every reader, early or late, sees the same events in the same order. A
comment line every 15 s keeps an idle stream open. When the log's table cannot be read, a stream says so with an
`error` event (`live_log_unavailable`, and the turn's status URL, which has its outcome) and ends; the turn goes on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus
from azurefunctions.extensions.http.fastapi import Request, Response, StreamingResponse

from api.errors import HttpError, json_errors, json_response
from api.feed import LogUnavailable, TurnFeed, feed_for, follow, known_end
from api.http import RequestView, empty_response, read_request
from api.inputs import parse_chat_id, seconds_param, whole_number
from api.lookup import check_chat_turn
from api.models import Error, TurnEventBody
from api.spec import ERROR, Param, Reply, operation, path_param
from api.waiting import early_output, replied
from assistant.events import (
    TURN_CANCELLED,
    TURN_COMPLETED,
    TURN_FAILED,
    EventDraft,
    sse_comment,
    sse_frame,
)
from assistant.failures import TurnFailure
from storage.event_log import log_end

__all__ = ["LIVE_LOG_UNAVAILABLE", "approvals_url", "bp", "events_url", "sse_response", "turn_feed", "wants_sse"]

bp = df.Blueprint()
path_param("turnId", "The turn's id (`instanceId` of its POST's answer).", {"type": "string", "maxLength": 200})

LIVE_LOG_UNAVAILABLE = "live_log_unavailable"
"""The `code` of the error a stream ends with when the turn's event log cannot be read."""
MAX_WAIT_SECONDS = 60.0
DEFAULT_WAIT_SECONDS = 25.0


def wants_sse(req: RequestView) -> bool:
    """Whether the `Accept` header asks for `text/event-stream`."""
    return "text/event-stream" in (req.headers.get("Accept") or "").lower()


def events_url(req: RequestView, chat_id: str, turn_id: str) -> str:
    """The turn's events URL on the origin and route prefix the request came in on."""
    url = req.url.split("?", 1)[0]
    for marker in ("/chats/", "/assistants/"):
        if marker in url:
            return f"{url.split(marker, 1)[0]}/chats/{chat_id}/turns/{turn_id}/events"
    return f"/api/chats/{chat_id}/turns/{turn_id}/events"


def approvals_url(req: RequestView, chat_id: str, turn_id: str) -> str:
    """Where a turn's approvals are decided (`POST`)."""
    return events_url(req, chat_id, turn_id).rsplit("/", 1)[0] + "/approvals"


def _output(status: df.DurableOrchestrationStatus) -> Any:
    early = early_output(status)
    if early is not None:
        return early
    output = status.output
    if isinstance(output, str):
        try:
            return json.loads(output)
        except json.JSONDecodeError:
            return output
    return output


def terminal_event(status: df.DurableOrchestrationStatus) -> EventDraft:
    """The `turn.completed` or `turn.failed` a finished turn's log ends with."""
    output = _output(status)
    completed = status.runtime_status == OrchestrationRuntimeStatus.Completed or early_output(status) is not None
    if completed and isinstance(output, dict):
        if output.get("cancelled"):
            return EventDraft(TURN_CANCELLED)
        if output.get("found", True):
            return EventDraft(
                TURN_COMPLETED,
                {
                    "reply": output.get("reply", ""),
                    "usage": output.get("usage") or {},
                    "recentMessages": output.get("recentMessages") or [],
                },
            )
        return EventDraft(
            TURN_FAILED,
            {
                "error": "the chat was reset or deleted before the turn finished; nothing was written",
                "retryable": False,
                "recorded": False,
            },
        )
    if status.runtime_status == OrchestrationRuntimeStatus.Failed:
        failure = TurnFailure.decode(output) or TurnFailure("the turn failed", retryable=True, recorded=False)
        return EventDraft(
            TURN_FAILED, {"error": failure.reason, "retryable": failure.retryable, "recorded": failure.recorded}
        )
    return EventDraft(
        TURN_FAILED,
        {"error": f"the turn was {str(status.runtime_status.value).lower()}", "retryable": True, "recorded": False},
    )


async def _ended(client: df.DurableOrchestrationClient, turn_id: str) -> EventDraft | None:
    """The turn's last event when it has ended (or replied: its summary comes after), else None."""
    status = await client.get_status(turn_id)
    if not status:
        return EventDraft(
            TURN_FAILED,
            {"error": "the turn no longer exists (its history was purged)", "retryable": False, "recorded": False},
        )
    return terminal_event(status) if replied(status) else None


def turn_feed(client: df.DurableOrchestrationClient, chat_id: str, turn_id: str) -> TurnFeed:
    """This process's feed of the turn's events."""
    return feed_for(client, chat_id, turn_id, _ended)


def _unavailable(failure: LogUnavailable, status_url: str) -> dict[str, Any]:
    return {
        "code": LIVE_LOG_UNAVAILABLE,
        "error": f"the turn's live events cannot be read now ({failure.reason}); the turn goes on: its outcome is at "
        "statusQueryGetUri, and its events can be read again once the log is back",
        "statusQueryGetUri": status_url,
    }


async def _sse(feed: TurnFeed, after: int, status_url: str) -> AsyncIterator[bytes]:
    async for item in follow(feed, after):
        if item is None:
            yield sse_comment()
        elif isinstance(item, LogUnavailable):
            yield f"event: error\ndata: {json.dumps(_unavailable(item, status_url))}\n\n".encode()
        else:
            yield sse_frame(item)


def sse_response(
    client: df.DurableOrchestrationClient, view: RequestView, chat_id: str, turn_id: str, after: int = 0
) -> Response:
    """The turn's events as `text/event-stream`, from after `after` to the terminal event (or an `error` event)."""
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Turn-Id": turn_id}
    status_url = client.get_client_response_links(view, turn_id)["statusQueryGetUri"]
    stream = _sse(turn_feed(client, chat_id, turn_id), after, status_url)
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


def _after(view: RequestView) -> int:
    raw = view.headers.get("Last-Event-ID") or view.params.get("after") or "0"
    return whole_number(raw, "Last-Event-ID / after (a sequence number)")


def _wait(view: RequestView) -> float:
    return seconds_param(view, "waitSeconds", DEFAULT_WAIT_SECONDS, MAX_WAIT_SECONDS)


@bp.function_name(name="turn_events")
@bp.route(route="chats/{chatId}/turns/{turnId}/events", methods=["GET"])
@bp.durable_client_input(client_name="client")
@json_errors
@operation(
    "GET",
    "/chats/{chatId}/turns/{turnId}/events",
    operation_id="getTurnEvents",
    tags=("Chat",),
    summary="A turn's events: live over SSE (resumable), or a JSON long poll.",
    params=(
        Param(
            "Last-Event-ID",
            "header",
            "Resume after this sequence number.",
            {"type": "string", "pattern": "^[0-9]{1,18}$"},
        ),
        Param(
            "after",
            "query",
            "Resume after this sequence number (when Last-Event-ID is not sent).",
            {"type": "integer", "minimum": 0, "maximum": 999999999999999999},
        ),
        Param(
            "waitSeconds",
            "query",
            "JSON only: wait up to this long for at least one event (default 25, at most 60).",
            {"type": "number", "minimum": 0, "maximum": 60},
        ),
    ),
    replies={
        200: Reply(
            "SSE by default: every event after the given one, live, to the turn's last (turn.completed, "
            "turn.failed or turn.cancelled); a comment line every 15 s while idle. With `Accept: "
            "application/json`: the events after the given one as an array (waiting for at least one).",
            json=list[TurnEventBody],
            sse="The turn's events, each `id:`, `event:`, `data:`.",
        ),
        204: Reply(
            "The turn is over and the client has all of its events (`Last-Event-ID` / `after` is its "
            "terminal event's): nothing more will come; EventSource stops reconnecting on a 204."
        ),
        400: ERROR,
        404: ERROR,
        500: ERROR,
        503: Reply(
            "The turn's live event log cannot be read just now (JSON long poll; `Retry-After` says when to ask "
            "again; the turn itself goes on: its status URL has the outcome). SSE says the same as its last "
            "event, `event: error` with code `live_log_unavailable`.",
            json=Error,
        ),
    },
)
async def turn_events(req: Request, client: df.DurableOrchestrationClient) -> Response:
    """The turn's events: SSE by default (resume with `Last-Event-ID` or `?after=`), a JSON array with
    `Accept: application/json` (long poll: waits up to `?waitSeconds=` for at least one new event)."""
    view = await read_request(req)
    chat_id = parse_chat_id(view.route_params.get("chatId"))
    turn_id = view.route_params.get("turnId") or ""
    after = _after(view)
    await check_chat_turn(client, chat_id, turn_id)
    if after:
        known = known_end(turn_id)
        if known is None or after > known[0]:
            end = await asyncio.to_thread(log_end, turn_id)
            known = (end.last, end.terminal)
        last, terminal = known
        if terminal is not None and after == terminal:
            return empty_response(204)  # the turn is over and the client has all of it: EventSource stops here
        if after > (terminal if terminal is not None else last):
            raise HttpError(
                400,
                f"Last-Event-ID / after is {after}, beyond the turn's last event "
                f"({terminal if terminal is not None else last}); resume from an id this turn sent",
            )
    if "application/json" in (view.headers.get("Accept") or "").lower() and not wants_sse(view):
        wait = _wait(view)
        events: list[dict[str, Any]] = []
        async for item in follow(turn_feed(client, chat_id, turn_id), after, wait):
            if isinstance(item, LogUnavailable):
                status_url = client.get_client_response_links(view, turn_id)["statusQueryGetUri"]
                body = _unavailable(item, status_url)
                raise HttpError(
                    503,
                    body["error"],
                    headers={"Retry-After": "5"},
                    code=body["code"],
                    statusQueryGetUri=body["statusQueryGetUri"],
                )
            if item is not None:
                events.append(item.to_dict())
        return json_response(events)
    return sse_response(client, view, chat_id, turn_id, after)
