"""The peers benchmark: the plain peer served for real through the driver, the report's ratios and targets.

LangGraph's and DBOS's packages are the benchmark's own (`.venv-peers`), not `make test`'s; the plain
peer needs only what the main venv has, so the driver, the peers' common HTTP shape and the plain
service's turns (tool calls included) run here for real.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

from bench.assistant_turns import WINDOW, Results
from bench.peers import Run, measure, parse_args, report, serve_peer


def test_quick_sizes_and_systems() -> None:
    """--quick is one round of the smoke sizes; --systems is checked against the four systems."""
    quick = parse_args(["--quick"])
    assert (quick.rounds, quick.samples, quick.chats, quick.turns) == (1, 40, 10, 100)
    assert parse_args([]).systems == ["devhost", "plain", "langgraph", "dbos"]
    assert parse_args(["--systems", "plain, dbos"]).systems == ["plain", "dbos"]
    with pytest.raises(SystemExit):
        parse_args(["--systems", "plain,flask"])


def test_the_plain_peer_runs_every_phase_over_http() -> None:
    """The plain peer answers the workload: text turns, parallel chats, 5 overlapping Sleep calls, a long chat."""
    args = parse_args(
        ["--samples", "5", "--chats", "3", "--turns-per-chat", "2", "--turns", str(2 * WINDOW), "--tool-runs", "1"]
    )
    with serve_peer("plain", sys.executable) as served:  # type: ignore[arg-type]
        run = asyncio.run(measure(served, "plain", args))
    results = run.results
    assert len(results.samples) == 5 and all(ms > 0 for ms in results.samples)
    assert results.parallel_turns == 6 and results.parallel_seconds > 0
    assert results.tool_overlapped == [True]  # the five 200 ms calls ran at once
    assert 200 <= results.tool_walls[0] < 1000
    assert results.long_messages == 1 + 2 * 2 * WINDOW
    assert run.store_growth > 0  # the long chat's messages are in its SQLite file
    assert run.cpu_seconds > 0


def _run(system: str, overhead: float, turns_per_s: float, tools: float, cpu_s: float, late: float) -> Run:
    results = Results(
        samples=[overhead] * 3,
        parallel_turns=1000,
        parallel_seconds=1000 / turns_per_s,
        tool_walls=[tools],
        long_turns=[10.0] * WINDOW + [late] * WINDOW,
    )
    return Run(system, results, store_growth=2_000_000, cpu_seconds=cpu_s)


def test_report_ratios_and_targets_per_round() -> None:
    """Cells span the rounds; ratios are devhost over each peer; targets are judged against plain, round by round."""
    args = parse_args(["--turns", "40", "--chats", "50"])
    runs = {
        "devhost": [_run("devhost", 20.0, 150.0, 240.0, 10.0, 11.0), _run("devhost", 30.0, 100.0, 260.0, 12.0, 13.0)],
        "plain": [_run("plain", 10.0, 200.0, 220.0, 4.0, 10.0), _run("plain", 10.0, 200.0, 220.0, 4.0, 10.0)],
    }
    text = report(runs, args)
    assert "| overhead p50, text turn, one chat | 20.0 ms–30.0 ms | 10.0 ms |" in text
    assert "| turns/s, 50 chats in parallel | 100–150 | 200 |" in text
    assert "| overhead p50, text turn, one chat | x2.00–x3.00 |" in text
    assert "| 1 | x2.00 met | x0.75 met | +20 ms met | x2.50 NOT met | x1.10 met |" in text
    assert "| 2 | x3.00 NOT met | x0.50 NOT met | +40 ms NOT met | x3.00 NOT met | x1.30 NOT met |" in text
    assert "2.00 MB" in text


def test_devhost_variants_get_their_own_ratio_and_target_rows() -> None:
    """With a devhost variant (events off), ratios and targets are given per flavour, against the peers only."""
    args = parse_args(["--turns", "40", "--systems", "devhost,devhost-noevents,plain"])
    runs = {
        "devhost": [_run("devhost", 20.0, 150.0, 240.0, 10.0, 11.0)],
        "devhost-noevents": [_run("devhost-noevents", 12.0, 180.0, 230.0, 6.0, 10.0)],
        "plain": [_run("plain", 10.0, 200.0, 220.0, 4.0, 10.0)],
    }
    text = report(runs, args)
    assert "| measure | vs plain |" in text and "vs devhost-noevents" not in text
    assert "| devhost-noevents: overhead p50, text turn, one chat | x1.20 |" in text
    assert "| 1 (devhost-noevents) | x1.20 met | x0.90 met | +10 ms met | x1.50 met | x1.00 met |" in text
