"""Where a turn's CPU goes: py-spy profiles of devhost and its worker under the 50-chat load.

    python -m bench profile_turns [--chats 50] [--turns-per-chat 40] [--seconds 25] [--env NAME=VALUE ...]

Starts the assistant stack of `bench.assistant_turns` (devhost, Azurite, the scripted model at 0 ms),
warms it up, then records devhost's process and each worker process with `py-spy record --gil` (only
the thread holding the GIL is sampled: for a process bound by its GIL that is where its CPU goes) while
`--chats` chats send their turns. py-spy comes with the peers' environment (`.venv-peers`, created by
`bench peers`' set-up). Writes the raw (collapsed) stacks to `bench/results/profile-<process>.txt` (for
a flame graph: any collapsed-stack viewer) and prints, per process, the share of samples in each part of
a turn, and the turns/s and CPU per turn of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.assistant_stack import AssistantClient, assistant_stack
from bench.assistant_turns import Results, _parallel
from bench.cpu import child_pids
from bench.peers import PEERS_VENV, peers_python

__all__ = ["CATEGORIES", "categorize", "main"]

RESULTS = Path(__file__).resolve().parent / "results"
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model activity: turn event log writes", ("append_events", "insert_events", "read_events")),
    ("model activity: the openai client", ("ask_model", "_ask_streaming.<locals>.run")),
    ("model activity: the rest (prompt, tokens, telemetry)", ("chat_completion (activities",)),
    ("summary activity", ("summarize (activities",)),
    ("skill activities", ("skills/",)),
    ("orchestrator replays", ("run_orchestrator",)),
    ("entity batches", ("entities/chat.py", "run_entity", "entity_batch")),
    ("HTTP functions (the app's API)", ("api/turns.py", "api/chats.py", "function_app.py")),
    ("SQLite store", ("devhost/durable/store.py",)),
    ("worker channel and status cache", ("channel.py", "StatusCache", "workers.py")),
    ("durable engine: episodes, messages", ("devhost/durable/",)),
    ("HTTP serving (devhost)", ("devhost/server.py", "uvicorn", "httptools")),
    ("event loop and threads", ("_run_once", "concurrent/futures/thread.py")),
)
"""Parts of a turn, by a frame their stacks contain (the first that matches counts: the narrower parts come first)."""


def categorize(raw: str) -> Counter[str]:
    """Samples per part of a turn, from py-spy's raw (collapsed) output: `frame;frame;... count` per line."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        part = next((name for name, keys in CATEGORIES if any(k in stack for k in keys)), "other")
        counts[part] += int(number)
    return counts


def _table(name: str, counts: Counter[str]) -> list[str]:
    total = sum(counts.values()) or 1
    lines = [f"### {name} ({total:,} samples with the GIL)", "", "| part | share |", "|---|---:|"]
    lines += [f"| {part} | {n / total * 100:.1f}% |" for part, n in counts.most_common()]
    return lines + [""]


async def _run(base_url: str, devhost_pid: int, args: argparse.Namespace, py_spy: Path) -> str:
    client = AssistantClient(base_url, connections=args.chats + 10)
    try:
        await _parallel(client, Results(), args.chats, 4, devhost_pid)  # warm-up
        pids = {"devhost": devhost_pid, **{f"worker-{i}": pid for i, pid in enumerate(child_pids(devhost_pid), 1)}}
        recorders = {
            name: subprocess.Popen(
                [
                    str(py_spy),
                    "record",
                    "--gil",
                    "--nonblocking",
                    "-r",
                    "200",
                    "-d",
                    str(args.seconds),
                    "-f",
                    "raw",
                    "-o",
                    str(RESULTS / f"profile-{name}.txt"),
                    "-p",
                    str(pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for name, pid in pids.items()
        }
        time.sleep(1.0)
        results = Results()
        await _parallel(client, results, args.chats, args.turns_per_chat, devhost_pid)
        for name, recorder in recorders.items():
            _, error = recorder.communicate()
            if recorder.returncode != 0:
                raise RuntimeError(f"py-spy on {name} failed: {error.decode(errors='replace')[-500:]}")
    finally:
        await client.close()
    lines = [
        f"## Where a turn's CPU goes ({args.chats} chats, {results.parallel_turns} turns)",
        "",
        f"- {results.parallel_turns / results.parallel_seconds:.0f} turns/s; CPU per turn: devhost "
        f"{(results.devhost_cpu_seconds or 0) / results.parallel_turns * 1000:.1f} ms, its worker(s) "
        f"{(results.worker_cpu_seconds or 0) / results.parallel_turns * 1000:.1f} ms",
        "",
    ]
    for name in pids:
        lines += _table(name, categorize((RESULTS / f"profile-{name}.txt").read_text()))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench profile_turns", description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--turns-per-chat", type=int, default=40)
    parser.add_argument("--seconds", type=int, default=25, help="how long py-spy records (default 25)")
    parser.add_argument("--env", action="append", default=[], help="a devhost setting NAME=VALUE (repeatable)")
    parser.add_argument("--quick", action="store_true", help="10 chats x 5 turns, 5 s of recording")
    args = parser.parse_args(argv)
    if args.quick:
        args.chats, args.turns_per_chat, args.seconds = 10, 5, 5
    env = dict(item.split("=", 1) for item in args.env)
    py_spy = peers_python(None).parent / "py-spy"
    if not py_spy.exists():
        print(f"py-spy is missing from {PEERS_VENV.name}; delete it to have it made again", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    with assistant_stack(env) as stack:
        assert stack.devhost.pid is not None
        text = asyncio.run(_run(stack.base_url, stack.devhost.pid, args, py_spy))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
