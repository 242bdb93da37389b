"""The running parts of the assistant benchmark: the scripted model, Azurite and devhost.

`assistant_stack()` starts, on free ports and in a fresh temp dir, the scripted OpenAI-compatible
server (`tests/support/fake_openai.py`, zero latency, in a thread of this process), Azurite, and
`python -m devhost start` serving `bench/assistant_app` (the product's app plus the `Sleep`
skill), and stops them by PID afterwards. `AssistantClient` talks to the app's HTTP API over
aiohttp (a load generator that costs well under a millisecond of CPU per request, unlike httpx).
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.azurite import Azurite, start_azurite
from tests.support.devhost import DevhostProcess, start_devhost
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call
from tests.support.storage_proxy import StorageProxy

__all__ = ["APP_DIR", "AssistantClient", "Stack", "TurnTiming", "assistant_stack", "sleep_message"]

APP_DIR = Path(__file__).resolve().parent / "assistant_app"
"""The bench app: the product's `function_app.py` plus the `Sleep` skill."""
SLEEP_SKILL = "Sleep"
_SLEEP = re.compile(r"^sleep (\d+)x(\d+)$")


def sleep_message(calls: int, milliseconds: int) -> str:
    """The user message the scripted model answers with `calls` parallel `Sleep` calls."""
    return f"sleep {calls}x{milliseconds}"


def respond(body: dict[str, Any]) -> ScriptedReply:
    """The scripted model: `sleep NxMS` asks for N Sleep calls; after tool results, or otherwise, text."""
    last = body["messages"][-1]
    match = _SLEEP.match(str(last.get("content") or "")) if last.get("role") == "user" else None
    if match:
        calls, milliseconds = int(match.group(1)), int(match.group(2))
        return ScriptedReply(
            tool_calls=tuple(tool_call(SLEEP_SKILL, {"milliseconds": milliseconds}) for _ in range(calls))
        )
    return ScriptedReply(content="ok" if last.get("role") != "tool" else "slept")


@dataclass(frozen=True)
class TurnTiming:
    """One POST of a turn."""

    wall_ms: float
    """Client-observed time from sending the POST to reading the whole 200 answer."""
    body: dict[str, Any]
    """The JSON answer (`chatId`, `reply`, `recentMessages`, `instanceId`)."""


class AssistantClient:
    """The app's chat API over one aiohttp session."""

    def __init__(self, base_url: str, connections: int) -> None:
        self.base_url = base_url
        self._session = aiohttp.ClientSession(
            base_url=base_url,
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=300),
        )

    async def close(self) -> None:
        await self._session.close()

    async def create_chat(self, chat_id: str, instructions: str = "You are a benchmark assistant.") -> None:
        """PUT the chat (create or reset); waits until the entity applied it."""
        async with self._session.put(f"/api/chats/{chat_id}", json={"instructions": instructions}) as response:
            if response.status != 202:
                raise RuntimeError(f"PUT chat {chat_id}: {response.status} {await response.text()}")

    async def turn(self, chat_id: str, message: str) -> TurnTiming:
        """POST one message and wait for the 200 JSON reply; its wall time."""
        started = time.perf_counter()
        async with self._session.post(
            f"/api/chats/{chat_id}", json={"message": message}, headers={"Accept": "application/json"}
        ) as response:
            text = await response.text()
        wall_ms = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"POST chat {chat_id}: {response.status} {text[:500]}")
        return TurnTiming(wall_ms, json.loads(text))

    async def entity_state_bytes(self, chat_id: str) -> int:
        """Length of the chat entity's state as the durable management API returns it."""
        async with self._session.get(f"/runtime/webhooks/durabletask/entities/chat/{chat_id}") as response:
            body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"GET entity chat/{chat_id}: {response.status} {body[:300]!r}")
        return len(body)

    async def chat_total_messages(self, chat_id: str) -> int:
        """`totalMessages` of GET /api/chats/{id}."""
        async with self._session.get(f"/api/chats/{chat_id}") as response:
            body = await response.json()
        return int(body["totalMessages"])


@dataclass
class Stack:
    """The running benchmark parts."""

    model: FakeOpenAI
    azurite: Azurite
    devhost: DevhostProcess
    proxy: StorageProxy | None = None
    """The counting proxy in front of Azurite's Table service, when asked for (the app's tables go through it)."""

    @property
    def base_url(self) -> str:
        return self.devhost.base_url


@contextmanager
def assistant_stack(
    env: dict[str, str] | None = None,
    responder: Callable[[dict[str, Any]], ScriptedReply] = respond,
    count_tables: bool = False,
) -> Iterator[Stack]:
    """Scripted model + Azurite + devhost (fresh data dir, free ports); everything stopped after. `count_tables`
    puts a counting proxy in front of Azurite's Table service (`tests.support.storage_proxy`)."""
    with (
        tempfile.TemporaryDirectory(prefix="assistant-bench-") as tmp,
        FakeOpenAI(responder=responder) as model,
    ):
        azurite = start_azurite(Path(tmp) / "azurite")
        proxy = StorageProxy(azurite).start() if count_tables else None
        try:
            settings = {
                "AzureWebJobsStorage": proxy.connection_string if proxy is not None else azurite.connection_string,
                "OPENAI_BASE_URL": model.base_url,
                "OPENAI_API_KEY": "bench",
                "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt",
                "AZURE_OPENAI_ENDPOINT": "",
                "AZURE_OPENAI_KEY": "",
                "TODO_TABLE_NAME": "benchtodos",
                **(env or {}),
            }
            devhost = start_devhost(APP_DIR, data_dir=Path(tmp) / "devhost", env=settings)
            try:
                yield Stack(model=model, azurite=azurite, devhost=devhost, proxy=proxy)
            finally:
                devhost.stop()
        finally:
            if proxy is not None:
                proxy.stop()
            azurite.stop()
