"""The assistant turn benchmark's options and its results table."""
from __future__ import annotations

import pytest

from bench.assistant_turns import WINDOW, Results, parse_args, report


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
        parallel_chats=50, parallel_turns=1000, parallel_seconds=8.0, parallel_latencies=[400.0, 500.0],
        long_turns=[20.0] * WINDOW + [30.0] * WINDOW, state_early=4000, state_late=12000, long_messages=81,
        long_seconds=2.0, tool_walls=[230.0, 250.0, 240.0], tool_overlapped=[True, True, False],
    )
    text = report(results, args)
    assert "| 10.0 / " in text
    assert "| 125 turns/s |" in text
    assert "20.0 vs 30.0 ms (x1.50)" in text
    assert "4,000 vs 12,000 bytes" in text
    assert "| 240 / 250 ms |" in text and "overlapped in 2/3 turns" in text
    assert "- nproc:" in text
