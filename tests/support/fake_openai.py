"""A scripted OpenAI-compatible chat-completions server for tests, reached over real HTTP.

Each test scripts what the "model" answers: a queue of replies (text or tool calls), each of
which can be slow (`delay`, long enough for the client's timeout), fail (`status`, `retry_after`)
or drop the connection mid-answer (`drop`); or a `responder` function that picks the reply from
the request (for concurrent chats); or `fallback_text` answered when nothing else is scripted. Every request received is
recorded, so
tests can check the prompts and tools that were sent.

Requests to fold a chat's summary (their instructions begin with `assistant.memory.SUMMARY_MARKER`) never
take a scripted reply: they are answered by rule (`fold_summary`: the summary so far, plus each user message of
the fold that says "remember", and which messages it folded), recorded in `summary_requests`, or fail with
`summary_status` while it is set. It runs uvicorn in a thread on a socket
bound to a free loopback port.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from assistant.memory import SUMMARY_MARKER

__all__ = ["FakeOpenAI", "ScriptedReply", "fold_summary", "tool_call"]


@dataclass(frozen=True)
class ScriptedReply:
    """One scripted answer of the fake model."""

    content: str = ""
    tool_calls: tuple[dict[str, Any], ...] = ()
    """Each `{"id", "name", "arguments"}` (arguments as JSON text)."""
    delay: float = 0.0
    """Seconds to wait before answering."""
    status: int = 200
    """Non-200: answer with an OpenAI-style error body instead."""
    retry_after: float | None = None
    """`Retry-After` header (seconds) on an error answer."""
    usage: tuple[int, int] = (10, 5)
    """(prompt_tokens, completion_tokens)."""
    drop: bool = False
    """Start a response, then close the connection before it is complete (a connection error)."""
    raw: bytes | None = None
    """Answer 200 with exactly these bytes as an `application/json` body (e.g. not JSON, or no `choices`)."""
    token_delay: float = 0.0
    """Streamed answers: seconds between two pieces of text (the time to the first one is `delay`)."""
    drop_after: int | None = None
    """Streamed answers: break the connection off after this many pieces of text."""
    end_after: int | None = None
    """Streamed answers: end the body cleanly after this many pieces of text (no `finish_reason`, no `[DONE]`):
    a stream cut short by a proxy or a server that gave up. Not streamed: the text of that many words with a null
    `finish_reason` (a server that gave up before finishing)."""
    finish_reason: str | None = None
    """The answer's `finish_reason` (default: `stop`, or `tool_calls`); `""` sends none (null when not streamed)."""


def fold_summary(body: dict[str, Any]) -> str:
    """The scripted model's summary: the summary so far, then `- folded a-b` (the messages folded; merged into the last
    line when it says `- folded x-(a-1)`, so the line stays short) and `- <message>`
    for each of their user messages that says "remember", so a test can read from a summary which messages were
    folded into it, and how often, and which facts it must carry."""
    text = str(body["messages"][-1]["content"])
    previous, _, transcript = text.partition("\n\nNew messages to fold in")
    previous = previous.removeprefix("Summary so far:\n").strip()
    lines = [] if previous == "(none yet)" else previous.splitlines()
    header, *messages = transcript.splitlines()
    fold = re.search(r"messages (\d+) to (\d+)", header)
    start, end = (int(fold.group(1)), int(fold.group(2))) if fold else (0, 0)
    last = re.fullmatch(r"- folded (\d+)-(\d+)", lines[-1]) if lines else None
    if last and int(last.group(2)) + 1 == start:  # contiguous with the fold before: one line says both
        lines[-1] = f"- folded {last.group(1)}-{end}"
    else:
        lines.append(f"- folded {start}-{end}")
    for line in messages:
        if line.startswith("[user] ") and "remember" in line.lower():
            lines.append("- " + line.removeprefix("[user] "))
    return "\n".join(lines)


