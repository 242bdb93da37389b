"""Durable work items per chat turn, counted by devhost.

    python -m bench.work_items [--turns 10]

Runs the assistant stack of `bench.assistant_turns` (devhost, Azurite, the scripted model at 0 ms)
and, for each kind of turn, reads devhost's work-item counters
(`GET /admin/host/durable/workitems`: orchestrator episodes, entity batches and operations, messages
to orchestrations and entities, activity executions, timers, external events) before and after it,
once the counts have settled (the turn's orchestration may still be finishing after its reply).
Kinds of turn: a text turn; a turn with one tool call; one with five parallel tool calls; and a
turn sent while another of its chat runs (queued): the pair's count less a text turn's.
Each figure is the mean over `--turns` turns. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence

import aiohttp

from bench.assistant_stack import AssistantClient, assistant_stack, sleep_message
from bench.durable_results import machine_info

__all__ = ["main"]

WORK_ITEMS_PATH = "/admin/host/durable/workitems"
KINDS = ("text turn", "1 tool call", "5 parallel tool calls", "queued behind another")


async def _counts(session: aiohttp.ClientSession) -> Counter[str]:
    async with session.get(WORK_ITEMS_PATH) as response:
        return Counter(await response.json())


async def _settled(session: aiohttp.ClientSession, quiet: float = 0.15) -> Counter[str]:
    """The counts once they have not changed for `quiet` seconds."""
    last, since = await _counts(session), time.monotonic()
    while time.monotonic() - since < quiet:
        await asyncio.sleep(0.02)
        now = await _counts(session)
        if now != last:
            last, since = now, time.monotonic()
    return last


async def _measure(base_url: str, turns: int) -> dict[str, Counter[str]]:
    client = AssistantClient(base_url, 8)
    totals: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    async with aiohttp.ClientSession(base_url=base_url) as session:
        try:
            for _ in range(turns):
                for kind, message in (("text turn", "hello"), ("1 tool call", sleep_message(1, 0)),
                                      ("5 parallel tool calls", sleep_message(5, 0))):
                    chat = f"bench-items-{uuid.uuid4().hex[:10]}"
                    await client.create_chat(chat)
                    await client.turn(chat, "warm-up")  # the chat's first turn is not what later turns cost
                    before = await _settled(session)
                    await client.turn(chat, message)
                    totals[kind] += await _settled(session) - before
                chat = f"bench-items-{uuid.uuid4().hex[:10]}"
                await client.create_chat(chat)
                await client.turn(chat, "warm-up")
                before = await _settled(session)
                await asyncio.gather(client.turn(chat, "first"), client.turn(chat, "second"))
                totals["queued behind another"] += await _settled(session) - before
        finally:
            await client.close()
    text = totals["text turn"]
    pair = totals["queued behind another"]
    totals["queued behind another"] = Counter({k: pair[k] - text[k] for k in pair if pair[k] - text[k] > 0})
    return {kind: Counter({k: v / turns for k, v in counts.items()}) for kind, counts in totals.items()}


def report(results: dict[str, Counter[str]], turns: int) -> str:
    rows = sorted({k for counts in results.values() for k in counts})
    lines = ["## Durable work items per turn (devhost's counters)", "", *machine_info(), "",
             f"Mean over {turns} turns of each kind (after each chat's first turn); the queued turn is a pair sent "
             "at once on one chat less a text turn.", "",
             "| work item | " + " | ".join(KINDS) + " |", "|---|" + "---:|" * len(KINDS)]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(f"{results[kind].get(row, 0):.1f}" for kind in KINDS) + " |")
    lines.append("| **all** | " + " | ".join(f"**{sum(results[kind].values()):.1f}**" for kind in KINDS) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.work_items", description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10, help="turns of each kind (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 turns of each kind")
    args = parser.parse_args(argv)
    turns = 3 if args.quick else args.turns
    with assistant_stack() as stack:
        results = asyncio.run(_measure(stack.base_url, turns))
    print(report(results, turns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
