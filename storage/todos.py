"""The todo table: the shipped skills' store, one partition per chat.

Table `TODO_TABLE_NAME` (default `todos`): PartitionKey = the chat, RowKey = the todo's id, `taskDescription`,
`createdAt`, and who changed it: `done` with `completedBy`, or `deletedBy` (a deleted todo stays as a tombstone,
left out of every list), each the idempotency key of the call that did it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from storage.clients import table
from storage.rows import escape_key

__all__ = [
    "DEFAULT_TABLE",
    "Todo",
    "TodoChange",
    "TodoMissing",
    "change_todo",
    "forget_todos",
    "insert_todo",
    "list_todos",
    "remove_todo",
]

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
    completed_by: str = ""
    """The idempotency key of the call that completed it."""
    deleted_by: str = ""
    """The idempotency key of the call that deleted it (a tombstone: never listed)."""


@dataclass(frozen=True)
class TodoChange:
    """What to write on a todo: `done` by the call `completed_by`, or deleted by the call `deleted_by`."""

    done: bool | None = None
    completed_by: str | None = None
    deleted_by: str | None = None


class TodoMissing(LookupError):
    """The chat has no todo with that id."""


def _todo(row: dict[str, Any]) -> Todo:
    return Todo(
        task_description=str(row["taskDescription"]),
        created_at=str(row["createdAt"]),
        id=str(row["RowKey"]),
        done=bool(row.get("done")),
        completed_by=str(row.get("completedBy") or ""),
        deleted_by=str(row.get("deletedBy") or ""),
    )


def insert_todo(chat_id: str, todo_id: str, task: str, created_at: str) -> bool:
    """Add the todo once: True if this call wrote it, False if it was there (a re-run of the same call)."""
    row = {"PartitionKey": chat_id, "RowKey": todo_id, "taskDescription": task, "createdAt": created_at}
    try:
        _todo_table().create_entity(row)
    except ResourceExistsError:
        return False
    return True


def remove_todo(chat_id: str, todo_id: str) -> None:
    """Delete the todo's row (undoing a write that must not stay); nothing if it is not there."""
    _todo_table().delete_entity(chat_id, todo_id)


def list_todos(chat_id: str) -> list[Todo]:
    """The chat's todos (tombstones left out), oldest first."""
    rows = _todo_table().query_entities(f"PartitionKey eq '{escape_key(chat_id)}'")
    todos = [_todo(r) for r in rows if not r.get("deletedBy")]
    return sorted(todos, key=lambda t: (t.created_at, t.id))


def change_todo(chat_id: str, todo_id: str, decide: Callable[[Todo], TodoChange | None]) -> Todo:
    """Apply what `decide` says (None: no write) to the todo, retrying when another call changed it in between (an
    ETag-conditioned replace): two calls never both act on one todo. The todo as it is after; `TodoMissing`."""
    client = _todo_table()
    while True:
        try:
            entity = client.get_entity(chat_id, todo_id)
        except ResourceNotFoundError:
            raise TodoMissing(todo_id) from None
        change = decide(_todo(entity))
        if change is None:
            return _todo(entity)
        row = dict(entity)
        if change.done is not None:
            row["done"] = change.done
        if change.completed_by is not None:
            row["completedBy"] = change.completed_by
        if change.deleted_by is not None:
            row["deletedBy"] = change.deleted_by
        try:
            client.update_entity(
                row,
                mode=UpdateMode.REPLACE,
                etag=entity.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            continue
        except ResourceNotFoundError:
            raise TodoMissing(todo_id) from None  # deleted with its chat meanwhile
        return _todo(row)


def forget_todos(chat_id: str) -> None:
    """Delete every todo of the chat (its tombstones too)."""
    client = _todo_table()
    for row in client.query_entities(f"PartitionKey eq '{escape_key(chat_id)}'", select=["PartitionKey", "RowKey"]):
        client.delete_entity(row["PartitionKey"], row["RowKey"])
