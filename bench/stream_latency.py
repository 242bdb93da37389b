"""Live-turn benchmark: how much later than the model a streaming client sees the reply.

    python -m bench.stream_latency [--samples 30] [--streams 50] [--ttft 0.3] [--token-delay 0.02] [--words 40]
    [--quick]

devhost + Azurite + the scripted model streaming `--words` words, the first after `--ttft` seconds
and the next ones `--token-delay` apart, over real HTTP and the real `openai` client. Each turn is a
POST with `Accept: text/event-stream`. Measured per turn, with the model's own send times (the
scripted model runs in this process, so the clocks are the same):

- added time to the first delta: (first `message.delta` at the client - POST sent) - the model's TTFT;
- lag of the first delta behind the model's first token;
- added time from the model's last token to `turn.completed` at the client;
- the worst lag of any delta behind the model's piece it ends with (a stream that keeps up stays
  within one coalescing interval (`storage.event_log.writer.COALESCE_SECONDS`) plus a poll);

first `--samples` turns one after the other (alone), then `--streams` turns on as many chats, their starts
spread over `--stagger` seconds (default 1 s, about one turn's length: the streams overlap, as many users
would, rather than all starting in the same millisecond).
Prints a markdown table and writes it to `bench/results/stream_latency.md`.
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

import aiohttp

from bench.assistant_stack import assistant_stack
from bench.durable_results import machine_info, percentile, publish
from storage.event_log.writer import COALESCE_SECONDS
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

__all__ = ["Sample", "main", "parse_args", "report"]

RESULTS = Path(__file__).resolve().parent / "results" / "stream_latency.md"
TARGET_FIRST_ALONE = 30.0
TARGET_FIRST_LOADED = 100.0
COALESCE_MS = COALESCE_SECONDS * 1000


@dataclass
class Sample:
    """One streamed turn, in milliseconds."""

    added_first: float
    first_lag: float
    completed_after_last: float
    worst_delta_lag: float
    word_lag: float
    """The median over the reply's words of how long after the model sent a word the client had it."""


