"""The project against the peers a Python user would pick instead, on the same chat workload.

    python -m bench peers [--rounds 3] [--systems devhost,plain,langgraph,dbos] [--quick] [workload options]

Four systems serve the same chat API (`PUT`/`POST`/`GET /api/chats/{id}`) over real HTTP, each in
its own process(es) with its own fresh SQLite data, against the same scripted OpenAI-compatible model at
zero latency (`bench.assistant_stack.respond`, reached through the real `openai` client), driven by
the same load generator (`bench.assistant_turns`' phases over aiohttp):

- devhost: this project (devhost + its worker process + Azurite; the product's app plus `Sleep`);
- plain: Starlette + SQLite, not durable: the floor (`bench/peer_servers/plain.py`);
- langgraph: LangGraph StateGraph + ToolNode + SQLite checkpointer (`bench/peer_servers/langgraph.py`);
- dbos: DBOS Transact workflow per turn, steps for model and tools, SQLite system database
  (`bench/peer_servers/dbos.py`).

The peers' packages (`bench/peer_servers/requirements.txt`) go into `.venv-peers`, which this
benchmark creates on first use (`--peers-python` to use another interpreter). Systems run in
alternating rounds (every system once per round, in turn), so the VM's drift spreads over all of
them. Each round measures, per system: per-turn overhead p50 (sequential text turns on one chat),
turns/s with `--chats` chats in parallel, a turn of 5 parallel `Sleep` calls of 200 ms, one chat grown
to `--turns` turns (last 20 turns against the first 20, and what the store grew by on disk), and the
server's CPU per turn in the parallel run (its process and its children, from /proc). Prints one
table (each cell min-max over the rounds), the ratios against each peer, and the targets against the
plain service (issue 17), round by round; writes it to `bench/results/peers.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.assistant_stack import AssistantClient, assistant_stack, respond
from bench.assistant_turns import TOOL_CALLS, TOOL_MS, WINDOW, Results, _overhead, _parallel, _tools
from bench.durable_results import machine_info, percentile, publish
from tests.support.fake_openai import FakeOpenAI
from tests.support.ports import free_port

__all__ = ["SYSTEMS", "main", "parse_args"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "peers.md"
REQUIREMENTS = ROOT / "bench" / "peer_servers" / "requirements.txt"
PEERS_VENV = ROOT / ".venv-peers"
SYSTEMS = ("devhost", "plain", "langgraph", "dbos")
VARIANTS = {
    "devhost-noevents": {"CHAT_TURN_EVENTS": "off"},
    "devhost-2workers": {"FUNCTIONS_WORKER_PROCESS_COUNT": "2"},
}
"""devhost with other settings, on request (`--systems devhost,devhost-noevents,...`): without the live turn
event log (no streaming, as the peers), and with two worker processes (the app on both cores)."""
TARGETS = {
    "overhead": 2.5,  # devhost's overhead p50 at most 2.5x the plain service's
    "throughput": 0.75,  # devhost's turns/s at least 0.75x the plain service's
    "tools_ms": 25.0,  # devhost's 5-tool turn within 25 ms of the plain service's
    "cpu": 2.0,  # devhost's CPU per turn at most 2x the plain service's
    "long": 1.2,  # devhost's turn 1,000 within x1.2 of its first turns
}


@dataclass
class Run:
    """One system's figures in one round."""

    system: str
    results: Results
    store_growth: int = 0
    """Bytes the system's data directories grew by while the long chat was grown."""
    cpu_seconds: float = 0.0
    """Server CPU (process and children) during the parallel run."""

    @property
    def overhead(self) -> float:
        return percentile(self.results.samples, 50)

    @property
    def throughput(self) -> float:
        return self.results.parallel_turns / self.results.parallel_seconds

    @property
    def tools(self) -> float:
        return percentile(self.results.tool_walls, 50)

    @property
    def long_ratio(self) -> float:
        turns = self.results.long_turns
        return percentile(turns[-WINDOW:], 50) / percentile(turns[:WINDOW], 50)

    @property
    def cpu_per_turn_ms(self) -> float:
        return self.cpu_seconds / self.results.parallel_turns * 1000


@dataclass
class Served:
    """A running system: where it answers, its server pid, the directories its data lives in."""

    base_url: str
    pid: int
    data_dirs: list[Path] = field(default_factory=list)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench peers", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of {', '.join(SYSTEMS)}")
    parser.add_argument("--samples", type=int, default=200, help="sequential text turns for overhead (default 200)")
    parser.add_argument("--chats", type=int, default=50, help="chats in parallel for turns/s (default 50)")
    parser.add_argument("--turns-per-chat", type=int, default=20, help="turns each parallel chat sends (default 20)")
    parser.add_argument("--turns", type=int, default=1000, help="length the long chat is grown to (default 1000)")
    parser.add_argument("--tool-runs", type=int, default=10, help="turns with 5 x 200 ms tool calls (default 10)")
    parser.add_argument(
        "--peers-python",
        type=Path,
        default=None,
        help="the interpreter that runs the peers (default: .venv-peers, created on first use)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1 round, 40 samples, 10 chats x 5, 100 turns, 2 tool runs"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.samples, args.chats, args.turns_per_chat, args.turns, args.tool_runs = 1, 40, 10, 5, 100, 2
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in args.systems if s not in SYSTEMS and s not in VARIANTS]
    if unknown or not args.systems:
        parser.error(f"unknown system(s) {unknown}; choose from {', '.join((*SYSTEMS, *VARIANTS))}")
    if min(args.rounds, args.samples, args.chats, args.turns_per_chat, args.tool_runs) <= 0 or args.turns < 2 * WINDOW:
        parser.error(f"counts must be positive and --turns at least {2 * WINDOW}")
    return args


