"""The assistant turn benchmark's options and its results table."""

from __future__ import annotations

import pytest

from bench.assistant_turns import WINDOW, Results, parse_args, report
from bench.cpu import child_pids, cpu_seconds


def test_quick_and_default_sizes() -> None:
    """Defaults follow the issue (50 chats, 1,000 turns); --quick shrinks every phase."""
    default = parse_args([])
    quick = parse_args(["--quick"])
    assert (default.chats, default.turns, default.samples) == (50, 1000, 200)
    assert (quick.chats, quick.turns, quick.samples, quick.tool_runs) == (10, 100, 40, 3)
    assert parse_args(["--chats", "7", "--turns", "60"]).chats == 7


@pytest.mark.parametrize("argv", [["--chats", "0"], ["--turns", str(2 * WINDOW - 1)], ["--samples", "-1"]])
def test_bad_sizes_are_refused(argv: list[str]) -> None:
    """Non-positive counts and a long chat too short for two windows exit with a usage error."""
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_report_rows_come_from_the_measurements() -> None:
    """Percentiles, turns/s, the turn-1,000/turn-10 ratio, state sizes and overlap counts land in the table."""
    args = parse_args(["--turns", "40"])
    results = Results(
        samples=[10.0] * 9 + [30.0],
        parallel_chats=50,
        parallel_turns=1000,
        parallel_seconds=8.0,
        parallel_latencies=[400.0, 500.0],
        long_turns=[20.0] * WINDOW + [30.0] * WINDOW,
        state_early=4000,
        state_late=12000,
        long_messages=81,
        long_seconds=2.0,
        tool_walls=[230.0, 250.0, 240.0],
        tool_overlapped=[True, True, False],
        devhost_cpu_seconds=7.0,
        worker_cpu_seconds=3.0,
    )
    text = report(results, args)
    assert "| 10.0 / " in text
    assert "| 125 turns/s |" in text
    assert "20.0 vs 30.0 ms (x1.50)" in text
    assert "4,000 vs 12,000 bytes" in text
    assert "| 240 / 250 ms |" in text and "overlapped in 2/3 turns" in text
    assert "devhost 7.0 ms, its worker(s) 3.0 ms" in text
    assert "- nproc:" in text
    assert "not measured (no /proc)" in report(Results(**{**vars(results), "devhost_cpu_seconds": None}), args)


def test_cpu_seconds_of_this_process_and_its_children() -> None:
    """/proc gives this process's CPU time, which grows with work; a child started here is listed."""
    import os
    import subprocess
    import sys

    before = cpu_seconds(os.getpid())
    if before is None:
        pytest.skip("no /proc on this system (the benchmark then prints 'not measured')")
    sum(i * i for i in range(2_000_000))
    assert cpu_seconds(os.getpid()) > before
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert child.pid in child_pids(os.getpid())
        assert cpu_seconds(child.pid) is not None
    finally:
        child.kill()
        child.wait()
    assert cpu_seconds(2**22 + 12345) is None
