"""`GET /api/skills`: every skill the assistant can offer, with its parameters and approval policy;
`GET /api/chats/{chatId}/todos`: the chat's todos (for the page's side panel)."""

from __future__ import annotations

import asyncio

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from api.errors import json_errors, json_response
from api.inputs import parse_chat_id
from api.models import SkillBody, TodoView
from api.spec import ERROR, Reply, operation
from skills import registry
from storage.todos import list_todos

__all__ = ["bp"]

bp = func.Blueprint()


@bp.function_name(name="skills")
@bp.route(route="skills", methods=["GET"])
@operation(
    "GET",
    "/skills",
    operation_id="listSkills",
    tags=("Chat",),
    summary="Every skill: description, parameters schema, approval policy.",
    replies={200: Reply("The skills.", json=list[SkillBody])},
)
async def skills(req: Request) -> Response:
    """200: `[{"name", "description", "parameters", "approval": "never" | "always" | "conditional"}]`."""
    return json_response([SkillBody.from_dict(skill.describe()).to_dict() for skill in registry.skills()])


@bp.function_name(name="chat_todos")
@bp.route(route="chats/{chatId}/todos", methods=["GET"])
@json_errors
@operation(
    "GET",
    "/chats/{chatId}/todos",
    operation_id="listTodos",
    tags=("Chat",),
    summary="The chat's todos (the todo skills' data), oldest first.",
    replies={200: Reply("The todos.", json=list[TodoView]), 400: ERROR, 500: ERROR},
)
async def chat_todos(req: Request) -> Response:
    """200: the chat's todos, oldest first (`id`, `taskDescription`, `done`, `createdAt`)."""
    chat_id = parse_chat_id(str(req.path_params.get("chatId") or ""))
    todos = await asyncio.to_thread(list_todos, chat_id)
    return json_response([TodoView(t.id, t.task_description, t.done, t.created_at).to_dict() for t in todos])