def peers_python(requested: Path | None) -> Path:
    """The interpreter with the peers' packages: `requested`, or `.venv-peers` (created or updated here)."""
    if requested is not None:
        return requested
    python = PEERS_VENV / "bin" / "python"
    marker = PEERS_VENV / f".installed-{hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]}"
    if marker.exists():
        return python
    if not python.exists():
        print(f"creating {PEERS_VENV.name} for the peers ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    print(f"installing {REQUIREMENTS.relative_to(ROOT)} into {PEERS_VENV.name} ...", file=sys.stderr)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "--quiet",
            "-r",
            str(REQUIREMENTS),
        ],
        check=True,
    )
    marker.touch()
    return python


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the peer exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(
        f"the peer did not answer {url} within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}"
    )


@contextmanager
def serve_peer(system: str, python: Path) -> Iterator[Served]:
    """The scripted model (in this process) and `python -m bench.peer_servers <system>`; stopped by PID after."""
    with tempfile.TemporaryDirectory(prefix=f"peer-{system}-") as tmp, FakeOpenAI(responder=respond) as model:
        port, data, log = free_port(), Path(tmp) / "data", Path(tmp) / "server.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [
                    str(python),
                    "-m",
                    "bench.peer_servers",
                    system,
                    "--port",
                    str(port),
                    "--data",
                    str(data),
                    "--model-url",
                    model.base_url,
                ],
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_healthy(f"{base}/health", process, log)
            try:
                yield Served(base, process.pid, [data])
            except BaseException:
                state = f"exited with {process.returncode}" if process.poll() is not None else "still running"
                print(
                    f"{system} failed; its server {state}; its log ends:\n{log.read_text(errors='replace')[-3000:]}",
                    file=sys.stderr,
                )
                raise
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def serve_devhost(env: dict[str, str] | None = None) -> Iterator[Served]:
    with assistant_stack(env) as stack:
        assert stack.devhost.pid is not None
        yield Served(stack.base_url, stack.devhost.pid, [stack.devhost.data_dir, stack.azurite.location])


def _tree_bytes(paths: Sequence[Path]) -> int:
    return sum(f.stat().st_size for p in paths for f in p.rglob("*") if f.is_file())


async def _long_chat(client: AssistantClient, results: Results, turns: int) -> None:
    chat = f"bench-long-{uuid.uuid4().hex[:10]}"
    await client.create_chat(chat)
    started = time.perf_counter()
    for i in range(1, turns + 1):
        results.long_turns.append((await client.turn(chat, f"turn {i}: tell me something")).wall_ms)
    results.long_seconds = time.perf_counter() - started
    results.long_messages = await client.chat_total_messages(chat)
    if results.long_messages != 1 + 2 * turns:
        raise RuntimeError(f"the long chat holds {results.long_messages} messages, expected {1 + 2 * turns}")


async def measure(served: Served, system: str, args: argparse.Namespace) -> Run:
    """One round of the workload against one running system."""
    results = Results()
    run = Run(system, results)
    client = AssistantClient(served.base_url, connections=max(args.chats, 4))
    try:
        await _overhead(client, results, args.samples)
        await _parallel(client, results, args.chats, args.turns_per_chat, served.pid)
        run.cpu_seconds = (results.devhost_cpu_seconds or 0.0) + (results.worker_cpu_seconds or 0.0)
        await _tools(client, results, args.tool_runs)
        await asyncio.sleep(1.0)  # let background writes (Azurite's, the engine's) settle before the store is sized
        before = _tree_bytes(served.data_dirs)
        await _long_chat(client, results, args.turns)
        await asyncio.sleep(1.0)
        run.store_growth = _tree_bytes(served.data_dirs) - before
    finally:
        await client.close()
    return run


