"""End to end: devhost SIGKILLed at random points while turns run on several chats; every accepted turn completes once.

Each chat's client sends its messages one after the other with `timeoutSeconds=0` (so later
turns queue behind earlier ones), each with its own `Idempotency-Key`, then asks again with the
same keys to collect the replies. A killer thread SIGKILLs devhost at seeded random moments
(in model calls, between tool calls, while the entity writes) and restarts it. Clients whose
connection broke repeat their POST with the same key. At the end every chat's history is
checked message by message against what was sent, and the todo table holds each tool call's
todo exactly once. Set `CRASH_SEED` to replay a run; the seed is printed.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.data.tables import TableClient

from tests.assistant.conftest import AssistantHost, start_assistant_host
from tests.support.azurite import Azurite
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call

CHATS = 3
TURNS = 6
KILLS = 4


@pytest.fixture(scope="module")
def crash_host(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, fake_model: FakeOpenAI
) -> Iterator[AssistantHost]:
    """A devhost of its own (this test kills it), on the shared scripted model, archiving every few turns."""
    env = {"OPENAI_BASE_URL": fake_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
    # a small working window, so messages also move to the archive while devhost is being killed
    yield from start_assistant_host(
        tmp_path_factory, azurite, env, {"CHAT_MODEL_TIMEOUT_SECONDS": "10", "CHAT_WORKING_MESSAGES": "6"}
    )


def responder(rng: random.Random, lock: threading.Lock) -> Any:
    """Turn `<chat> m<i>`: first an AddTodo call with id `call-<chat>-<i>`, then the text `done <chat> <i>`; random
    delays."""

    def respond(body: dict[str, Any]) -> ScriptedReply:
        with lock:
            delay = rng.uniform(0.0, 0.25)
        last = body["messages"][-1]
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        chat, index = user.split(" m")
        if last["role"] == "tool":
            return ScriptedReply(content=f"done {chat} {index}", delay=delay)
        call = tool_call("AddTodo", {"taskDescription": f"todo {chat} {index}"}, call_id=f"call-{chat}-{index}")
        return ScriptedReply(tool_calls=(call,), delay=delay)

    return respond


def post_until_answered(
    host: AssistantHost, chat: str, index: int, wait: float, stop: threading.Event
) -> httpx.Response:
    """POST message `index` with its key until devhost answers 200/202 (transport errors mean: it was killed; again)."""
    url = f"{host.api}/chats/{chat}"
    while not stop.is_set():
        try:
            response = host.http.post(
                url,
                params={"timeoutSeconds": f"{wait:g}"},
                json={"message": f"{chat} m{index}"},
                headers={"Idempotency-Key": f"key-{index}"},
            )
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        if response.status_code in (200, 202):
            return response
        raise AssertionError(f"{chat} m{index}: unexpected {response.status_code} {response.text}")
    raise AssertionError("stopped")


def client(
    host: AssistantHost, chat: str, replies: dict[str, list[str]], errors: list[str], stop: threading.Event
) -> None:
    """Send every message (accepted in order), then collect every reply."""
    try:
        for index in range(TURNS):
            post_until_answered(host, chat, index, 0, stop)
        for index in range(TURNS):
            response = post_until_answered(host, chat, index, 20, stop)
            while response.status_code != 200:
                response = post_until_answered(host, chat, index, 20, stop)
            replies[chat].append(response.text)
    except Exception as error:
        errors.append(f"{chat}: {error!r}")


def _without_id(content: str) -> Any:
    """A tool result's JSON without the todo id (derived from the call's idempotency key)."""
    data = json.loads(content)
    data.pop("id", None)
    return data


def expected_history(chat: str) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for index in range(TURNS):
        call = f"call-{chat}-{index}"
        rows += [
            ("user", f"{chat} m{index}", (), None),
            ("assistant", "", ((call, "AddTodo"),), None),
            ("tool", {"added": True, "taskDescription": f"todo {chat} {index}"}, (), call),
            ("assistant", f"done {chat} {index}", (), None),
        ]
    return rows


def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    crash_host: AssistantHost, fake_model: FakeOpenAI, azurite: Azurite
) -> None:
    """Kill/restart devhost several times during 18 turns on 3 chats: all complete, histories exact, one todo per
    call."""
    seed = int(os.environ.get("CRASH_SEED") or random.randrange(1 << 30))
    print(f"crash test seed: {seed} (CRASH_SEED={seed} to replay)")
    rng = random.Random(seed)
    fake_model.reset().responder = responder(random.Random(seed + 1), threading.Lock())
    host = crash_host
    chats = [host.new_chat() for _ in range(CHATS)]
    replies: dict[str, list[str]] = {chat: [] for chat in chats}
    errors: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=client, args=(host, chat, replies, errors, stop)) for chat in chats]
    for thread in threads:
        thread.start()
    kills = 0
    deadline = time.monotonic() + 50
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.2, 1.0))
        if kills < KILLS and any(t.is_alive() for t in threads):
            host.devhost.kill()
            kills += 1
            started = time.monotonic()
            host.devhost.start()
            print(f"kill {kills}: restarted in {time.monotonic() - started:.1f} s")
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 1))
    stop.set()
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), f"turns unfinished after 50 s (seed {seed})"
    assert kills >= 1, f"no kill happened while turns ran (seed {seed})"
    todos = TableClient.from_connection_string(azurite.connection_string, host.todo_table)
    for chat in chats:
        assert replies[chat] == [f"done {chat} {i}" for i in range(TURNS)], f"seed {seed}"
        state = host.http.get(f"{host.api}/chats/{chat}").json()
        history = [
            (
                m["role"],
                _without_id(m["content"]) if m["role"] == "tool" else m["content"],
                tuple((c["id"], c["functionName"]) for c in m["toolCalls"]),
                m.get("toolCallId"),
            )
            for m in state["recentMessages"][1:]
        ]
        assert history == expected_history(chat), f"seed {seed}"
        assert state["totalMessages"] == 1 + 4 * TURNS
        entity = host.http.get(f"{host.devhost.base_url}/runtime/webhooks/durabletask/entities/chat/{chat}").json()
        assert entity["archivedCount"] > 0, "the crash test should archive messages too"
        rows = sorted(r["taskDescription"] for r in todos.query_entities(f"PartitionKey eq '{chat}'"))
        assert rows == sorted(f"todo {chat} {i}" for i in range(TURNS)), f"seed {seed}"
