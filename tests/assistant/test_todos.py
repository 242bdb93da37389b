"""AddTodo / GetTodos against Table storage in Azurite: per-chat isolation, idempotent re-runs, forgetting."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from assistant.messages import ToolCall
from assistant.payloads import ToolInvocation
from skills import registry
from skills.todos import todo_id
from storage.clients import reset_storage
from tests.support.azurite import Azurite


@pytest.fixture
def storage(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("TODO_TABLE_NAME", f"todos{uuid.uuid4().hex[:8]}")
    reset_storage()
    yield
    reset_storage()


def call(chat_id: str, name: str, arguments: str, call_id: str | None = None, key: str = "") -> tuple[bool, str]:
    result = registry.invoke(
        ToolInvocation(
            chat_id=chat_id,
            call=ToolCall(id=call_id or uuid.uuid4().hex, name=name, arguments=arguments),
            idempotency_key=key or uuid.uuid4().hex,
        )
    )
    return result.ok, result.content


def tasks(chat_id: str) -> list[str]:
    import json

    ok, content = call(chat_id, "GetTodos", "{}")
    assert ok
    return [t["taskDescription"] for t in json.loads(content)]


def test_todos_are_kept_per_chat_in_order(storage: None) -> None:
    """Each chat sees only its own todos, oldest first."""
    assert call("chat-a", "AddTodo", '{"taskDescription": "buy milk"}')[0]
    assert call("chat-a", "AddTodo", '{"taskDescription": "walk the dog"}')[0]
    assert call("chat-b", "AddTodo", '{"taskDescription": "call mom"}')[0]
    assert tasks("chat-a") == ["buy milk", "walk the dog"]
    assert tasks("chat-b") == ["call mom"]
    assert tasks("chat-c") == []


def test_rerun_of_the_same_tool_call_adds_once(storage: None) -> None:
    """The idempotency key decides the row key: a re-run activity does not duplicate the todo."""
    added = {"added": True, "id": todo_id("turn-1/run/1/0"), "taskDescription": "once"}
    for _ in range(2):
        assert call("chat-r", "AddTodo", '{"taskDescription": "once"}', call_id="call_same", key="turn-1/run/1/0") == (
            True,
            json.dumps(added),
        )
    assert tasks("chat-r") == ["once"]


def test_a_reused_call_id_with_another_key_adds_another_todo(storage: None) -> None:
    """Models reuse call ids across turns: two calls with id `call_1` but different keys add two todos."""
    call("chat-u", "AddTodo", '{"taskDescription": "first"}', call_id="call_1", key="turn-1/a/1/0")
    call("chat-u", "AddTodo", '{"taskDescription": "second"}', call_id="call_1", key="turn-2/b/1/0")
    assert tasks("chat-u") == ["first", "second"]


def test_blank_task_is_refused_and_forget_chat_deletes_only_that_chat(storage: None) -> None:
    """A blank description is a skill error; forgetting a chat leaves the others."""
    ok, content = call("chat-f", "AddTodo", '{"taskDescription": "   "}')
    assert not ok and "taskDescription is empty" in content
    call("chat-f", "AddTodo", '{"taskDescription": "x"}')
    call("chat-g", "AddTodo", '{"taskDescription": "y"}')
    registry.forget_chat("chat-f")
    assert tasks("chat-f") == [] and tasks("chat-g") == ["y"]