def _span(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    low, high = min(values), max(values)
    return fmt(low) if fmt(low) == fmt(high) else f"{fmt(low)}–{fmt(high)}"


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB" if n < 10e6 else f"{n / 1e6:.0f} MB"


def report(runs: dict[str, list[Run]], args: argparse.Namespace) -> str:
    """The table (min–max over rounds), ratios against each peer, and the targets round by round."""
    systems = [s for s in (*SYSTEMS[:1], *VARIANTS, *SYSTEMS[1:]) if s in runs]
    measures: list[tuple[str, Callable[[Run], float], Callable[[float], str]]] = [
        ("overhead p50, text turn, one chat", lambda r: r.overhead, lambda v: f"{v:.1f} ms"),
        (f"turns/s, {args.chats} chats in parallel", lambda r: r.throughput, lambda v: f"{v:.0f}"),
        (
            f"turn with {TOOL_CALLS} parallel tool calls of {TOOL_MS} ms, p50",
            lambda r: r.tools,
            lambda v: f"{v:.0f} ms",
        ),
        (
            f"turns {args.turns - WINDOW + 1}-{args.turns} vs 1-{WINDOW} (p50)",
            lambda r: r.long_ratio,
            lambda v: f"x{v:.2f}",
        ),
        (f"store growth over one {args.turns}-turn chat", lambda r: r.store_growth, _mb),
        (f"server CPU per turn ({args.chats} chats)", lambda r: r.cpu_per_turn_ms, lambda v: f"{v:.1f} ms"),
    ]
    lines = [
        "## The project against its peers (same API, model server and load generator)",
        "",
        *machine_info(),
        f"- {len(next(iter(runs.values())))} alternating round(s); each cell is min–max over the rounds",
        "",
        "| per turn, model at 0 ms | " + " | ".join(systems) + " |",
        "|---|" + "---:|" * len(systems),
    ]
    for label, get, fmt in measures:
        lines.append(f"| {label} | " + " | ".join(_span([get(r) for r in runs[s]], fmt) for s in systems) + " |")
    ours = [s for s in systems if s == "devhost" or s in VARIANTS]
    peers = [s for s in systems if s not in ours]
    if ours and peers:
        lines += [
            "",
            "### The project against each peer (ratio per round, min–max)",
            "",
            "| measure | " + " | ".join(f"vs {p}" for p in peers) + " |",
            "|---|" + "---:|" * len(peers),
        ]
        for mine in ours:
            label_of = (lambda label: label) if len(ours) == 1 else (lambda label, m=mine: f"{m}: {label}")
            for label, get, _ in (measures[0], measures[1], measures[5]):
                cells = []
                for other in peers:
                    ratios = [get(d) / get(o) for d, o in zip(runs[mine], runs[other]) if get(o)]
                    cells.append(_span(ratios, lambda v: f"x{v:.2f}") if ratios else "–")
                lines.append(f"| {label_of(label)} | " + " | ".join(cells) + " |")
            cells = [
                _span([d.tools - o.tools for d, o in zip(runs[mine], runs[other])], lambda v: f"{v:+.0f} ms")
                for other in peers
            ]
            lines.append(f"| {label_of(measures[2][0] + ': difference')} | " + " | ".join(cells) + " |")
    if ours and "plain" in runs:
        lines += [
            "",
            "### Targets against the plain service, round by round",
            "",
            f"| round | overhead ≤ x2.5 | turns/s ≥ x0.75 | 5-tool turn ≤ +25 ms | CPU ≤ x2 "
            f"| turn {args.turns:,} ≤ x1.2 of the first |",
            "|---|---|---|---|---|---|",
        ]
        for mine in ours:
            for i, (d, p) in enumerate(zip(runs[mine], runs["plain"]), 1):
                checks = [
                    (d.overhead / p.overhead, d.overhead / p.overhead <= TARGETS["overhead"], "x{:.2f}"),
                    (d.throughput / p.throughput, d.throughput / p.throughput >= TARGETS["throughput"], "x{:.2f}"),
                    (d.tools - p.tools, d.tools - p.tools <= TARGETS["tools_ms"], "{:+.0f} ms"),
                    (
                        d.cpu_per_turn_ms / p.cpu_per_turn_ms,
                        d.cpu_per_turn_ms / p.cpu_per_turn_ms <= TARGETS["cpu"],
                        "x{:.2f}",
                    ),
                    (d.long_ratio, d.long_ratio <= TARGETS["long"], "x{:.2f}"),
                ]
                name = str(i) if len(ours) == 1 else f"{i} ({mine})"
                lines.append(
                    f"| {name} | "
                    + " | ".join(f"{fmt.format(v)} {'met' if ok else 'NOT met'}" for v, ok, fmt in checks)
                    + " |"
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    python = peers_python(args.peers_python) if any(s in SYSTEMS[1:] for s in args.systems) else None
    runs: dict[str, list[Run]] = {s: [] for s in args.systems}
    for round_no in range(1, args.rounds + 1):
        for system in args.systems:
            print(f"round {round_no}/{args.rounds}: {system} ...", file=sys.stderr)
            if system == "devhost" or system in VARIANTS:
                context = serve_devhost(VARIANTS.get(system))
            else:
                context = serve_peer(system, python)  # type: ignore[arg-type]
            with context as served:
                run = asyncio.run(measure(served, system, args))
            runs[system].append(run)
            print(
                f"  overhead {run.overhead:.1f} ms, {run.throughput:.0f} turns/s, tools {run.tools:.0f} ms, "
                f"long x{run.long_ratio:.2f}, CPU {run.cpu_per_turn_ms:.1f} ms/turn",
                file=sys.stderr,
            )
    text = report(runs, args)
    publish(text, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
