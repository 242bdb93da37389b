"""The shipped skills: AddTodo, GetTodos, CompleteTodo and DeleteTodo (which a person must approve),
with todos kept per chat in Azure Table storage.

The chat id is the partition key, so one chat never sees another's todos; the row key is the
todo's id, derived from the call's idempotency key (unique to the turn's run and the call, the
same when the activity runs again), so re-running a call after a crash adds the todo once, and
two calls that happen to share the model's call id still add two todos. Completing and deleting
record the key of the call that did it (a deleted todo stays as a tombstone, left out of every
list), so a re-run of that call answers what it answered the first time, and another call on a todo
already deleted is told so.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from assistant.messages import format_utc
from skills.registry import SkillContext, SkillError, registry
from skills.storage import escape_key, fence_holds, table

__all__ = ["Todo", "add_todo", "complete_todo", "delete_todo", "forget_todos", "get_todos", "list_todos", "todo_id"]

DEFAULT_TABLE = "todos"


def _todo_table() -> TableClient:
    return table(os.environ.get("TODO_TABLE_NAME", "").strip() or DEFAULT_TABLE)


@dataclass(frozen=True)
class Todo:
    """One todo of one chat."""

    task_description: str
    created_at: str
    id: str
    """Its stable id (from the idempotency key of the call that added it)."""
    done: bool = False

    def to_dict(self) -> dict[str, Any]:
        """What GetTodos gives the model."""
        return {
            "id": self.id,
            "taskDescription": self.task_description,
            "done": self.done,
            "createdAt": self.created_at,
        }


def todo_id(idempotency_key: str) -> str:
    """The id of the todo a call adds: the same for every run of that call, short and safe as a row key."""
    return "todo-" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:16]


def list_todos(chat_id: str) -> list[Todo]:
    """The chat's todos, oldest first."""
    rows = _todo_table().query_entities(f"PartitionKey eq '{escape_key(chat_id)}'")
    todos = [
        Todo(task_description=r["taskDescription"], created_at=r["createdAt"], id=r["RowKey"], done=bool(r.get("done")))
        for r in rows
        if not r.get("deletedBy")
    ]
    return sorted(todos, key=lambda t: (t.created_at, t.id))


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
    entity = {
        "PartitionKey": context.chat_id,
        "RowKey": todo_id(context.idempotency_key or context.tool_call_id),
        "taskDescription": task,
        "createdAt": format_utc(datetime.now(UTC)),
    }
    client = _todo_table()
    try:
        client.create_entity(entity)
    except ResourceExistsError:
        pass  # this tool call already added it: a re-run must not add it twice
    if not fence_holds(context.chat_id, context.generation):
        # The chat was reset (or deleted) while this call ran: its fresh self must not hold the old turn's todo.
        client.delete_entity(entity["PartitionKey"], entity["RowKey"])
        raise SkillError("the chat was reset while this call ran; the todo was not kept")
    return {"added": True, "id": entity["RowKey"], "taskDescription": task}


@registry.skill(
    name="GetTodos",
    description="Fetch the list of previously created todo tasks",
    parameters={"type": "object", "properties": {}, "additionalProperties": False},
)
def get_todos(context: SkillContext) -> list[dict[str, Any]]:
    """Every todo of the chat, oldest first."""
    return [t.to_dict() for t in list_todos(context.chat_id)]


_TODO_ID = {
    "type": "object",
    "properties": {
        "todoId": {"type": "string", "minLength": 1, "maxLength": 100, "description": "The todo's id (from GetTodos)"}
    },
    "required": ["todoId"],
    "additionalProperties": False,
}


def _change(chat_id: str, todo: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any]:
    """Apply `change` to the todo's row (it returns the new properties, or None for no write), retrying when another
    call changed the row in between (an ETag-conditioned replace): two calls never both act on one todo."""
    client = _todo_table()
    while True:
        try:
            entity = client.get_entity(chat_id, todo)
        except ResourceNotFoundError:
            raise SkillError(f"there is no todo with id {todo!r}; call GetTodos for the ids") from None
        row = dict(entity)
        updates = change(row)
        if updates is None:
            return row
        row.update(updates)
        try:
            client.update_entity(
                row,
                mode=UpdateMode.REPLACE,
                etag=entity.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
            return row
        except ResourceModifiedError:
            continue


@registry.skill(name="CompleteTodo", description="Mark a todo task as done", parameters=_TODO_ID)
def complete_todo(context: SkillContext, todoId: str) -> dict[str, Any]:
    """Mark the todo done (a repeat of the call answers the same)."""

    def change(row: dict[str, Any]) -> dict[str, Any] | None:
        if row.get("deletedBy"):
            raise SkillError(f"the todo {todoId!r} was deleted")
        return None if row.get("done") else {"done": True, "completedBy": context.idempotency_key}

    row = _change(context.chat_id, todoId, change)
    return {"completed": True, "id": todoId, "taskDescription": row["taskDescription"]}


@registry.skill(
    name="DeleteTodo",
    description="Delete a todo task (the user is asked to approve it first)",
    parameters=_TODO_ID,
    approval=True,
)
def delete_todo(context: SkillContext, todoId: str) -> dict[str, Any]:
    """Delete the todo once: it stays as a tombstone naming the call that deleted it."""

    def change(row: dict[str, Any]) -> dict[str, Any] | None:
        deleted_by = row.get("deletedBy")
        if deleted_by and deleted_by != context.idempotency_key:
            raise SkillError(f"the todo {todoId!r} was already deleted")
        return None if deleted_by else {"deletedBy": context.idempotency_key}

    row = _change(context.chat_id, todoId, change)
    return {"deleted": True, "id": todoId, "taskDescription": row["taskDescription"]}


@registry.on_forget_chat
def forget_todos(chat_id: str) -> None:
    """Delete every todo of a deleted chat."""
    client = _todo_table()
    for row in client.query_entities(f"PartitionKey eq '{escape_key(chat_id)}'", select=["PartitionKey", "RowKey"]):
        client.delete_entity(row["PartitionKey"], row["RowKey"])
