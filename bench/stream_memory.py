"""What an open turn stream costs the worker process, and what a chat turn costs its CPU.

    python -m bench stream_memory [--steps 0,50,100,200] [--window 10] [--turns 120] [--parallel 8] [--quick]

The numbers behind the infra's `httpPerInstanceConcurrency` default (docs/deploy.md, "HTTP concurrency").
devhost serves the product app (`function_app.py`) with one worker process (`FUNCTIONS_WORKER_PROCESS_COUNT=1`,
one GIL: what one Flex Consumption instance runs), Azurite and the scripted OpenAI-compatible model, over real
HTTP. Two phases:

1. Open streams. Each stream is a POST with `Accept: text/event-stream` whose turn asks for `DeleteTodo`,
   which a person must approve: the turn waits (a durable timer and an event, no compute) and the stream
   stays open, polling the turn's event log as every open stream does. Streams are added step by step
   (`--steps`, cumulative) and, once all of a step's streams have said `approval.required` and settled,
   the worker's resident memory (VmRSS), its threads and the CPU it uses over `--window` seconds are read
   from /proc (devhost's own process too, the stand-in for the Functions host); then three text turns are
   timed one after the other while the streams stay open (what a new user meets on that instance).
2. Chat load. The streams are closed; `--turns` text turns (SSE, as the chat page sends them) run on
   `--parallel` chats at once; the worker's and devhost's CPU per turn, and the worker's share of one core.

Prints a markdown table and writes it to `bench/results/stream_memory.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.cpu import child_pids, cpu_seconds
from bench.durable_results import machine_info, publish
from tests.support.azurite import start_azurite
from tests.support.devhost import REPO_ROOT, DevhostProcess, start_devhost
from tests.support.fake_openai import FakeOpenAI, ScriptedReply, tool_call

__all__ = ["Load", "Step", "main", "report"]

RESULTS = Path(__file__).resolve().parent / "results" / "stream_memory.md"
WAIT = "please delete todo 1"
"""The message the scripted model answers with a `DeleteTodo` call: the turn then waits for a person."""


@dataclass(frozen=True)
class Step:
    """The processes with `streams` streams open and idle."""

    streams: int
    worker_rss_mb: float
    worker_threads: int
    worker_cpu_percent: float
    """Of one core, over the measuring window."""
    host_rss_mb: float
    host_cpu_percent: float
    turn_ms: float
    """Median wall time of a text turn (SSE POST to `turn.completed`) sent while the streams are open."""


@dataclass(frozen=True)
class Load:
    """`turns` text turns, `parallel` at a time."""

    turns: int
    parallel: int
    seconds: float
    worker_cpu_s: float
    host_cpu_s: float

    @property
    def worker_ms_per_turn(self) -> float:
        return self.worker_cpu_s * 1000 / self.turns

    @property
    def host_ms_per_turn(self) -> float:
        return self.host_cpu_s * 1000 / self.turns

    @property
    def worker_cpu_percent(self) -> float:
        return self.worker_cpu_s * 100 / self.seconds


@dataclass
class Streams:
    """The open streams: their reader tasks and when each saw `approval.required`."""

    waiting: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    ready: int = 0
    wanted: int = 0


def respond(body: dict[str, Any]) -> ScriptedReply:
    """`WAIT` asks for a DeleteTodo call (approval needed); everything else gets a short text answer."""
    last = body["messages"][-1]
    if last.get("role") == "user" and last.get("content") == WAIT:
        return ScriptedReply(tool_calls=(tool_call("DeleteTodo", {"todoId": "1"}),))
    return ScriptedReply(content="Done: the list is up to date.", token_delay=0.001)


def _status(pid: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MiB (VmRSS)."""
    return int(_status(pid)["VmRSS"].split()[0]) / 1024


def threads(pid: int) -> int:
    """Threads of process `pid`."""
    return int(_status(pid)["Threads"])


def worker_pid(devhost: DevhostProcess) -> int:
    """The one worker process devhost started (`python -m devhost.worker_main`)."""
    assert devhost.pid is not None
    for pid in child_pids(devhost.pid):
        if b"devhost.worker_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    raise RuntimeError("devhost has no worker process (is DEVHOST_WORKER_PROCESS=0 set?)")


async def _create(session: aiohttp.ClientSession, chat: str) -> None:
    async with session.put(f"/api/chats/{chat}", json={"instructions": "You keep a todo list."}) as response:
        if response.status != 202:
            raise RuntimeError(f"PUT {chat}: {response.status} {await response.text()}")


async def _events(response: aiohttp.ClientResponse) -> Any:
    """The `data:` payloads of an SSE response, as they come."""
    async for raw in response.content:
        line = raw.decode().strip()
        if line.startswith("data: "):
            yield json.loads(line[6:])


