"""The chat routes: `/api/chats/{chatId}` and, for the extension samples' clients, `/api/assistants/{assistantId}`.

PUT creates or resets (waiting until the entity has applied it; turns still queued are cancelled),
POST runs one turn and waits a bounded time for it (`api/turns.py`), GET reads the chat, DELETE removes the chat, its
skills' data and its turns'
orchestration histories.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus
from azurefunctions.extensions.http.fastapi import Request, Response

from api.errors import HttpError, json_errors, json_response
from api.events import approvals_url, events_url
from api.http import RequestView, empty_response, read_request
from api.inputs import json_body, parse_chat_id, parse_timestamp
from api.models import AssistantState, ChatView, CreateChat, PatchChat, PostMessage
from api.spec import ERROR, Param, Reply, operation, path_param
from api.turns import MESSAGE_PARAMS, TURN_REPLIES, post_message
from api.waiting import wait_for_instance
from assistant.ids import admin_instance_id, expiry_instance_id
from assistant.state import ChatState, view_chat
from assistant.views import RequiresAction, TurnRef
from entities.chat import chat_entity_id
from orchestrators.chat_admin import CHAT_ADMIN, ChatAdminInput
from orchestrators.chat_expiry import CHAT_EXPIRY, TTL_CHANGED_EVENT
from skills import registry
from storage.archive import read_archive
from storage.event_log import forget_chat_events

__all__ = ["bp", "handle_chat"]

log = logging.getLogger(__name__)

ADMIN_TIMEOUT_SECONDS = 30.0

bp = df.Blueprint()
F = TypeVar("F", bound=Callable[..., Any])


async def _stored_chat(client: df.DurableOrchestrationClient, chat_id: str) -> dict[str, Any] | None:
    """The chat entity's stored state (its dict form), or None if it does not exist."""
    response = await client.read_entity_state(chat_entity_id(chat_id))
    if not response.entity_exists:
        return None
    state = response.entity_state
    if isinstance(state, (str, bytes)):
        state = json.loads(state)
    return state or None


async def read_chat(client: df.DurableOrchestrationClient, chat_id: str) -> ChatState | None:
    """The chat's state, or None if it does not exist."""
    state = await _stored_chat(client, chat_id)
    return ChatState.from_dict(state) if state else None


async def chat_exists(client: df.DurableOrchestrationClient, chat_id: str) -> bool:
    """Whether the chat exists, without parsing its messages (~0.4 ms per POST for a full 64-message window)."""
    return await _stored_chat(client, chat_id) is not None


async def _run_admin(client: df.DurableOrchestrationClient, request: ChatAdminInput) -> Any:
    """Run `chat_admin` to completion and purge it; its output."""
    instance_id = await client.start_new(CHAT_ADMIN, admin_instance_id(request.chat_id), request.to_dict())
    status = await wait_for_instance(client, instance_id, ADMIN_TIMEOUT_SECONDS)
    if status is None:
        raise HttpError(504, f"the chat {request.action} did not finish in time; try again", instanceId=instance_id)
    if status.runtime_status != OrchestrationRuntimeStatus.Completed:
        log.error("chat %s of %s ended %s: %s", request.action, request.chat_id, status.runtime_status, status.output)
        raise HttpError(500, f"the chat {request.action} failed", instanceId=instance_id)
    await client.purge_instance_history(instance_id)
    return status.output


async def _arm_expiry(client: df.DurableOrchestrationClient, chat_id: str) -> None:
    """Start the chat's expiry orchestration, or wake the running one so it reads the new TTL."""
    instance_id = expiry_instance_id(chat_id)
    status = await client.get_status(instance_id)
    if status and status.runtime_status in (OrchestrationRuntimeStatus.Running, OrchestrationRuntimeStatus.Pending):
        await client.raise_event(instance_id, TTL_CHANGED_EVENT, None)
        return
    await client.start_new(CHAT_EXPIRY, instance_id, {"chatId": chat_id})


