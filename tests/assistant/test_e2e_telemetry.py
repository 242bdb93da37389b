"""End to end: OpenTelemetry traces of a turn, from devhost's log (OTEL_TRACES_EXPORTER=console: one JSON line a
span)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.assistant.conftest import AssistantHost, start_assistant_host
from tests.support.azurite import Azurite
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call


@pytest.fixture(scope="module")
def traced_host(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, fake_model: FakeOpenAI
) -> Iterator[AssistantHost]:
    env = {"OPENAI_BASE_URL": fake_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
    extra = {"OTEL_TRACES_EXPORTER": "console", "CHAT_MODEL_TIMEOUT_SECONDS": "10"}
    yield from start_assistant_host(tmp_path_factory, azurite, env, extra)


def spans(host: AssistantHost) -> list[dict[str, Any]]:
    found = []
    for line in host.devhost.log_text().splitlines():
        if line.startswith('{"name"'):
            found.append(json.loads(line))
    return found


def of_trace(all_spans: list[dict[str, Any]], trace_id: str) -> list[dict[str, Any]]:
    return [s for s in all_spans if s["context"]["trace_id"] == trace_id]


def test_a_tool_turn_is_one_trace_with_genai_model_spans_and_tool_spans(
    traced_host: AssistantHost, fake_model: FakeOpenAI
) -> None:
    """The POST's span is the root; both model calls (`chat fake-gpt`, gen_ai.* attributes) and the AddTodo call
    (`execute_tool AddTodo`, ok) are its children, in the same trace, though they ran in the activity worker."""
    host = traced_host
    fake_model.reset()
    chat = host.new_chat()
    fake_model.call_tools(tool_call("AddTodo", {"taskDescription": "milk"}))
    fake_model.script(ScriptedReply(content="Added milk.", usage=(40, 7)))
    assert host.http.post(f"{host.api}/chats/{chat}", json={"message": "add milk"}).text == "Added milk."
    everything = spans(host)
    (root,) = [
        s for s in everything if s["name"] == "POST /api/chats/{chatId}" and s["attributes"].get("chat.id") == chat
    ]
    turn = of_trace(everything, root["context"]["trace_id"])
    models = [s for s in turn if s["name"] == "chat fake-gpt"]
    tools = [s for s in turn if s["name"] == "execute_tool AddTodo"]
    assert len(models) == 2 and len(tools) == 1
    for child in models + tools:
        assert child["parent_id"] == root["context"]["span_id"]
    final = max(models, key=lambda s: s["start_time"])
    assert final["kind"] == "SpanKind.CLIENT"
    assert (
        final["attributes"]["gen_ai.operation.name"] == "chat"
        and final["attributes"]["gen_ai.request.model"] == "fake-gpt"
    )
    assert (
        final["attributes"]["gen_ai.usage.input_tokens"] == 40
        and final["attributes"]["gen_ai.usage.output_tokens"] == 7
    )
    assert final["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert tools[0]["attributes"]["ok"] is True and tools[0]["attributes"]["gen_ai.tool.name"] == "AddTodo"
    assert not any("gen_ai.input.messages" in s["attributes"] for s in turn), "prompts are not recorded by default"
    assert not [s for s in everything if s["name"].startswith(("GET /runtime", "POST /runtime"))], (
        "devhost is not traced"
    )


def test_a_sigkill_mid_turn_repeats_no_span_of_a_completed_model_call(
    traced_host: AssistantHost, fake_model: FakeOpenAI
) -> None:
    """devhost killed during the second model call: after the restart the turn completes in the same trace, with
    the first (completed) model call's span once and the tool's span once."""
    host = traced_host
    fake_model.reset()
    chat = host.new_chat()
    fake_model.call_tools(tool_call("AddTodo", {"taskDescription": "bread"}))
    fake_model.script(ScriptedReply(content="slow", delay=3.0), ScriptedReply(content="Added bread."))
    accepted = host.http.post(
        f"{host.api}/chats/{chat}",
        params={"timeoutSeconds": "0"},
        json={"message": "add bread"},
        headers={"Idempotency-Key": "trace-kill"},
    )
    assert accepted.status_code == 202
    deadline_spans: list[dict[str, Any]] = []
    for _ in range(100):
        deadline_spans = [
            s for s in spans(host) if s["name"] == "execute_tool AddTodo" and s["attributes"].get("chat.id") == chat
        ]
        if deadline_spans and len(fake_model.requests) >= 2:
            break
        import time

        time.sleep(0.05)
    host.devhost.kill()
    host.devhost.start()
    done = host.http.post(
        f"{host.api}/chats/{chat}",
        params={"timeoutSeconds": "30"},
        json={"message": "add bread"},
        headers={"Idempotency-Key": "trace-kill"},
    )
    assert done.text == "Added bread."
    everything = spans(host)
    (root,) = [
        s
        for s in everything
        if s["name"] == "POST /api/chats/{chatId}"
        and s["attributes"].get("chat.id") == chat
        and s["attributes"].get("http.response.status_code") == 202
    ]
    turn = of_trace(everything, root["context"]["trace_id"])
    models = [s for s in turn if s["name"] == "chat fake-gpt"]
    assert len([s for s in turn if s["name"] == "execute_tool AddTodo"]) == 1
    assert [m["attributes"]["gen_ai.response.finish_reasons"] for m in models] == [["tool_calls"], ["stop"]]
