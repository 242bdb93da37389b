"""The shipped skills: AddTodo, GetTodos, CompleteTodo and DeleteTodo (which a person must approve), on the todo
table of `storage.todos`.

The chat id is the partition key, so one chat never sees another's todos; the todo's id is derived from the
call's idempotency key (unique to the turn's run and the call, the same when the activity runs again), so
re-running a call after a crash adds the todo once, and two calls that happen to share the model's call id still
add two todos. Completing and deleting record the key of the call that did it (a deleted todo stays as a
tombstone, left out of every list), so a re-run of that call answers what it answered the first time, and another
call on a todo already deleted is told so. A todo added while the chat is reset is undone (`storage.fences`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from assistant.messages import format_utc
from assistant.views import TodoView
from skills.registry import SkillContext, SkillError, registry
from storage.fences import fence_holds
from storage.todos import Todo, TodoChange, TodoMissing, change_todo, insert_todo, list_todos, remove_todo
from storage.todos import forget_todos as _forget_todos

__all__ = ["add_todo", "complete_todo", "delete_todo", "forget_todos", "get_todos", "todo_id"]


def todo_id(idempotency_key: str) -> str:
    """The id of the todo a call adds: the same for every run of that call, short and safe as a row key."""
    return "todo-" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:16]


@registry.skill(
    name="AddTodo",
    description="Create a new todo task",
    parameters={
        "type": "object",
        "properties": {
            "taskDescription": {
                "type": "string",
                "minLength": 1,
                "maxLength": 1000,
                "description": "The description of the todo task",
            }
        },
        "required": ["taskDescription"],
        "additionalProperties": False,
    },
)
def add_todo(context: SkillContext, taskDescription: str) -> dict[str, Any]:
    """Add a todo to the chat (once per idempotency key)."""
    task = taskDescription.strip()
    if not task:
        raise SkillError("taskDescription is empty; ask the user what the task is")
    todo = todo_id(context.idempotency_key or context.tool_call_id)
    insert_todo(context.chat_id, todo, task, format_utc(datetime.now(UTC)))  # a re-run finds it there: added once
    if not fence_holds(context.chat_id, context.generation):
        # The chat was reset (or deleted) while this call ran: its fresh self must not hold the old turn's todo.
        remove_todo(context.chat_id, todo)
        raise SkillError("the chat was reset while this call ran; the todo was not kept")
    return {"added": True, "id": todo, "taskDescription": task}


@registry.skill(
    name="GetTodos",
    description="Fetch the list of previously created todo tasks",
    parameters={"type": "object", "properties": {}, "additionalProperties": False},
)
def get_todos(context: SkillContext) -> list[dict[str, Any]]:
    """Every todo of the chat, oldest first."""
    return [TodoView(t.id, t.task_description, t.done, t.created_at).to_dict() for t in list_todos(context.chat_id)]


_TODO_ID = {
    "type": "object",
    "properties": {
        "todoId": {"type": "string", "minLength": 1, "maxLength": 100, "description": "The todo's id (from GetTodos)"}
    },
    "required": ["todoId"],
    "additionalProperties": False,
}


def _change(chat_id: str, todo: str, decide: Callable[[Todo], TodoChange | None]) -> Todo:
    try:
        return change_todo(chat_id, todo, decide)
    except TodoMissing:
        raise SkillError(f"there is no todo with id {todo!r}; call GetTodos for the ids") from None


@registry.skill(name="CompleteTodo", description="Mark a todo task as done", parameters=_TODO_ID)
def complete_todo(context: SkillContext, todoId: str) -> dict[str, Any]:
    """Mark the todo done (a repeat of the call answers the same)."""

    def decide(todo: Todo) -> TodoChange | None:
        if todo.deleted_by:
            raise SkillError(f"the todo {todoId!r} was deleted")
        return None if todo.done else TodoChange(done=True, completed_by=context.idempotency_key)

    todo = _change(context.chat_id, todoId, decide)
    return {"completed": True, "id": todoId, "taskDescription": todo.task_description}


@registry.skill(
    name="DeleteTodo",
    description="Delete a todo task (the user is asked to approve it first)",
    parameters=_TODO_ID,
    approval=True,
)
def delete_todo(context: SkillContext, todoId: str) -> dict[str, Any]:
    """Delete the todo once: it stays as a tombstone naming the call that deleted it."""

    def decide(todo: Todo) -> TodoChange | None:
        if todo.deleted_by and todo.deleted_by != context.idempotency_key:
            raise SkillError(f"the todo {todoId!r} was already deleted")
        return None if todo.deleted_by else TodoChange(deleted_by=context.idempotency_key)

    todo = _change(context.chat_id, todoId, decide)
    return {"deleted": True, "id": todoId, "taskDescription": todo.task_description}


@registry.on_forget_chat
def forget_todos(chat_id: str) -> None:
    """Delete every todo of a deleted (or reset) chat."""
    _forget_todos(chat_id)
