"""The shipped skills: AddTodo and GetTodos, with todos kept per chat in Azure Table storage.

The chat id is the partition key, so one chat never sees another's todos; the row key is the
todo's id, derived from the call's idempotency key (unique to the turn's run and the call, the
same when the activity runs again), so re-running a call after a crash adds the todo once, and
two calls that happen to share the model's call id still add two todos.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient

from assistant.messages import format_utc
from skills.registry import SkillContext, SkillError, registry
from skills.storage import escape_key, table

__all__ = ["Todo", "add_todo", "forget_todos", "get_todos", "list_todos"]

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

    def to_dict(self) -> dict[str, Any]:
        """What GetTodos gives the model."""
        return {"id": self.id, "taskDescription": self.task_description, "createdAt": self.created_at}


def todo_id(idempotency_key: str) -> str:
    """The id of the todo a call adds: the same for every run of that call, short and safe as a row key."""
    return "todo-" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:16]


def list_todos(chat_id: str) -> list[Todo]:
    """The chat's todos, oldest first."""
    rows = _todo_table().query_entities(f"PartitionKey eq '{escape_key(chat_id)}'")
    todos = [Todo(task_description=r["taskDescription"], created_at=r["createdAt"], id=r["RowKey"]) for r in rows]
    return sorted(todos, key=lambda t: (t.created_at, t.id))


@registry.skill(
    name="AddTodo",
    description="Create a new todo task",
    parameters={
        "type": "object",
        "properties": {
            "taskDescription": {"type": "string", "minLength": 1, "maxLength": 1000, "description": "The description of the todo task"}
        },
        "required": ["taskDescription"],
        "additionalProperties": False,
    },
)
def add_todo(context: SkillContext, taskDescription: str) -> dict[str, Any]:  # noqa: N803 - the schema's name
    """Add a todo to the chat (once per idempotency key)."""
    task = taskDescription.strip()
    if not task:
        raise SkillError("taskDescription is empty; ask the user what the task is")
    entity = {
        "PartitionKey": context.chat_id,
        "RowKey": todo_id(context.idempotency_key or context.tool_call_id),
        "taskDescription": task,
        "createdAt": format_utc(datetime.now(timezone.utc)),
    }
    try:
        _todo_table().create_entity(entity)
    except ResourceExistsError:
        pass  # this tool call already added it: a re-run must not add it twice
    return {"added": True, "id": entity["RowKey"], "taskDescription": task}


@registry.skill(
    name="GetTodos",
    description="Fetch the list of previously created todo tasks",
    parameters={"type": "object", "properties": {}, "additionalProperties": False},
)
def get_todos(context: SkillContext) -> list[dict[str, Any]]:
    """Every todo of the chat, oldest first."""
    return [t.to_dict() for t in list_todos(context.chat_id)]


@registry.on_forget_chat
def forget_todos(chat_id: str) -> None:
    """Delete every todo of a deleted chat."""
    client = _todo_table()
    for row in client.query_entities(f"PartitionKey eq '{escape_key(chat_id)}'", select=["PartitionKey", "RowKey"]):
        client.delete_entity(row["PartitionKey"], row["RowKey"])
