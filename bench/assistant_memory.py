"""Long-chat memory benchmark (the turn benchmark's long chat, with summaries on and off).

    python -m bench.assistant_memory [--turns 1000] [--quick]

Grows one chat to `--turns` turns through devhost over real HTTP (the same stack as
`bench.assistant_turns`: scripted zero-latency model, Azurite, fresh SQLite), twice: with the running
summary on (`CHAT_SUMMARY=on`) and off. The model has an 8,192-token context window and a 512-token
completion cap (a prompt may take 7,424 tokens) and the working window holds 200 messages, so the
token budget, not the message count, decides what leaves the prompt. Each user message is ~100 tokens
of chatter; turn 3 says a fact ("remember: my name is Ada Lovelace"). Measures, at turns 10, 100 and
1,000 (the median of the ten turns ending there):

- per-turn overhead: the POST's wall time (the model answers at once, so all of it is overhead);
- model tokens per turn: the prompt of the turn's model call, counted exactly (tiktoken, the shipped
  encoding) over its messages and tools;
- whether that prompt still knows turn 3's fact (word for word or in the summary);
- summary calls per 100 turns (the extra model calls summaries cost) and their prompt tokens.

Prints a markdown table and writes it to `bench/results/assistant_memory.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.messages import ChatMessage, ToolCall
from assistant.tokens import count_message_tokens, token_counter, tools_tokens
from bench.assistant_stack import AssistantClient, assistant_stack
from bench.durable_results import machine_info, publish

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results" / "assistant_memory.md"
FACT = "remember: my name is Ada Lovelace"
FILLER = "we talked about the weather, the trains, the budget and the garden, and then some more " * 5
SETTINGS = {"CHAT_MODEL_CONTEXT_TOKENS": "8192", "CHAT_MAX_COMPLETION_TOKENS": "512", "CHAT_WORKING_MESSAGES": "200"}
BUDGET = 8192 - 512 - 256


@dataclass
class Run:
    """One chat grown with summaries on or off."""

    summary: bool
    walls: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    remembers: list[bool] = field(default_factory=list)
    summary_calls: int = 0
    summary_tokens: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _tokens(request: dict[str, Any]) -> int:
    count = token_counter("fake-gpt")
    total = tools_tokens(request.get("tools") or [], count)
    for wire in request["messages"]:
        calls = tuple(
            ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in wire.get("tool_calls") or ()
        )
        total += count_message_tokens(
            ChatMessage(role=wire["role"], content=wire.get("content") or "", tool_calls=calls), count
        )
    return total


async def _grow(base_url: str, run: Run, turns: int, requests: list[dict[str, Any]]) -> None:
    client = AssistantClient(base_url, 4)
    try:
        chat = f"bench-memory-{uuid.uuid4().hex[:10]}"
        await client.create_chat(chat)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for index in range(1, turns + 1):
            message = f"turn {index}: " + (FACT if index == 3 else FILLER)
            seen = len(requests)
            run.walls.append((await client.turn(chat, message)).wall_ms)
            prompt = requests[seen]
            run.prompt_tokens.append(_tokens(prompt))
            run.remembers.append(any("Ada Lovelace" in (m.get("content") or "") for m in prompt["messages"]))
        run.seconds = loop.time() - started
    finally:
        await client.close()


def _one(summary: bool, turns: int) -> Run:
    run = Run(summary=summary)
    with assistant_stack({**SETTINGS, "CHAT_SUMMARY": "on" if summary else "off"}) as stack:
        asyncio.run(_grow(stack.base_url, run, turns, stack.model.requests))
        run.summary_calls = len(stack.model.summary_requests)
        run.summary_tokens = [_tokens(r) for r in stack.model.summary_requests]
    return run


def _at(values: Sequence[float], turn: int) -> float:
    return statistics.median(values[max(turn - 10, 0) : turn])


def report(runs: list[Run], turns: int) -> str:
    marks = [t for t in (10, 100, 1000) if t <= turns] or [turns]
    lines = [
        *machine_info(),
        "",
        f"One chat grown to {turns} turns; context window 8,192, completion cap 512 (prompt budget {BUDGET:,} tokens), "
        "working window 200 messages, ~100-token user messages, model at 0 ms. "
        "Medians of the ten turns ending at each mark.",
        "",
        "| summaries | "
        + " | ".join(f"overhead ms @{t}" for t in marks)
        + " | "
        + " | ".join(f"prompt tokens @{t}" for t in marks)
        + " | knows turn 3 @"
        + str(marks[-1])
        + " | summary calls /100 turns | summary prompt tokens (median) | run s |",
        "|---|" + "---|" * (2 * len(marks) + 4),
    ]
    for run in runs:
        per_100 = run.summary_calls * 100 / turns
        lines.append(
            f"| {'on' if run.summary else 'off'} | "
            + " | ".join(f"{_at(run.walls, t):.1f}" for t in marks)
            + " | "
            + " | ".join(f"{_at(run.prompt_tokens, t):,.0f}" for t in marks)
            + f" | {'yes' if run.remembers[marks[-1] - 1] else 'no'} | {per_100:.1f} | "
            + (f"{statistics.median(run.summary_tokens):,.0f}" if run.summary_tokens else "-")
            + f" | {run.seconds:.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.assistant_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000, help="turns the chat is grown to (default 1000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of 120 turns")
    args = parser.parse_args(argv)
    turns = 120 if args.quick else args.turns
    runs = [_one(True, turns), _one(False, turns)]
    text = report(runs, turns)
    publish(text, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
