"""What a person does to a running turn: decide its pending tool calls, or cancel it.

`POST /api/chats/{chatId}/turns/{turnId}/approvals` with `{"decisions": [{"toolCallId", "approve", "reason"?}]}`
and `POST /api/chats/{chatId}/turns/{turnId}/cancel`, both 202. Each goes through `chat_admin`, so the
chat entity takes it (or refuses it, with a 409 saying why) before the API answers, and then raises
the turn's external event, which wakes it at once. The entity is the one truth: the event is only a
wake-up, and the same decision sent again (a client that lost the answer) is accepted and wakes the
turn again.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
from azurefunctions.extensions.http.fastapi import Request, Response

from api.chats import _run_admin
from api.errors import HttpError, json_errors, json_response
from api.events import events_url
from api.http import read_request
from api.inputs import json_body, parse_chat_id
from api.lookup import chat_turn
from api.models import CancelAccepted, Decisions, DecisionsAccepted
from api.spec import ERROR, Reply, operation
from api.waiting import FINISHED
from assistant.approvals import DecisionError, parse_decisions
from orchestrators.chat_admin import ChatAdminInput
from orchestrators.post_user_query import APPROVAL_EVENT, CANCEL_EVENT

__all__ = ["bp"]

log = logging.getLogger(__name__)

bp = df.Blueprint()


async def _unfinished_turn(client: df.DurableOrchestrationClient, chat_id: str, turn_id: str, finished: str) -> None:
    """404 when the chat has no such turn; 409 (`finished` says why) when it has finished."""
    status = await chat_turn(client, chat_id, turn_id)
    if status.runtime_status in FINISHED:
        raise HttpError(409, f"turn {turn_id!r} has finished; {finished}")


async def _raise(client: df.DurableOrchestrationClient, turn_id: str, event: str) -> None:
    try:
        await client.raise_event(turn_id, event, None)
    except Exception as error:
        log.info("could not raise %s on turn %s: %s", event, turn_id, error)


@bp.function_name(name="turn_approvals")
@bp.route(route="chats/{chatId}/turns/{turnId}/approvals", methods=["POST"])
@bp.durable_client_input(client_name="client")
@json_errors
@operation(
    "POST",
    "/chats/{chatId}/turns/{turnId}/approvals",
    operation_id="decideApprovals",
    tags=("Chat",),
    summary="Approve or deny the turn's calls waiting for a person (the approved run once; a denied call's "
    "result tells the model, with the reason).",
    body=Decisions,
    body_required=True,
    replies={
        202: Reply("Recorded; the turn goes on.", json=DecisionsAccepted),
        400: ERROR,
        404: ERROR,
        409: ERROR,
        413: ERROR,
        500: ERROR,
        504: ERROR,
    },
)
async def turn_approvals(req: Request, client: df.DurableOrchestrationClient) -> Response:
    """202 once the decisions are recorded; 404 unknown turn; 409 not waiting, unknown call or decided otherwise."""
    view = await read_request(req)
    chat_id = parse_chat_id(view.route_params.get("chatId"))
    turn_id = view.route_params.get("turnId") or ""
    body = json_body(view, required=True)
    try:
        parse_decisions(body)
    except DecisionError as error:
        raise HttpError(error.status, error.message) from None
    await _unfinished_turn(client, chat_id, turn_id, "there is nothing to decide")
    result = await _run_admin(
        client, ChatAdminInput(chat_id=chat_id, action="decide", options={"turnId": turn_id, **body})
    )
    if not (result or {}).get("ok"):
        raise HttpError(int((result or {}).get("status") or 409), str((result or {}).get("error") or "not accepted"))
    await _raise(client, turn_id, APPROVAL_EVENT)
    return json_response(
        DecisionsAccepted(turn_id, "accepted", events_url(view, chat_id, turn_id)).to_dict(), status=202
    )


@bp.function_name(name="turn_cancel")
@bp.route(route="chats/{chatId}/turns/{turnId}/cancel", methods=["POST"])
@bp.durable_client_input(client_name="client")
@json_errors
@operation(
    "POST",
    "/chats/{chatId}/turns/{turnId}/cancel",
    operation_id="cancelTurn",
    tags=("Chat",),
    summary="Cancel a queued, running or waiting turn: nothing of it is written; a tool already running "
    "finishes and its effect stays.",
    replies={
        202: Reply("Cancelling (`was`: queued, running or pending).", json=CancelAccepted),
        400: ERROR,
        404: ERROR,
        409: ERROR,
        500: ERROR,
        504: ERROR,
    },
)
async def turn_cancel(req: Request, client: df.DurableOrchestrationClient) -> Response:
    """202: a queued turn leaves the queue, a running or waiting one stops at its next step; 409 when finished."""
    view = await read_request(req)
    chat_id = parse_chat_id(view.route_params.get("chatId"))
    turn_id = view.route_params.get("turnId") or ""
    await _unfinished_turn(client, chat_id, turn_id, "it cannot be cancelled")
    result = await _run_admin(
        client, ChatAdminInput(chat_id=chat_id, action="cancel", options={"turnId": turn_id, "known": True})
    )
    where = str((result or {}).get("state"))
    if where == "finished":
        raise HttpError(409, f"turn {turn_id!r} has finished; it cannot be cancelled")
    await _raise(client, turn_id, CANCEL_EVENT)
    return json_response(CancelAccepted(turn_id, "cancelling", where).to_dict(), status=202)
