"""The floor: the turn in one request handler, the chat in SQLite, nothing durable.

The model is called, tool calls run in parallel threads, the model is called again, and the turn's
messages are written in one transaction at the end: a crash mid-turn loses the turn (and a retried
POST repeats the tools' effects). What durability is measured against.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from bench.peer_servers.common import MODEL, SLEEP_TOOL, ChatStore, Peer, message_dict, sleep_result

__all__ = ["PlainPeer", "build"]

MAX_ROUNDS = 8


class PlainPeer(Peer):
    def __init__(self, data_dir: Path, model_url: str) -> None:
        self._store = ChatStore(data_dir / "chats.sqlite")
        self._client = AsyncOpenAI(base_url=model_url, api_key="bench")

    async def create(self, chat: str, instructions: str) -> None:
        self._store.create(chat, instructions)

    async def turn(self, chat: str, message: str) -> list[dict[str, Any]] | None:
        loaded = self._store.load(chat)
        if loaded is None:
            return None
        instructions, next_seq, history = loaded
        new: list[dict[str, Any]] = [{"role": "user", "content": message}]
        for _ in range(MAX_ROUNDS):
            completion = await self._client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "system", "content": instructions}, *history, *new],  # type: ignore[list-item]
                tools=[SLEEP_TOOL],  # type: ignore[list-item]
            )
            answer = completion.choices[0].message
            new.append(message_dict(answer))
            if not answer.tool_calls:
                break
            results = await asyncio.gather(
                *(asyncio.to_thread(sleep_result, c.id, c.function.arguments) for c in answer.tool_calls)
            )
            new.extend({"role": "tool", "tool_call_id": c.id, "content": r} for c, r in zip(answer.tool_calls, results))
        self._store.append(chat, next_seq, new)
        return new

    async def count(self, chat: str) -> int | None:
        return self._store.count(chat)

    async def stop(self) -> None:
        await self._client.close()
        self._store.close()


def build(data_dir: Path, model_url: str) -> Peer:
    return PlainPeer(data_dir, model_url)
