"""The skill registry: tool definitions, argument validation, failure kinds."""

from __future__ import annotations

import logging

import pytest

from assistant.messages import ToolCall
from assistant.payloads import ToolInvocation
from skills import registry as app_registry
from skills.registry import SkillContext, SkillError, SkillRegistry


def make_registry() -> SkillRegistry:
    reg = SkillRegistry()

    @reg.skill(
        "Multiply",
        "Multiply two integers",
        {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]},
    )
    def multiply(context: SkillContext, a: int, b: int) -> dict[str, int | str]:
        if a < 0:
            raise SkillError("negative numbers are not supported")
        if a == 13:
            raise RuntimeError("boom")
        return {"product": a * b, "chat": context.chat_id, "call": context.tool_call_id}

    return reg


def invoke(reg: SkillRegistry, name: str, arguments: str) -> tuple[bool, str]:
    result = reg.invoke(ToolInvocation(chat_id="chat-7", call=ToolCall(id="call-9", name=name, arguments=arguments)))
    assert result.tool_call_id == "call-9" and result.name == name
    return result.ok, result.content


def test_app_registry_offers_the_shipped_skills_as_tools() -> None:
    """AddTodo and GetTodos with the extension sample's names, descriptions and schemas."""
    tools = {t["function"]["name"]: t for t in app_registry.tool_definitions()}
    assert set(tools) == {"AddTodo", "GetTodos", "CompleteTodo", "DeleteTodo"}
    add = tools["AddTodo"]
    assert add["type"] == "function" and add["function"]["description"] == "Create a new todo task"
    assert add["function"]["parameters"]["required"] == ["taskDescription"]
    assert tools["GetTodos"]["function"]["parameters"]["properties"] == {}


def test_valid_call_gets_context_and_json_result() -> None:
    """Arguments are passed by name; the skill sees the chat id and tool call id."""
    assert invoke(make_registry(), "Multiply", '{"a": 6, "b": 7}') == (
        True,
        '{"product": 42, "chat": "chat-7", "call": "call-9"}',
    )


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": 6}', "invalid arguments for Multiply at arguments: 'b' is a required property"),
        ('{"a": "six", "b": 1}', "invalid arguments for Multiply at a: 'six' is not of type 'integer'"),
        ("{not json", "the arguments are not valid JSON"),
    ],
)
def test_bad_arguments_are_reported_without_running(arguments: str, expected: str) -> None:
    """Schema and JSON errors become error results the model can act on."""
    ok, content = invoke(make_registry(), "Multiply", arguments)
    assert not ok and content.startswith("error: ") and expected in content


def test_skill_errors_and_bugs_become_error_results(caplog: pytest.LogCaptureFixture) -> None:
    """SkillError's message reaches the model; an unexpected exception is logged, not leaked."""
    reg = make_registry()
    assert invoke(reg, "Multiply", '{"a": -1, "b": 2}') == (False, "error: negative numbers are not supported")
    with caplog.at_level(logging.ERROR):
        assert invoke(reg, "Multiply", '{"a": 13, "b": 2}') == (False, "error: Multiply failed unexpectedly")
    assert "boom" in caplog.text
    assert invoke(reg, "Divide", "{}") == (False, "error: there is no tool named 'Divide'")


def test_registration_rejects_bad_names_schemas_and_duplicates() -> None:
    """Mistakes in a skill's declaration fail at import, not at the first call."""
    reg = make_registry()
    with pytest.raises(ValueError, match="already registered"):
        reg.skill("Multiply", "again")
    with pytest.raises(ValueError, match="letters, digits"):
        reg.skill("has space", "x")
    with pytest.raises(ValueError, match="must describe an object"):
        reg.skill("Arr", "x", {"type": "array"})
    with pytest.raises(ValueError, match="invalid parameters schema"):
        reg.skill("Bad", "x", {"type": "object", "properties": {"a": {"type": "integr"}}})
