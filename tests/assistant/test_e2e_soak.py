"""Soak: a few hundred turns while devhost and its worker process are SIGKILLed at random; nothing lost, duplicated or
repeated.

Five chats send 40 messages each (every message with its own `Idempotency-Key`, a client repeating
it after a broken connection, a 502/503, or the 500 of a request whose worker died, until it gets the reply). Every turn
asks for one AddTodo
and the model always calls it `call_1` (a model that reuses call ids). A killer thread SIGKILLs,
at random moments (each once some turn finished since the last), devhost (then restarts it) or
its worker process, which runs all of the app's code (devhost starts another). At the end: every chat holds each of its
turns exactly once and in order, the todo table holds each turn's todo exactly once, and the
cleanup function purges the turns' histories, shrinking the store. The figures are printed (`pytest -s`); `SOAK_SEED`
replays a run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.data.tables import TableClient

from tests.assistant.conftest import AssistantHost, start_assistant_host
from tests.support.azurite import Azurite
from tests.support.devhost import child_pids
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call

pytestmark = pytest.mark.slow

CHATS = 5
TURNS = 40


@pytest.fixture(scope="module")
def soak_host(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, fake_model: FakeOpenAI
) -> Iterator[AssistantHost]:
    env = {"OPENAI_BASE_URL": fake_model.base_url, "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt"}
    extra = {
        "CHAT_MODEL_TIMEOUT_SECONDS": "10",
        "CHAT_WORKING_MESSAGES": "8",
        "CHAT_MODEL_TURN_ATTEMPTS": "3",
        "CHAT_MODEL_RETRY_SECONDS": "0.2",
        "CHAT_TURN_RETENTION_HOURS": "0",
        "DEVHOST_MASTER_KEY": "soak-master",
    }
    yield from start_assistant_host(tmp_path_factory, azurite, env, extra)


def respond(rng: random.Random, lock: threading.Lock) -> Any:
    """`<chat> m<i>`: AddTodo `todo <chat> <i>` as call `call_1` (always the same id), then `done <chat> <i>`."""

    def answer(body: dict[str, Any]) -> ScriptedReply:
        with lock:
            delay = rng.uniform(0.0, 0.05)
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        chat, index = user.split(" m")
        if body["messages"][-1]["role"] == "tool":
            return ScriptedReply(content=f"done {chat} {index}", delay=delay)
        return ScriptedReply(
            tool_calls=(tool_call("AddTodo", {"taskDescription": f"todo {chat} {index}"}, "call_1"),), delay=delay
        )

    return answer


def client(
    host: AssistantHost, chat: str, replies: dict[str, list[str]], stats: Counter[str], stop: threading.Event
) -> None:
    with httpx.Client(timeout=40) as http:
        for index in range(TURNS):
            while not stop.is_set():
                try:
                    response = http.post(
                        f"{host.api}/chats/{chat}",
                        params={"timeoutSeconds": "30"},
                        json={"message": f"{chat} m{index}"},
                        headers={"Idempotency-Key": f"k{index}"},
                    )
                except httpx.TransportError:
                    stats["connection broke"] += 1
                    time.sleep(0.1)
                    continue
                if response.status_code == 200:
                    replies[chat].append(response.text)
                    break
                stats[f"answered {response.status_code}"] += 1
                # A 500 that says the worker died is the host's answer for a request its worker was running (as on
                # Azure): the same Idempotency-Key makes the retry safe.
                worker_died = response.status_code == 500 and "worker process exited" in response.text
                if response.status_code not in (202, 502, 503) and not worker_died:
                    raise AssertionError(f"{chat} m{index}: {response.status_code} {response.text}")
                time.sleep(0.1)


def _store_size(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.glob("assistant.sqlite*"))


def test_soak_with_random_sigkills_of_devhost_and_its_worker(
    soak_host: AssistantHost, fake_model: FakeOpenAI, azurite: Azurite
) -> None:
    seed = int(os.environ.get("SOAK_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    fake_model.reset().responder = respond(random.Random(seed + 1), threading.Lock())
    host = soak_host
    chats = [host.new_chat() for _ in range(CHATS)]
    replies: dict[str, list[str]] = {chat: [] for chat in chats}
    stats: Counter[str] = Counter()
    stop = threading.Event()
    threads = [threading.Thread(target=client, args=(host, chat, replies, stats, stop), daemon=True) for chat in chats]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    kills: Counter[str] = Counter()
    deadline = started + 240
    answered_at_kill = -1
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        # A kill at a random moment, once some turn finished since the last one: kills faster than a
        # worker starts (about a second) would only measure restarts, never the turns.
        while (
            sum(map(len, replies.values())) <= answered_at_kill
            and any(t.is_alive() for t in threads)
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        time.sleep(rng.uniform(0.1, 1.0))
        answered_at_kill = sum(map(len, replies.values()))
        if not any(t.is_alive() for t in threads):
            break
        pid = host.devhost.pid
        workers = child_pids(pid, "worker_main") if pid else []
        if rng.random() < 0.35 or not workers:
            host.devhost.kill()
            kills["devhost"] += 1
            host.devhost.start()
        else:
            os.kill(workers[0], signal.SIGKILL)
            kills["worker"] += 1
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 1))
    stop.set()
    elapsed = time.monotonic() - started
    progress = {chat: len(replies[chat]) for chat in chats}
    assert not any(t.is_alive() for t in threads), (
        f"turns unfinished (seed {seed}): {progress} {dict(stats)} {dict(kills)}\n{host.devhost.log_text()[-4000:]}"
    )

    lost = duplicated = 0
    todos = TableClient.from_connection_string(azurite.connection_string, host.todo_table)
    repeated_effects = missing_effects = 0
    for chat in chats:
        assert replies[chat] == [f"done {chat} {i}" for i in range(TURNS)], f"seed {seed}"
        state = host.http.get(f"{host.api}/chats/{chat}").json()
        users = [m["content"] for m in state["recentMessages"] if m["role"] == "user"]
        expected = [f"{chat} m{i}" for i in range(TURNS)]
        lost += len(set(expected) - set(users))
        duplicated += len(users) - len(set(users))
        assert users == expected, f"seed {seed}"
        assert state["totalMessages"] == 1 + 4 * TURNS, f"seed {seed}"
        effects = Counter(r["taskDescription"] for r in todos.query_entities(f"PartitionKey eq '{chat}'"))
        repeated_effects += sum(n - 1 for n in effects.values() if n > 1)
        missing_effects += sum(1 for i in range(TURNS) if effects[f"todo {chat} {i}"] == 0)
    before = _store_size(host.devhost.data_dir)
    purge = httpx.post(f"{host.devhost.base_url}/admin/functions/cleanup", params={"wait": "true"})
    assert purge.status_code == 200, (purge.text, host.devhost.log_text()[-4000:])
    after = _store_size(host.devhost.data_dir)
    figures = {
        "seed": seed,
        "turns": CHATS * TURNS,
        "seconds": round(elapsed, 1),
        "kills": dict(kills),
        "client retries": dict(stats),
        "lost": lost,
        "duplicated": duplicated,
        "repeated effects": repeated_effects,
        "missing effects": missing_effects,
        "store bytes before purge": before,
        "after purge": after,
    }
    print("soak:", json.dumps(figures))
    assert sum(kills.values()) >= 5, figures
    assert (lost, duplicated, repeated_effects, missing_effects) == (0, 0, 0, 0), figures
    assert after < before, figures