@dataclass
class Phase:
    samples: list[Sample] = field(default_factory=list)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--ttft", type=float, default=0.3)
    parser.add_argument("--token-delay", type=float, default=0.02)
    parser.add_argument("--words", type=int, default=40)
    parser.add_argument(
        "--stagger",
        type=float,
        default=1.0,
        help="the concurrent streams start spread evenly over this many seconds (0: all at once)",
    )
    parser.add_argument(
        "--wake",
        choices=("on", "off"),
        default="on",
        help="CHAT_LIVE_WAKE: off keeps the writer's events from its process's readers, which then poll storage "
        "as they do on Azure when the turn runs on another instance",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 samples, 10 streams")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.streams = 5, 10
    if args.samples < 1 or args.streams < 1 or args.words < 2 or args.ttft < 0 or args.token_delay < 0:
        parser.error("samples, streams and words must be positive, delays not negative")
    return args


async def _turn(session: aiohttp.ClientSession, model: FakeOpenAI, chat: str, message: str, ttft: float) -> Sample:
    sent = time.monotonic()
    first: float | None = None
    deltas: list[tuple[float, int]] = []
    text = 0
    completed: float | None = None
    async with session.post(
        f"/api/chats/{chat}", json={"message": message}, headers={"Accept": "text/event-stream"}
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"POST {chat}: {response.status} {await response.text()}")
        async for raw in response.content:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            now = time.monotonic()
            if event["type"] == "message.delta":
                first = first or now
                text += len(event["text"])
                deltas.append((now, text))
            elif event["type"] == "message.reset":
                text = 0
            elif event["type"] in ("turn.completed", "turn.failed"):
                completed = now
                if event["type"] == "turn.failed":
                    raise RuntimeError(f"turn failed: {event}")
                break
    pieces = model.piece_times[message]
    assert first is not None and completed is not None and pieces
    worst = 0.0
    for arrived, length in deltas:
        sent_at = next(t for t, so_far in pieces if so_far >= length)
        worst = max(worst, arrived - sent_at)
    words = sorted(next(arrived for arrived, length in deltas if length >= so_far) - t for t, so_far in pieces)
    return Sample(
        added_first=((first - sent) - ttft) * 1000,
        first_lag=(first - pieces[0][0]) * 1000,
        completed_after_last=(completed - pieces[-1][0]) * 1000,
        worst_delta_lag=worst * 1000,
        word_lag=words[len(words) // 2] * 1000,
    )


async def _run(args: argparse.Namespace) -> tuple[Phase, Phase]:
    content = " ".join(f"word{i}" for i in range(args.words))
    with assistant_stack({"CHAT_LIVE_WAKE": args.wake}) as stack:
        stack.model.responder = lambda body: ScriptedReply(
            content=content, delay=args.ttft, token_delay=args.token_delay
        )
        connector = aiohttp.TCPConnector(limit=args.streams + 10)
        async with aiohttp.ClientSession(
            base_url=stack.base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=300)
        ) as session:
            chats = [f"s-{uuid.uuid4().hex[:10]}" for _ in range(max(args.streams, 1))]
            for chat in chats:
                async with session.put(f"/api/chats/{chat}", json={}) as response:
                    assert response.status == 202, await response.text()
            alone = Phase()
            await _turn(session, stack.model, chats[0], "warm up", args.ttft)
            for index in range(args.samples):
                alone.samples.append(await _turn(session, stack.model, chats[0], f"alone {index}", args.ttft))
            loaded = Phase()

            async def later(index: int, chat: str) -> Sample:
                await asyncio.sleep(args.stagger * index / args.streams)
                return await _turn(session, stack.model, chat, f"loaded {chat}", args.ttft)

            loaded.samples = list(
                await asyncio.gather(*(later(i, chat) for i, chat in enumerate(chats[: args.streams])))
            )
    return alone, loaded


def _p(values: list[float]) -> str:
    return f"{percentile(values, 50):.1f} / {percentile(values, 95):.1f}"


def report(args: argparse.Namespace, alone: Phase, loaded: Phase) -> str:
    """The markdown table of both phases."""
    rows = [
        (
            "added time to first delta, p50 / p95 (ms)",
            "added_first",
            f"p50 < {TARGET_FIRST_ALONE:g} alone, < {TARGET_FIRST_LOADED:g} with {args.streams}",
        ),
        ("first delta behind the model's first token, p50 / p95 (ms)", "first_lag", ""),
        ("model's last token to turn.completed, p50 / p95 (ms)", "completed_after_last", ""),
        (
            "worst delta behind the model, p50 / p95 (ms)",
            "worst_delta_lag",
            f"within one interval ({COALESCE_MS:g} ms) + a poll",
        ),
        ("each word behind the model (median of a turn), p50 / p95 (ms)", "word_lag", "p50 < 300 (issue 24)"),
    ]
    lines = [
        f"Scripted model: TTFT {args.ttft * 1000:g} ms, {args.words} words {args.token_delay * 1000:g} ms apart; "
        f"{args.samples} turns alone, {args.streams} at once "
        f"(started over {args.stagger:g} s, so all stream together); `CHAT_LIVE_WAKE={args.wake}`"
        + (" (readers poll storage, as across instances on Azure)." if args.wake == "off" else "."),
        "",
        f"| measure | alone | {args.streams} streams at once | target |",
        "|---|---:|---:|---|",
    ]
    for label, attribute, target in rows:
        first = [getattr(s, attribute) for s in alone.samples]
        second = [getattr(s, attribute) for s in loaded.samples]
        lines.append(f"| {label} | {_p(first)} | {_p(second)} | {target} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    alone, loaded = asyncio.run(_run(args))
    text = "\n".join(machine_info()) + "\n\n" + report(args, alone, loaded) + "\n"
    publish(text, RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
