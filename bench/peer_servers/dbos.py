"""DBOS Transact: one durable workflow per turn on a SQLite system database.

As DBOS documents an agent loop: an async `@DBOS.workflow()` whose model calls and tool calls are
`@DBOS.step()`s (the tool calls of one answer run concurrently with `asyncio.gather`), each step's
output checkpointed in the system database, so a crashed turn resumes where it stopped. The chat's
messages are application data in their own SQLite file (`common.ChatStore`), read and appended by
steps; the append is keyed by sequence number, so a resumed turn does not write twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from dbos import DBOS
from openai import AsyncOpenAI

from bench.peer_servers.common import MODEL, SLEEP_TOOL, ChatStore, Peer, message_dict, sleep_result

__all__ = ["DbosPeer", "build"]

MAX_ROUNDS = 8
_state: dict[str, Any] = {}


@DBOS.step()
async def load_chat(chat: str) -> tuple[str, int, list[dict[str, Any]]] | None:
    return _state["store"].load(chat)


@DBOS.step()
async def call_model(messages: list[dict[str, Any]]) -> dict[str, Any]:
    completion = await _state["client"].chat.completions.create(model=MODEL, messages=messages, tools=[SLEEP_TOOL])
    return message_dict(completion.choices[0].message)


@DBOS.step()
async def run_tool(call: dict[str, Any]) -> str:
    return await asyncio.to_thread(sleep_result, call["id"], call["function"]["arguments"])


@DBOS.step()
async def append(chat: str, first_seq: int, messages: list[dict[str, Any]]) -> None:
    _state["store"].append(chat, first_seq, messages)


@DBOS.workflow()
async def turn_workflow(chat: str, message: str) -> list[dict[str, Any]] | None:
    loaded = await load_chat(chat)
    if loaded is None:
        return None
    instructions, next_seq, history = loaded
    new: list[dict[str, Any]] = [{"role": "user", "content": message}]
    for _ in range(MAX_ROUNDS):
        answer = await call_model([{"role": "system", "content": instructions}, *history, *new])
        new.append(answer)
        calls = answer.get("tool_calls") or []
        if not calls:
            break
        results = await asyncio.gather(*(run_tool(c) for c in calls))
        new.extend({"role": "tool", "tool_call_id": c["id"], "content": r} for c, r in zip(calls, results))
    await append(chat, next_seq, new)
    return new


class DbosPeer(Peer):
    def __init__(self, data_dir: Path, model_url: str) -> None:
        self._data_dir = data_dir
        self._model_url = model_url

    async def start(self) -> None:
        _state["store"] = ChatStore(self._data_dir / "chats.sqlite")
        _state["client"] = AsyncOpenAI(base_url=self._model_url, api_key="bench")
        DBOS(
            config={
                "name": "peer-bench",
                "system_database_url": f"sqlite:///{self._data_dir / 'dbos.sqlite'}",
                "log_level": "WARNING",
            }
        )
        DBOS.launch()

    async def stop(self) -> None:
        DBOS.destroy()
        await _state["client"].close()
        _state["store"].close()

    async def create(self, chat: str, instructions: str) -> None:
        _state["store"].create(chat, instructions)

    async def turn(self, chat: str, message: str) -> list[dict[str, Any]] | None:
        return await turn_workflow(chat, message)

    async def count(self, chat: str) -> int | None:
        return _state["store"].count(chat)


def build(data_dir: Path, model_url: str) -> Peer:
    return DbosPeer(data_dir, model_url)
