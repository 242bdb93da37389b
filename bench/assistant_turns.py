"""Assistant turn benchmark: what the app adds on top of the model, through devhost over real HTTP.

    python -m bench.assistant_turns [--samples 200] [--chats 50] [--turns 1000] [--tool-runs 10] [--quick]

Runs devhost (subprocess, fresh SQLite data dir) serving `bench/assistant_app` (the product app
plus a `Sleep` skill), Azurite, and the scripted OpenAI-compatible model at zero latency (it
answers at once; its own handling, ~1 ms, counts as overhead here). Measures:

1. per-turn overhead: `--samples` text-only turns one after another on one chat; each turn's
   POST wall time (model latency is zero, so this is all overhead) p50/p95;
2. turns/s with `--chats` chats in parallel, each sending its turns one after another;
3. one chat grown to `--turns` turns as fast as it goes (one POST after another): overhead p50 of
   turns 1-20 against the last 20, and the chat entity's state size (bytes of
   `GET /runtime/webhooks/durabletask/entities/chat/{id}`) at turn 10 and at the last turn;
4. a turn whose model answer asks for 5 `Sleep` calls of 200 ms: wall time, and whether the calls
   overlapped (every call started before any ended, from the start/end times the skill records);
5. the CPU devhost's process and its worker process(es) used per turn during the parallel run
   (from `/proc`, Linux only).

Prints machine info and a markdown table, and writes both to `bench/results/assistant_turns.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.assistant_stack import AssistantClient, Stack, assistant_stack, sleep_message
from bench.cpu import child_pids, cpu_seconds
from bench.durable_results import machine_info, percentile, publish

__all__ = ["Results", "main", "parse_args"]

RESULTS = Path(__file__).resolve().parent / "results" / "assistant_turns.md"
WINDOW = 20
"""Turns averaged at each end of the long chat (turns 1-20 and the last 20)."""
TOOL_CALLS = 5
TOOL_MS = 200
WARMUP_TURNS = 20


@dataclass
class Results:
    """Everything one run measured."""

    samples: list[float] = field(default_factory=list)
    parallel_chats: int = 0
    parallel_turns: int = 0
    parallel_seconds: float = 0.0
    parallel_latencies: list[float] = field(default_factory=list)
    long_turns: list[float] = field(default_factory=list)
    state_early: int = 0
    state_late: int = 0
    long_messages: int = 0
    long_seconds: float = 0.0
    tool_walls: list[float] = field(default_factory=list)
    tool_overlapped: list[bool] = field(default_factory=list)
    devhost_cpu_seconds: float | None = None
    """CPU devhost's own process used during the parallel run (None where /proc is missing)."""
    worker_cpu_seconds: float | None = None
    """CPU its child processes (the worker processes running the app) used during the parallel run."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.assistant_turns", description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="sequential text turns for overhead (default 200)")
    parser.add_argument("--chats", type=int, default=50, help="chats in parallel for turns/s (default 50)")
    parser.add_argument("--turns-per-chat", type=int, default=20, help="turns each parallel chat sends (default 20)")
    parser.add_argument("--turns", type=int, default=1000, help="length the long chat is grown to (default 1000)")
    parser.add_argument("--tool-runs", type=int, default=10, help="turns with 5 x 200 ms tool calls (default 10)")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 40 samples, 10 chats x 5, 100 turns, 3 tool runs"
    )
    parser.add_argument(
        "--modes",
        default="worker",
        help="comma-separated: worker (the app in devhost's worker process, the default) and/or "
        "inprocess (DEVHOST_WORKER_PROCESS=0); several run one after the other, then a side-by-side table",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.chats, args.turns_per_chat, args.turns, args.tool_runs = 40, 10, 5, 100, 3
    if min(args.samples, args.chats, args.turns_per_chat, args.tool_runs) <= 0 or args.turns < 2 * WINDOW:
        parser.error(f"counts must be positive and --turns at least {2 * WINDOW}")
    return args


def _new_chat_id(label: str) -> str:
    return f"bench-{label}-{uuid.uuid4().hex[:10]}"


async def _overhead(client: AssistantClient, results: Results, samples: int) -> None:
    chat = _new_chat_id("overhead")
    await client.create_chat(chat)
    for i in range(WARMUP_TURNS):
        await client.turn(chat, f"warm-up {i}")
    chat = _new_chat_id("overhead")
    await client.create_chat(chat)
    for i in range(samples):
        results.samples.append((await client.turn(chat, f"hello {i}")).wall_ms)


def _cpu(pid: int) -> tuple[float | None, float | None]:
    """CPU seconds of devhost (`pid`) and of its children so far."""
    children = [cpu_seconds(c) for c in child_pids(pid)]
    return cpu_seconds(pid), sum(c for c in children if c is not None) if children else None


async def _parallel(
    client: AssistantClient, results: Results, chats: int, turns_per_chat: int, devhost_pid: int | None = None
) -> None:
    ids = [_new_chat_id("par") for _ in range(chats)]
    await asyncio.gather(*(client.create_chat(c) for c in ids))

    async def one_chat(chat: str) -> None:
        for i in range(turns_per_chat):
            results.parallel_latencies.append((await client.turn(chat, f"message {i}")).wall_ms)

    before = _cpu(devhost_pid) if devhost_pid else (None, None)
    started = time.perf_counter()
    await asyncio.gather(*(one_chat(c) for c in ids))
    results.parallel_seconds = time.perf_counter() - started
    after = _cpu(devhost_pid) if devhost_pid else (None, None)
    if before[0] is not None and after[0] is not None:
        results.devhost_cpu_seconds = after[0] - before[0]
    if before[1] is not None and after[1] is not None:
        results.worker_cpu_seconds = after[1] - before[1]
    results.parallel_chats, results.parallel_turns = chats, chats * turns_per_chat


async def _long_chat(client: AssistantClient, results: Results, turns: int) -> None:
    chat = _new_chat_id("long")
    await client.create_chat(chat)
    started = time.perf_counter()
    for i in range(1, turns + 1):
        results.long_turns.append((await client.turn(chat, f"turn {i}: tell me something")).wall_ms)
        if i == 10:
            results.state_early = await client.entity_state_bytes(chat)
        if i % 100 == 0:
            print(f"  long chat: {i}/{turns} turns, last {results.long_turns[-1]:.1f} ms", file=sys.stderr)
    results.long_seconds = time.perf_counter() - started
    results.state_late = await client.entity_state_bytes(chat)
    results.long_messages = await client.chat_total_messages(chat)
    expected = 1 + 2 * turns  # system + (user, assistant) per turn
    if results.long_messages != expected:
        raise RuntimeError(f"the long chat holds {results.long_messages} messages, expected {expected}")


async def _tools(client: AssistantClient, results: Results, runs: int) -> None:
    chat = _new_chat_id("tools")
    await client.create_chat(chat)
    for _ in range(runs):
        timing = await client.turn(chat, sleep_message(TOOL_CALLS, TOOL_MS))
        spans = [json.loads(m["content"]) for m in timing.body["recentMessages"] if m["role"] == "tool"]
        if len(spans) != TOOL_CALLS or any("startedAt" not in s for s in spans):
            raise RuntimeError(f"the tool turn did not run {TOOL_CALLS} Sleep calls: {timing.body}")
        results.tool_walls.append(timing.wall_ms)
        results.tool_overlapped.append(max(s["startedAt"] for s in spans) < min(s["endedAt"] for s in spans))


async def _run(stack: Stack, args: argparse.Namespace) -> Results:
    results = Results()
    client = AssistantClient(stack.base_url, connections=max(args.chats, 4))
    try:
        print("per-turn overhead ...", file=sys.stderr)
        await _overhead(client, results, args.samples)
        print(f"{args.chats} chats in parallel ...", file=sys.stderr)
        await _parallel(client, results, args.chats, args.turns_per_chat, stack.devhost.pid)
        print("tool turns ...", file=sys.stderr)
        await _tools(client, results, args.tool_runs)
        print(f"one chat grown to {args.turns} turns ...", file=sys.stderr)
        await _long_chat(client, results, args.turns)
    finally:
        await client.close()
    return results


def _p(samples: Sequence[float], pct: int) -> float:
    return percentile(list(samples), pct)


def _cpu_cell(results: Results) -> str:
    if results.devhost_cpu_seconds is None or not results.parallel_turns:
        return "not measured (no /proc)"
    text = f"devhost {results.devhost_cpu_seconds / results.parallel_turns * 1000:.1f} ms"
    if results.worker_cpu_seconds is not None:
        text += f", its worker(s) {results.worker_cpu_seconds / results.parallel_turns * 1000:.1f} ms"
    return text


def report(results: Results, args: argparse.Namespace) -> str:
    """Machine info and the results table, as markdown."""
    early, late = results.long_turns[:WINDOW], results.long_turns[-WINDOW:]
    ratio = _p(late, 50) / _p(early, 50)
    overlapped = sum(results.tool_overlapped)
    rows = [
        (
            "per-turn overhead p50 / p95 (text turn, model at 0 ms)",
            f"{_p(results.samples, 50):.1f} / {_p(results.samples, 95):.1f} ms",
            "p50 < 25 ms",
            f"{len(results.samples)} turns in a row on one chat",
        ),
        (
            f"turns/s, {results.parallel_chats} chats in parallel",
            f"{results.parallel_turns / results.parallel_seconds:.0f} turns/s",
            ">= 100",
            f"{results.parallel_turns} turns in {results.parallel_seconds:.1f} s; turn p50 / p95 "
            f"{_p(results.parallel_latencies, 50):.0f} / {_p(results.parallel_latencies, 95):.0f} ms",
        ),
        (
            f"overhead p50, turns 1-{WINDOW} vs {args.turns - WINDOW + 1}-{args.turns} of one chat",
            f"{_p(early, 50):.1f} vs {_p(late, 50):.1f} ms (x{ratio:.2f})",
            "<= x1.5",
            f"grown at {args.turns / results.long_seconds:.0f} turns/s; {results.long_messages} messages stored",
        ),
        (
            f"chat entity state, turn 10 vs turn {args.turns}",
            f"{results.state_early:,} vs {results.state_late:,} bytes",
            "flat",
            "GET .../entities/chat/{id} body length",
        ),
        (
            f"turn with {TOOL_CALLS} tool calls of {TOOL_MS} ms (p50 / max)",
            f"{_p(results.tool_walls, 50):.0f} / {max(results.tool_walls):.0f} ms",
            f"~{TOOL_MS} ms, not {TOOL_CALLS * TOOL_MS}",
            f"calls overlapped in {overlapped}/{len(results.tool_overlapped)} turns",
        ),
        (
            f"CPU per turn in the {results.parallel_chats}-chat run",
            _cpu_cell(results),
            "",
            "devhost's own process is bound by its GIL at about one core; the app runs in its worker process",
        ),
    ]
    lines = [
        "## Assistant turns (devhost + Azurite + scripted model at zero latency)",
        "",
        *machine_info(),
        "",
        "| measure | result | target | notes |",
        "|---|---:|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
    ]
    return "\n".join(lines)


MODES = {"worker": "1", "inprocess": "0"}


def compare(runs: list[tuple[str, Results]]) -> str:
    """The headline figures of each mode side by side."""
    lines = [
        "",
        "### Side by side",
        "",
        "| mode | overhead p50 | turns/s | 5 x 200 ms tool turn p50 | turn 1,000 vs 10 | CPU per turn |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for mode, results in runs:
        early, late = results.long_turns[:WINDOW], results.long_turns[-WINDOW:]
        lines.append(
            f"| {mode} | {_p(results.samples, 50):.1f} ms | {results.parallel_turns / results.parallel_seconds:.0f} | "
            f"{_p(results.tool_walls, 50):.0f} ms | x{_p(late, 50) / _p(early, 50):.2f} | {_cpu_cell(results)} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        print(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}", file=sys.stderr)
        return 2
    runs: list[tuple[str, Results]] = []
    for mode in modes:
        with assistant_stack({"DEVHOST_WORKER_PROCESS": MODES[mode]}) as stack:
            runs.append((mode, asyncio.run(_run(stack, args))))
    text = (
        "\n\n".join(f"**{mode}**\n\n{report(results, args)}" for mode, results in runs)
        if len(runs) > 1
        else report(runs[0][1], args)
    )
    if len(runs) > 1:
        text += "\n" + compare(runs)
    publish(text, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
