"""A turn's live events: `GET /api/chats/{chatId}/turns/{turnId}/events` (SSE or JSON), and the stream a POST returns.

Readers follow the turn's log in Table storage (`storage/event_log/`): they read what is after
the last event they sent, and wait with a short, growing interval (5 ms to 50 ms, back to 5 ms after
each event) for more, or less when the writer is in this process and signals its write. The log's last event,
`turn.completed` or `turn.failed`, is written by the
first reader that finds the turn finished without one, from the orchestration's output (an insert
at the next sequence number: of two readers racing, one writes it and both send the same event).
The turn itself thus needs no extra work item to end its log, and every reader, early or late,
sees the same events in the same order: strictly by sequence number, waiting for one written late by a
parallel writer (`in_order`). A comment line every 15 s keeps an idle stream open.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus
from azurefunctions.extensions.http.fastapi import Request, Response, StreamingResponse

from api.errors import HttpError, json_errors, json_response
from api.http import RequestView, empty_response, read_request
from api.inputs import parse_chat_id, seconds_param, whole_number
from api.lookup import chat_turn
from api.models import TurnEventBody
from api.spec import ERROR, Param, Reply, operation, path_param
from api.waiting import early_output, replied
from assistant.events import (
    MESSAGE_COMPLETED,
    TERMINAL,
    TURN_CANCELLED,
    TURN_COMPLETED,
    TURN_FAILED,
    EventDraft,
    TurnEvent,
    sse_comment,
    sse_frame,
)
from assistant.failures import TurnFailure
from storage.event_log import append_events, log_end, read_events, signals, tail_sequence

__all__ = ["approvals_url", "bp", "events_url", "follow", "in_order", "sse_response", "wants_sse"]

bp = df.Blueprint()
path_param("turnId", "The turn's id (`instanceId` of its POST's answer).", {"type": "string", "maxLength": 200})

FIRST_POLL = 0.005
MAX_POLL = 0.025
STATUS_EVERY = 0.25
"""How often a reader with nothing new asks whether the turn has finished."""
KEEP_ALIVE_SECONDS = 15.0
GAP_SECONDS = 10.0
"""How long a reader waits for a missing event before it sends the ones after it (see `in_order`)."""
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


async def _finish_log(client: df.DurableOrchestrationClient, chat_id: str, turn_id: str) -> bool:
    """Write the terminal event when the turn has finished without one; whether the turn has finished."""
    status = await client.get_status(turn_id)
    if not status or not replied(status):
        return False
    draft = terminal_event(status)

    def write() -> None:
        events = read_events(turn_id, 0)
        if any(e.type in TERMINAL for e in events):
            return
        append_events(turn_id, chat_id, (events[-1].sequence if events else tail_sequence(turn_id)) + 1, [draft])

    await asyncio.to_thread(write)
    return True


async def follow(
    client: df.DurableOrchestrationClient, chat_id: str, turn_id: str, after: int, wait_seconds: float | None = None
) -> AsyncIterator[TurnEvent | None]:
    """The turn's events after `after`, as they come, until its terminal event; `None` every 15 s without one
    (a keep-alive). With `wait_seconds` it stops after that long once at least... nothing new came."""
    woken = signals.watch(turn_id)
    try:
        async for event in _follow(client, chat_id, turn_id, after, wait_seconds, woken):
            yield event
    finally:
        signals.unwatch(turn_id, woken)


async def _follow(
    client: df.DurableOrchestrationClient,
    chat_id: str,
    turn_id: str,
    after: int,
    wait_seconds: float | None,
    woken: asyncio.Event,
) -> AsyncIterator[TurnEvent | None]:
    interval = FIRST_POLL
    last_event = last_status = time.monotonic()
    started = last_event
    final_seen = False
    gap_since: float | None = None
    while True:
        woken.clear()
        read = await asyncio.to_thread(read_events, turn_id, after)
        now = time.monotonic()
        events, gap_since = in_order(read, after, gap_since, now)
        for event in events:
            yield event
            after = event.sequence
            if event.type in TERMINAL:
                return
            final_seen = event.type == MESSAGE_COMPLETED and not event.data.get("toolCalls")
        if read and not events:  # held back behind a gap: its event is being written; look again soon
            interval = FIRST_POLL
        elif events:
            interval, last_event = FIRST_POLL, now
            if wait_seconds is not None:
                return
        else:
            interval = min(interval * 1.5, MAX_POLL)
        if (final_seen or now - last_status >= STATUS_EVERY) and not events:
            last_status = now
            if await _finish_log(client, chat_id, turn_id):
                interval = 0.0
                continue
        if wait_seconds is not None and now - started >= wait_seconds:
            return
        if now - last_event >= KEEP_ALIVE_SECONDS:
            last_event = now
            yield None
        try:  # the next poll, or sooner when this process writes an event of the turn
            await asyncio.wait_for(woken.wait(), interval)
        except TimeoutError:
            pass


def in_order(
    events: list[TurnEvent], after: int, gap_since: float | None, now: float
) -> tuple[list[TurnEvent], float | None]:
    """The events to send now, and since when a gap holds the rest back (None: no gap).

    Writers run in parallel (two tool calls write their events from two activities), so the log can hold
    event 5 before event 4: a reader sends events strictly in sequence and waits for the missing one. Not
    forever: events are written best effort, so a gap still there after `GAP_SECONDS`, or once the turn's
    terminal event is there (nothing more is being written), is skipped.
    """
    done = any(e.type in TERMINAL for e in events)
    ready: list[TurnEvent] = []
    for event in events:
        if event.sequence > after + 1 and not done:
            gap_since = now if gap_since is None else gap_since
            if now - gap_since < GAP_SECONDS:
                return ready, gap_since
        ready.append(event)
        after, gap_since = event.sequence, None
    return ready, gap_since


async def _sse(client: df.DurableOrchestrationClient, chat_id: str, turn_id: str, after: int) -> AsyncIterator[bytes]:
    async for event in follow(client, chat_id, turn_id, after):
        yield sse_comment() if event is None else sse_frame(event)


def sse_response(client: df.DurableOrchestrationClient, chat_id: str, turn_id: str, after: int = 0) -> Response:
    """The turn's events as `text/event-stream`, from after `after` to the terminal event."""
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Turn-Id": turn_id}
    return StreamingResponse(_sse(client, chat_id, turn_id, after), media_type="text/event-stream", headers=headers)


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
    },
)
async def turn_events(req: Request, client: df.DurableOrchestrationClient) -> Response:
    """The turn's events: SSE by default (resume with `Last-Event-ID` or `?after=`), a JSON array with
    `Accept: application/json` (long poll: waits up to `?waitSeconds=` for at least one new event)."""
    view = await read_request(req)
    chat_id = parse_chat_id(view.route_params.get("chatId"))
    turn_id = view.route_params.get("turnId") or ""
    after = _after(view)
    await chat_turn(client, chat_id, turn_id)
    if after:
        end = await asyncio.to_thread(log_end, turn_id)
        if end.terminal is not None and after == end.terminal:
            return empty_response(204)  # the turn is over and the client has all of it: EventSource stops here
        if after > (end.terminal if end.terminal is not None else end.last):
            raise HttpError(
                400,
                f"Last-Event-ID / after is {after}, beyond the turn's last event "
                f"({end.terminal if end.terminal is not None else end.last}); resume from an id this turn sent",
            )
    if "application/json" in (view.headers.get("Accept") or "").lower() and not wants_sse(view):
        wait = _wait(view)
        events = [e.to_dict() async for e in follow(client, chat_id, turn_id, after, wait) if e is not None]
        return json_response(events)
    return sse_response(client, chat_id, turn_id, after)