async def create_chat(req: RequestView, client: df.DurableOrchestrationClient, chat_id: str, id_field: str) -> Response:
    """PUT: create or reset to a fresh chat (its skills' data too); answers once the entity holds the fresh chat."""
    body = CreateChat.from_dict(json_body(req, required=False))
    options = {"skills": body.skills, "approvalTimeoutSeconds": body.approval_timeout_seconds}
    await _run_admin(
        client,
        ChatAdminInput(
            chat_id=chat_id,
            action="create",
            instructions=body.instructions or None,
            ttl_seconds=body.ttl_seconds,
            options={k: v for k, v in options.items() if v is not None},
        ),
    )
    if body.ttl_seconds is not None:
        await _arm_expiry(client, chat_id)
    return json_response({id_field: chat_id}, status=202)


async def patch_chat(req: RequestView, client: df.DurableOrchestrationClient, chat_id: str, id_field: str) -> Response:
    """PATCH: change instructions, skills or the approval timeout from the next turn on; the history stays."""
    raw = json_body(req, required=True)
    body = PatchChat.from_dict(raw)
    options: dict[str, Any] = {}
    if "instructions" in raw:
        options["instructions"] = body.instructions or ""
    if "skills" in raw:
        options.update({"skills": body.skills} if body.skills is not None else {"allSkills": True})
    if "approvalTimeoutSeconds" in raw:
        options["approvalTimeoutSeconds"] = body.approval_timeout_seconds
    result = await _run_admin(client, ChatAdminInput(chat_id=chat_id, action="patch", options=options))
    if not (result or {}).get("found"):
        raise HttpError(404, f"chat {chat_id!r} does not exist; create it with PUT first")
    return await get_chat(req, client, chat_id, id_field)


def extension_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`recentMessages` in the Functions OpenAI extension's shape: `toolCalls` as a JSON string (its
    `AssistantState` gives a string, and its clients read it as one)."""
    return [{**m, "toolCalls": json.dumps(m.get("toolCalls") or [], ensure_ascii=False)} for m in messages]


async def get_chat(
    req: RequestView, client: df.DurableOrchestrationClient, chat_id: str, id_field: str = "chatId"
) -> Response:
    """GET: the chat's state and its messages after `timestampUTC` (the archive's, then the entity's window),
    and the turns running or queued with their events URLs; under `/api/assistants` in the extension's shape."""
    after = parse_timestamp(req)
    chat = await read_chat(client, chat_id)
    archived = (
        await asyncio.to_thread(read_archive, chat_id, chat.archived_count, after)
        if chat and chat.archived_count
        else ()
    )
    view = view_chat(chat_id, chat, after, archived)
    if chat is not None:
        pending = chat.pending_approval
        view = replace(
            view,
            turns=tuple(
                TurnRef(turn_id, "running" if index == 0 else "queued", events_url(req, chat_id, turn_id))
                for index, turn_id in enumerate(chat.queue)
            ),
            skills=chat.skills if chat.skills is not None else tuple(sorted(registry.names())),
            requires_action=RequiresAction.of(pending, approvals_url(req, chat_id, pending.turn_id))
            if pending
            else None,
        )
    body = view.to_dict()
    if id_field == "assistantId":
        body["recentMessages"] = extension_messages(body["recentMessages"])
    return json_response(body)


async def delete_chat(client: df.DurableOrchestrationClient, chat_id: str) -> Response:
    """DELETE: state, skills' data and the turns' orchestration histories; 204."""
    result = await _run_admin(client, ChatAdminInput(chat_id=chat_id, action="delete"))
    await asyncio.to_thread(forget_chat_events, chat_id)
    turn_ids = (result or {}).get("turnIds") or []
    purged = await asyncio.gather(*(client.purge_instance_history(t) for t in turn_ids), return_exceptions=True)
    for turn_id, outcome in zip(turn_ids, purged):
        if isinstance(outcome, Exception):
            # A turn still running (queued when the chat was deleted) ends by itself, writing nothing.
            log.info("turn %s of deleted chat %s not purged: %s", turn_id, chat_id, outcome)
    return empty_response(204)


async def handle_chat(req: RequestView, client: df.DurableOrchestrationClient, chat_id: str, id_field: str) -> Response:
    """Dispatch one request on a chat resource by method."""
    if req.method == "PUT":
        return await create_chat(req, client, chat_id, id_field)
    if req.method == "POST":
        return await post_message(req, client, chat_id, await chat_exists(client, chat_id))
    if req.method == "GET":
        return await get_chat(req, client, chat_id, id_field)
    if req.method == "DELETE":
        return await delete_chat(client, chat_id)
    if req.method == "PATCH":
        return await patch_chat(req, client, chat_id, id_field)
    raise HttpError(405, f"method {req.method} is not allowed")


