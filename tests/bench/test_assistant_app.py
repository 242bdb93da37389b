"""The bench app (product + `Sleep` skill) end to end: tool calls of one model answer run concurrently."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.assistant_stack import APP_DIR, respond, sleep_message
from tests.support.azurite import Azurite
from tests.support.devhost import DevhostProcess, start_devhost
from tests.support.fake_openai import FakeOpenAI

CALLS = 5
SLEEP_MS = 400


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    """The scripted model answering `sleep NxMS` with N Sleep calls, then text."""
    with FakeOpenAI(responder=respond) as server:
        yield server


@pytest.fixture(scope="module")
def bench_host(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, model: FakeOpenAI
) -> Iterator[DevhostProcess]:
    """devhost serving `bench/assistant_app` with the scripted model."""
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPENAI_BASE_URL": model.base_url,
        "OPENAI_API_KEY": "test",
        "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt",
        "AZURE_OPENAI_ENDPOINT": "",
        "AZURE_OPENAI_KEY": "",
        "TODO_TABLE_NAME": f"benchtodos{uuid.uuid4().hex[:8]}",
    }
    host = start_devhost(APP_DIR, data_dir=Path(tmp_path_factory.mktemp("benchapp")) / "data", env=env)
    try:
        yield host
    finally:
        host.stop()


def test_tool_calls_of_one_answer_overlap(bench_host: DevhostProcess, model: FakeOpenAI) -> None:
    """Five Sleep calls in one answer: every call started before any call ended (times recorded by the skill)."""
    chat = f"par-{uuid.uuid4().hex[:8]}"
    api = f"{bench_host.base_url}/api/chats/{chat}"
    with httpx.Client(timeout=60) as http:
        assert http.put(api, json={"instructions": "bench"}).status_code == 202
        response = http.post(
            api, json={"message": sleep_message(CALLS, SLEEP_MS)}, headers={"Accept": "application/json"}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reply"] == "slept"
    asked = [m for m in body["recentMessages"] if m["role"] == "assistant" and m.get("toolCalls")]
    assert len(asked) == 1 and [c["functionName"] for c in asked[0]["toolCalls"]] == ["Sleep"] * CALLS
    spans = [json.loads(m["content"]) for m in body["recentMessages"] if m["role"] == "tool"]
    assert sorted(s["toolCallId"] for s in spans) == sorted(c["id"] for c in asked[0]["toolCalls"])
    assert all(s["endedAt"] - s["startedAt"] >= SLEEP_MS / 1000 * 0.9 for s in spans)
    last_start = max(s["startedAt"] for s in spans)
    first_end = min(s["endedAt"] for s in spans)
    assert last_start < first_end, f"the calls ran one after another, not together: {spans}"


def test_sleep_skill_is_offered_beside_the_product_skills(bench_host: DevhostProcess, model: FakeOpenAI) -> None:
    """The bench app offers the model the product's skills unchanged plus Sleep."""
    chat = f"tools-{uuid.uuid4().hex[:8]}"
    api = f"{bench_host.base_url}/api/chats/{chat}"
    before = len(model.requests)
    with httpx.Client(timeout=60) as http:
        assert http.put(api, json=None).status_code == 202
        assert http.post(api, json={"message": "hello"}).status_code == 200
    offered = {t["function"]["name"] for t in model.requests[before]["tools"]}
    assert {"AddTodo", "GetTodos", "Sleep"} <= offered