async def _hold(session: aiohttp.ClientSession, chat: str, streams: Streams) -> None:
    """Open one stream whose turn waits for an approval, and keep reading it (keep-alives) until cancelled."""
    async with session.post(
        f"/api/chats/{chat}", json={"message": WAIT}, headers={"Accept": "text/event-stream"}
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"POST {chat}: {response.status} {await response.text()}")
        async for event in _events(response):
            if event["type"] == "approval.required":
                streams.ready += 1
                if streams.ready >= streams.wanted:
                    streams.waiting.set()
            elif event["type"] in ("turn.failed", "turn.completed", "turn.cancelled"):
                raise RuntimeError(f"the waiting turn of {chat} ended: {event}")


async def _text_turn(session: aiohttp.ClientSession, chat: str, index: int) -> None:
    async with session.post(
        f"/api/chats/{chat}", json={"message": f"hello {index}"}, headers={"Accept": "text/event-stream"}
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"POST {chat}: {response.status} {await response.text()}")
        async for event in _events(response):
            if event["type"] == "turn.completed":
                return
            if event["type"] in ("turn.failed", "turn.cancelled"):
                raise RuntimeError(f"turn of {chat} ended: {event}")
    raise RuntimeError(f"the stream of {chat} closed before turn.completed")


def _cpu(pid: int) -> float:
    seconds = cpu_seconds(pid)
    if seconds is None:
        raise RuntimeError(f"no CPU time for process {pid} (this benchmark reads Linux's /proc)")
    return seconds


async def _probe(session: aiohttp.ClientSession, chat: str, samples: int = 3) -> float:
    """Median wall time of `samples` text turns on `chat`, one after the other, in milliseconds."""
    walls = []
    for index in range(samples):
        started = time.perf_counter()
        await _text_turn(session, chat, index + 1)
        walls.append((time.perf_counter() - started) * 1000)
    return sorted(walls)[len(walls) // 2]


async def _measure(
    session: aiohttp.ClientSession, probe: str, worker: int, host: int, streams: int, window: float, settle: float
) -> Step:
    await asyncio.sleep(settle)
    worker_before, host_before, started = _cpu(worker), _cpu(host), time.monotonic()
    await asyncio.sleep(window)
    elapsed = time.monotonic() - started
    worker_cpu, host_cpu = _cpu(worker), _cpu(host)
    return Step(
        streams=streams,
        worker_rss_mb=rss_mb(worker),
        worker_threads=threads(worker),
        worker_cpu_percent=(worker_cpu - worker_before) * 100 / elapsed,
        host_rss_mb=rss_mb(host),
        host_cpu_percent=(host_cpu - host_before) * 100 / elapsed,
        turn_ms=await _probe(session, probe),
    )


async def _load(session: aiohttp.ClientSession, worker: int, host: int, turns: int, parallel: int) -> Load:
    chats = [f"load-{uuid.uuid4().hex[:10]}" for _ in range(parallel)]
    for chat in chats:
        await _create(session, chat)
    for chat in chats:  # warm: the first turn of a chat creates its entity
        await _text_turn(session, chat, 0)
    counter = iter(range(turns))

    async def one_chat(chat: str) -> None:
        for index in counter:
            await _text_turn(session, chat, index + 1)

    worker_before, host_before, started = _cpu(worker), _cpu(host), time.monotonic()
    await asyncio.gather(*(one_chat(chat) for chat in chats))
    return Load(
        turns=turns,
        parallel=parallel,
        seconds=time.monotonic() - started,
        worker_cpu_s=_cpu(worker) - worker_before,
        host_cpu_s=_cpu(host) - host_before,
    )


async def _run(base_url: str, devhost: DevhostProcess, args: argparse.Namespace) -> tuple[list[Step], Load]:
    worker, host = worker_pid(devhost), devhost.pid
    assert host is not None
    most = max(args.steps)
    connector = aiohttp.TCPConnector(limit=most + args.parallel + 10)
    async with aiohttp.ClientSession(
        base_url=base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)
    ) as session:
        warm = f"warm-{uuid.uuid4().hex[:10]}"
        await _create(session, warm)
        await _text_turn(session, warm, 0)  # imports, clients and the first entity: not a stream's cost
        streams = Streams()
        steps: list[Step] = []
        opened = 0
        for target in sorted(args.steps):
            chats = [f"wait-{uuid.uuid4().hex[:10]}" for _ in range(target - opened)]
            for chat in chats:
                await _create(session, chat)
            streams.wanted, streams.waiting = target, asyncio.Event()
            if target > opened:
                streams.tasks.extend(asyncio.create_task(_hold(session, chat, streams)) for chat in chats)
                waiter = asyncio.create_task(streams.waiting.wait())
                done, _ = await asyncio.wait({waiter, *streams.tasks}, timeout=600, return_when=asyncio.FIRST_COMPLETED)
                failed = [t for t in done if t is not waiter and t.exception() is not None]
                if failed:
                    raise RuntimeError("a stream failed") from failed[0].exception()
                if waiter not in done:
                    raise RuntimeError(f"only {streams.ready} of {target} streams reached approval.required")
            opened = target
            step = await _measure(session, warm, worker, host, target, args.window, args.settle)
            steps.append(step)
            print(
                f"{target} streams: worker {step.worker_rss_mb:.1f} MiB, {step.worker_cpu_percent:.1f}% CPU, "
                f"{step.worker_threads} threads; devhost {step.host_rss_mb:.1f} MiB, {step.host_cpu_percent:.1f}% CPU; "
                f"a text turn {step.turn_ms:.0f} ms",
                file=sys.stderr,
            )
        for task in streams.tasks:
            task.cancel()
        await asyncio.gather(*streams.tasks, return_exceptions=True)
        await asyncio.sleep(args.settle)
        load = await _load(session, worker, host, args.turns, args.parallel)
    return steps, load