CHAT_ID_PATTERN = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.~:-]{0,127}$"}
path_param(
    "chatId",
    "The chat id: 1-128 letters, digits, '_', '-', '.', '~' or ':', starting with a letter or digit.",
    CHAT_ID_PATTERN,
)
path_param("assistantId", "The chat id (the Functions OpenAI extension's name for it).", CHAT_ID_PATTERN)


def _chat_operations(path: str, suffix: str, view: type, id_field: str) -> Callable[[F], F]:
    """The five methods of a chat route, declared (`/chats/{chatId}`, or the extension's `/assistants/...`)."""
    timestamp = Param(
        "timestampUTC",
        "query",
        "Only messages created strictly after this moment (RFC 3339 / ISO-8601; without an offset it is UTC).",
        {"type": "string", "format": "date-time"},
    )
    declarations = [
        operation(
            "PUT",
            path,
            operation_id=f"create{suffix}",
            tags=("Chat",),
            body=CreateChat,
            summary="Create a chat, or reset an existing one to a fresh chat: its messages, turns and its skills' "
            "data (its todos) go, as with DELETE. PATCH changes a chat and keeps everything.",
            replies={
                202: Reply(
                    "Created or reset; a GET or POST sent after this answer sees the new chat.",
                    json={"type": "object", "required": [id_field], "properties": {id_field: {"type": "string"}}},
                ),
                400: ERROR,
                413: ERROR,
                500: ERROR,
                504: ERROR,
            },
        ),
        operation(
            "POST",
            path,
            operation_id=f"post{suffix}Message",
            tags=("Chat",),
            body=PostMessage,
            summary="Send a message: runs one turn and waits a bounded time for the reply.",
            params=MESSAGE_PARAMS,
            replies=TURN_REPLIES,
        ),
        operation(
            "GET",
            path,
            operation_id=f"get{suffix}",
            tags=("Chat",),
            params=(timestamp,),
            summary="Read the chat and its messages.",
            replies={200: Reply("The chat (exists false when unknown).", json=view), 400: ERROR, 500: ERROR},
        ),
        operation(
            "DELETE",
            path,
            operation_id=f"delete{suffix}",
            tags=("Chat",),
            summary="Delete the chat's state, its todos and its turns' orchestration histories.",
            replies={204: Reply("Deleted (or did not exist)."), 400: ERROR, 500: ERROR, 504: ERROR},
        ),
        operation(
            "PATCH",
            path,
            operation_id=f"patch{suffix}",
            tags=("Chat",),
            body=PatchChat,
            body_required=True,
            summary="Change instructions, skills or the approval timeout from the next turn on; the history stays.",
            replies={
                200: Reply("The chat as GET shows it.", json=view),
                400: ERROR,
                404: ERROR,
                413: ERROR,
                500: ERROR,
                504: ERROR,
            },
        ),
    ]

    def declare(handler: F) -> F:
        for declaration in declarations:
            declaration(handler)
        return handler

    return declare


@bp.function_name(name="chats")
@bp.route(route="chats/{chatId}", methods=["GET", "PUT", "POST", "DELETE", "PATCH"])
@bp.durable_client_input(client_name="client")
@json_errors
@_chat_operations("/chats/{chatId}", "Chat", ChatView, "chatId")
async def chats(req: Request, client: df.DurableOrchestrationClient) -> Response:
    """`/api/chats/{chatId}`."""
    view = await read_request(req)
    return await handle_chat(view, client, parse_chat_id(view.route_params.get("chatId")), "chatId")


@bp.function_name(name="assistants")
@bp.route(route="assistants/{assistantId}", methods=["GET", "PUT", "POST", "DELETE", "PATCH"])
@bp.durable_client_input(client_name="client")
@json_errors
@_chat_operations("/assistants/{assistantId}", "Assistant", AssistantState, "assistantId")
async def assistants(req: Request, client: df.DurableOrchestrationClient) -> Response:
    """`/api/assistants/{assistantId}` (the extension samples' route)."""
    view = await read_request(req)
    chat_id = parse_chat_id(view.route_params.get("assistantId"), "assistantId")
    return await handle_chat(view, client, chat_id, "assistantId")