def tool_call(name: str, arguments: dict[str, Any] | str, call_id: str | None = None) -> dict[str, Any]:
    """A tool call for `ScriptedReply.tool_calls`."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id or f"call_{name}_{next(_ids)}", "name": name, "arguments": text}


_ids = itertools.count(1)


def _finish(reply: ScriptedReply) -> str:
    """The reply's `finish_reason` ("" for none)."""
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls else "stop"


class _AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped, as many servers send it: a lone surrogate in a reply travels as `\\ud800`."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content).encode("ascii")


class _AsgiEndpoint:
    """Wraps a bound method so starlette's `Route` treats it as an ASGI app, not a request handler."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Any]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@dataclass
class FakeOpenAI:
    """The server: script it, start it, point `OPENAI_BASE_URL` at `base_url`."""

    responder: Callable[[dict[str, Any]], ScriptedReply] | None = None
    """Used when the queue is empty: picks a reply from the request body."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Every chat-completions request body received, in order."""
    fallback_text: str | None = None
    """Answered as plain text when the queue is empty and there is no responder (else a 500)."""
    piece_times: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    """Streamed answers: for each request's last user message, when (time.monotonic) each piece of text was sent,
    with the length of the text sent so far (for benchmarks measuring how far a stream lags behind)."""
    summary_requests: list[dict[str, Any]] = field(default_factory=list)
    """Every summary request received, in order (not in `requests`)."""
    summary_status: int = 200
    """Non-200: summary requests fail with this status."""
    summary_delay: float = 0.0
    """Seconds a summary answer takes."""
    _queue: deque[ScriptedReply] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _socket: socket.socket | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. `http://127.0.0.1:54321/v1`."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: ScriptedReply) -> FakeOpenAI:
        """Queue replies, answered in order."""
        with self._lock:
            self._queue.extend(replies)
        return self

    def reply(self, content: str, *, delay: float = 0.0, token_delay: float = 0.0) -> FakeOpenAI:
        """Queue a text reply (streamed word by word `token_delay` apart when the client streams)."""
        return self.script(ScriptedReply(content=content, delay=delay, token_delay=token_delay))

    def call_tools(self, *calls: dict[str, Any], delay: float = 0.0) -> FakeOpenAI:
        """Queue a reply asking for tool calls (made with `tool_call`)."""
        return self.script(ScriptedReply(tool_calls=tuple(calls), delay=delay))

    def fail(self, status: int, *, retry_after: float | None = None, delay: float = 0.0, times: int = 1) -> FakeOpenAI:
        """Queue `times` error answers with HTTP `status` (and a `Retry-After` header if given)."""
        return self.script(*[ScriptedReply(status=status, retry_after=retry_after, delay=delay)] * times)

    def drop(self, *, times: int = 1) -> FakeOpenAI:
        """Queue `times` answers that break off the connection mid-response."""
        return self.script(*[ScriptedReply(drop=True)] * times)

    def stall(self, seconds: float, *, times: int = 1) -> FakeOpenAI:
        """Queue `times` answers that take `seconds` (past the client's timeout, the client gives up)."""
        return self.script(*[ScriptedReply(content="too late", delay=seconds)] * times)

    def reset(self) -> FakeOpenAI:
        """Forget the script, the responder, the fallback and the recorded requests (between tests sharing a server)."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.piece_times.clear()
            self.summary_requests.clear()
        self.summary_status, self.summary_delay = 200, 0.0
        self.responder = None
        self.fallback_text = None
        return self

    def pending(self) -> int:
        """Scripted replies not yet used."""
        with self._lock:
            return len(self._queue)

    def _next(self, body: dict[str, Any]) -> ScriptedReply:
        messages = body.get("messages") or [{}]
        if str(messages[0].get("content") or "").startswith(SUMMARY_MARKER):
            with self._lock:
                self.summary_requests.append(body)
            if self.summary_status != 200:
                return ScriptedReply(status=self.summary_status, delay=self.summary_delay)
            return ScriptedReply(content=fold_summary(body), delay=self.summary_delay)
        with self._lock:
            self.requests.append(body)
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        if self.fallback_text is not None:
            return ScriptedReply(content=self.fallback_text)
        return ScriptedReply(status=500, content="the fake model has no scripted reply left")

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The completions endpoint as a raw ASGI app, so a reply can break off the connection."""
        request = Request(scope, receive)
        body = await request.json()
        reply = self._next(body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.drop:
            headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"id": "chatcmpl-', "more_body": True})
            raise ConnectionAbortedError("scripted dropped connection")  # uvicorn closes the connection
        if body.get("stream") and reply.status == 200 and reply.raw is None:
            response: Response = StreamingResponse(self._chunks(body, reply), media_type="text/event-stream")
        else:
            response = self._response(body, reply)
        await response(scope, receive, send)

    async def _chunks(self, body: dict[str, Any], reply: ScriptedReply) -> Any:
        """The answer as `chat.completion.chunk` events: the text word by word, tool calls in pieces, usage last."""
        ident, created, model = f"chatcmpl-{next(_ids)}", int(time.time()), body.get("model", "fake")

        def chunk(
            delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None
        ) -> bytes:
            data: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None:
                data["usage"] = usage
            return b"data: " + json.dumps(data).encode("ascii") + b"\n\n"

        yield chunk({"role": "assistant", "content": ""})
        users = [m.get("content") for m in body.get("messages", []) if m.get("role") == "user"]
        times = self.piece_times.setdefault(str(users[-1]) if users else "", [])
        sent = 0
        for index, piece in enumerate(re.findall(r"\s*\S+\s*|\s+", reply.content)):
            if reply.drop_after is not None and index >= reply.drop_after:
                raise ConnectionAbortedError("scripted dropped stream")
            if reply.end_after is not None and index >= reply.end_after:
                return
            if index and reply.token_delay:
                await asyncio.sleep(reply.token_delay)
            sent += len(piece)
            times.append((time.monotonic(), sent))
            yield chunk({"content": piece})
        if reply.end_after is not None:
            return  # fewer pieces than `end_after`: the body ends all the same
        for index, call in enumerate(reply.tool_calls):
            head = {
                "index": index,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": ""},
            }
            yield chunk({"tool_calls": [head]})
            arguments = call["arguments"]
            for start in range(0, len(arguments), 7):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[start : start + 7]}}]})
        finish = _finish(reply)
        if finish:
            yield chunk({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt, completion = reply.usage
            yield chunk(
                None,
                usage={"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
            )
        yield b"data: [DONE]\n\n"

    def _response(self, body: dict[str, Any], reply: ScriptedReply) -> Response:
        if reply.raw is not None:
            return Response(reply.raw, media_type="application/json")
        if reply.status != 200:
            headers = {"Retry-After": f"{reply.retry_after:g}"} if reply.retry_after is not None else None
            error = {
                "error": {"message": reply.content or f"scripted failure {reply.status}", "type": "fake", "code": None}
            }
            return JSONResponse(error, status_code=reply.status, headers=headers)
        content, finish = reply.content, _finish(reply) or None
        if reply.end_after is not None:
            content, finish = " ".join(reply.content.split(" ")[: reply.end_after]), None
        message: dict[str, Any] = {"role": "assistant", "content": content or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in reply.tool_calls
            ]
        prompt, completion = reply.usage
        return _AsciiJSONResponse(
            {
                "id": f"chatcmpl-{next(_ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )

    def start(self) -> FakeOpenAI:
        """Listen on a free loopback port (the socket is bound here, so there is no race)."""
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", _AsgiEndpoint(self._asgi), methods=["POST"]),
                Route("/chat/completions", _AsgiEndpoint(self._asgi), methods=["POST"]),
            ]
        )
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets whose proto says TCP; with
        # proto 0, Nagle + delayed ACK add ~40 ms to every keep-alive answer (headers, then body).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