def report(steps: list[Step], load: Load, window: float) -> str:
    base = steps[0]
    lines = [
        *machine_info(),
        "",
        "devhost serving `function_app.py` with one worker process, Azurite, the scripted model. Open streams: SSE "
        "POSTs whose turns wait for an approval (no compute); each stream polls its turn's event log as every open "
        f"stream does. Memory after the step's streams settled; CPU over {window:.0f} s with them open and idle.",
        "",
        "| open streams | worker RSS MiB | worker RSS per stream KiB | worker threads | worker CPU % of a core "
        "| devhost RSS MiB | devhost CPU % of a core | a text turn meanwhile, ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for step in steps:
        per = (step.worker_rss_mb - base.worker_rss_mb) * 1024 / step.streams if step.streams else 0.0
        lines.append(
            f"| {step.streams} | {step.worker_rss_mb:.1f} | {per:.0f} | {step.worker_threads} "
            f"| {step.worker_cpu_percent:.1f} | {step.host_rss_mb:.1f} | {step.host_cpu_percent:.1f} "
            f"| {step.turn_ms:.0f} |"
        )
    lines += [
        "",
        f"Chat load: {load.turns} text turns over SSE, {load.parallel} chats at once, model at ~0 ms: "
        f"{load.turns / load.seconds:.1f} turns/s; worker CPU {load.worker_ms_per_turn:.1f} ms per turn "
        f"({load.worker_cpu_percent:.0f}% of one core while loaded); "
        f"devhost CPU {load.host_ms_per_turn:.1f} ms per turn.",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench stream_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="0,50,100,200", help="open streams at each step, cumulative")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of CPU measured at each step")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds waited before measuring a step")
    parser.add_argument("--turns", type=int, default=120, help="text turns of the chat-load phase")
    parser.add_argument("--parallel", type=int, default=8, help="chats at once in the chat-load phase")
    parser.add_argument("--quick", action="store_true", help="a smoke run: steps 0,10, 3 s windows, 16 turns")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.window, args.settle, args.turns, args.parallel = "0,10", 3.0, 1.0, 16, 4
    args.steps = sorted({int(s) for s in str(args.steps).split(",") if s.strip()})
    if not args.steps or args.steps[0] != 0 or args.window <= 0 or args.turns < 1 or args.parallel < 1:
        parser.error("steps must start at 0; window, turns and parallel must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stream-memory-") as tmp, FakeOpenAI(responder=respond) as model:
        azurite = start_azurite(Path(tmp) / "azurite")
        try:
            env = {
                "AzureWebJobsStorage": azurite.connection_string,
                "OPENAI_BASE_URL": model.base_url,
                "OPENAI_API_KEY": "bench",
                "CHAT_MODEL_DEPLOYMENT_NAME": "fake-gpt",
                "AZURE_OPENAI_ENDPOINT": "",
                "AZURE_OPENAI_KEY": "",
                "TODO_TABLE_NAME": "benchtodos",
                "FUNCTIONS_WORKER_PROCESS_COUNT": "1",
            }
            devhost = start_devhost(REPO_ROOT, data_dir=Path(tmp) / "devhost", env=env)
            try:
                steps, load = asyncio.run(_run(devhost.base_url, devhost, args))
            except Exception:
                tail = "\n".join(devhost.log_text().splitlines()[-60:])
                print(f"devhost's log, last lines:\n{tail}", file=sys.stderr)
                raise
            finally:
                devhost.stop()
        finally:
            azurite.stop()
    publish(report(steps, load, args.window), RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
