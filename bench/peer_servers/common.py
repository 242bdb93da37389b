"""What every peer shares: the chat API's HTTP shape, the `Sleep` tool, the prompt window, a SQLite chat table.

The API is the product's, reduced to what the benchmark drives: `PUT /api/chats/{id}` creates a chat
(202), `POST /api/chats/{id}` with `{"message": ...}` runs one turn and answers 200
`{"chatId", "reply", "recentMessages"}` (the turn's messages: user, assistant tool calls, tool
results, the answer), `GET /api/chats/{id}` answers `{"totalMessages"}` (instructions included, as
the product counts them). Turns of one chat run one at a time, in order (a lock per chat).

The model sees the instructions and the newest messages, at most `WINDOW` (64, the product's working
window), starting at a user message so a tool call is never cut from its results. It is offered one
tool, `Sleep` (the bench app's skill of known latency); its result records when it started and ended.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = [
    "MODEL",
    "SLEEP_TOOL",
    "WINDOW",
    "ChatStore",
    "Peer",
    "build_app",
    "message_dict",
    "sleep_result",
    "window",
]

MODEL = "fake-gpt"
WINDOW = 64
SLEEP_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "Sleep",
        "description": "Wait the given number of milliseconds (a benchmark tool of known latency).",
        "parameters": {
            "type": "object",
            "properties": {"milliseconds": {"type": "integer", "minimum": 0, "maximum": 10000}},
            "required": ["milliseconds"],
            "additionalProperties": False,
        },
    },
}


def sleep_result(call_id: str, arguments: str | dict[str, Any]) -> str:
    """Run `Sleep` (blocking, as the product's skill does in its activity): its JSON result."""
    args = json.loads(arguments) if isinstance(arguments, str) else arguments
    started = time.time()
    time.sleep(int(args["milliseconds"]) / 1000)
    return json.dumps({"toolCallId": call_id, "startedAt": started, "endedAt": time.time()})


def window(messages: Sequence[Any], role_of: Callable[[Any], str] = lambda m: m["role"]) -> list[Any]:
    """The newest messages, at most `WINDOW`, beginning at a user message."""
    tail = list(messages[-WINDOW:])
    for i, message in enumerate(tail):
        if role_of(message) == "user":
            return tail[i:]
    return []


def message_dict(message: Any) -> dict[str, Any]:
    """An OpenAI SDK assistant message as the chat-completions request shape."""
    out: dict[str, Any] = {"role": "assistant", "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in message.tool_calls
        ]
    return out


class ChatStore:
    """Chats and their messages in one SQLite file (WAL, synchronous=NORMAL, as devhost's store)."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS chats (chat TEXT PRIMARY KEY, instructions TEXT NOT NULL)")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS messages (chat TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,"
            " PRIMARY KEY (chat, seq))"
        )

    def create(self, chat: str, instructions: str) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM messages WHERE chat = ?", (chat,))
            self._conn.execute("INSERT OR REPLACE INTO chats VALUES (?, ?)", (chat, instructions))
            self._conn.execute("COMMIT")

    def load(self, chat: str) -> tuple[str, int, list[dict[str, Any]]] | None:
        """(instructions, next sequence number, the window's messages), or None for no such chat."""
        with self._lock:
            row = self._conn.execute("SELECT instructions FROM chats WHERE chat = ?", (chat,)).fetchone()
            if row is None:
                return None
            rows = self._conn.execute(
                "SELECT seq, body FROM messages WHERE chat = ? ORDER BY seq DESC LIMIT ?", (chat, WINDOW)
            ).fetchall()
        rows.reverse()
        next_seq = rows[-1][0] + 1 if rows else 0
        return row[0], next_seq, window([json.loads(body) for _, body in rows])

    def append(self, chat: str, first_seq: int, messages: Sequence[dict[str, Any]]) -> None:
        """Store a turn's messages at `first_seq`... in one transaction (again: no effect)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT OR IGNORE INTO messages VALUES (?, ?, ?)",
                [(chat, first_seq + i, json.dumps(m)) for i, m in enumerate(messages)],
            )
            self._conn.execute("COMMIT")

    def count(self, chat: str) -> int | None:
        with self._lock:
            if self._conn.execute("SELECT 1 FROM chats WHERE chat = ?", (chat,)).fetchone() is None:
                return None
            (n,) = self._conn.execute("SELECT COUNT(*) FROM messages WHERE chat = ?", (chat,)).fetchone()
        return 1 + int(n)

    def close(self) -> None:
        self._conn.close()


class Peer:
    """What a peer implements; `build_app` serves it."""

    async def create(self, chat: str, instructions: str) -> None:
        raise NotImplementedError

    async def turn(self, chat: str, message: str) -> list[dict[str, Any]] | None:
        """Run one turn; the turn's messages (OpenAI shape, user first), or None for no such chat."""
        raise NotImplementedError

    async def count(self, chat: str) -> int | None:
        raise NotImplementedError

    async def start(self) -> None:
        """Set-up before serving (inside the server's event loop)."""

    async def stop(self) -> None:
        """Tear-down after serving."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def build_app(peer: Peer) -> Starlette:
    """The chat API over `peer`; one turn per chat at a time."""
    locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def put_chat(request: Request) -> JSONResponse:
        chat = request.path_params["chat"]
        body = await request.json()
        await peer.create(chat, str(body.get("instructions") or "You are a helpful assistant."))
        return JSONResponse({"chatId": chat}, status_code=202)

    async def post_chat(request: Request) -> JSONResponse:
        chat = request.path_params["chat"]
        body = await request.json()
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message:
            return _error(400, "the body needs a non-empty string 'message'")
        async with locks[chat]:
            messages = await peer.turn(chat, message)
        if messages is None:
            return _error(404, f"no chat {chat}")
        return JSONResponse({"chatId": chat, "reply": messages[-1].get("content"), "recentMessages": messages})

    async def get_chat(request: Request) -> JSONResponse:
        chat = request.path_params["chat"]
        total = await peer.count(chat)
        if total is None:
            return _error(404, f"no chat {chat}")
        return JSONResponse({"chatId": chat, "totalMessages": total})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await peer.start()
        try:
            yield
        finally:
            await peer.stop()

    return Starlette(
        routes=[
            Route("/api/chats/{chat}", put_chat, methods=["PUT"]),
            Route("/api/chats/{chat}", post_chat, methods=["POST"]),
            Route("/api/chats/{chat}", get_chat, methods=["GET"]),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )
