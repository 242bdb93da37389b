"""The offline model: todo intents become tool calls, tool results become marked replies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.offline import MARK, OfflineModel
from skills import registry

TOOLS = registry.tool_definitions()


def ask(text: str, tools: list[dict[str, Any]] | None = TOOLS) -> Any:
    return OfflineModel().complete([{"role": "system", "content": "rules"}, {"role": "user", "content": text}], tools)


@pytest.mark.parametrize(
    ("prompt", "task"),
    [
        ("add a todo to buy milk", "buy milk"),
        ("Please add a new task: water the plants.", "water the plants"),
        ("add pay the rent to my todo list", "pay the rent"),
        ("remind me to call mom", "call mom"),
    ],
)
def test_add_requests_become_add_todo_calls(prompt: str, task: str) -> None:
    """The task description is taken from the sentence."""
    answer = ask(prompt)
    assert answer.content == "" and [c.name for c in answer.tool_calls] == ["AddTodo"]
    assert json.loads(answer.tool_calls[0].arguments) == {"taskDescription": task}
    assert answer.tool_calls[0].id == ask(prompt).tool_calls[0].id  # stable if the activity re-runs


def test_list_requests_become_get_todos_and_other_text_is_explained() -> None:
    """'what are my todos' lists; anything else gets a marked help text; no tools, no calls."""
    assert [c.name for c in ask("what are my todos?").tool_calls] == ["GetTodos"]
    other = ask("tell me a joke")
    assert other.tool_calls == () and other.content.startswith(MARK) and "add todos" in other.content
    assert ask("add a todo to buy milk", tools=None).tool_calls == ()


def test_tool_results_become_a_reply_naming_the_tasks() -> None:
    """After AddTodo and GetTodos results, the reply names the tasks."""
    calls = [
        {"id": "a", "type": "function", "function": {"name": "AddTodo", "arguments": "{}"}},
        {"id": "b", "type": "function", "function": {"name": "GetTodos", "arguments": "{}"}},
    ]
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "a", "content": '{"added": true, "taskDescription": "buy milk"}'},
        {
            "role": "tool",
            "tool_call_id": "b",
            "content": '[{"taskDescription": "buy milk"}, {"taskDescription": "run"}]',
        },
    ]
    answer = OfflineModel().complete(messages, TOOLS)
    assert answer.content == f'{MARK} Added "buy milk" to your todo list. You have 2 todo(s): 1. buy milk; 2. run.'
    assert answer.usage.total_tokens > 0
