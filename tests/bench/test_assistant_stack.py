"""The bench's scripted model: which answers it gives."""

from __future__ import annotations

import json

from bench.assistant_stack import respond, sleep_message


def test_sleep_message_asks_for_that_many_sleep_calls() -> None:
    """`sleep 5x200` from the user: five Sleep calls of 200 ms, each with its own id."""
    reply = respond({"messages": [{"role": "user", "content": sleep_message(5, 200)}]})
    assert [c["name"] for c in reply.tool_calls] == ["Sleep"] * 5
    assert all(json.loads(c["arguments"]) == {"milliseconds": 200} for c in reply.tool_calls)
    assert len({c["id"] for c in reply.tool_calls}) == 5


def test_text_after_tool_results_and_for_anything_else() -> None:
    """After tool results the model says 'slept'; any other message gets 'ok' and no tool calls."""
    after_tools = respond({"messages": [{"role": "user", "content": "sleep 2x10"}, {"role": "tool", "content": "{}"}]})
    plain = respond({"messages": [{"role": "user", "content": "hello"}]})
    assert (after_tools.content, after_tools.tool_calls) == ("slept", ())
    assert (plain.content, plain.tool_calls) == ("ok", ())
