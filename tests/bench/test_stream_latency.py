"""The stream latency benchmark's options and table."""

from __future__ import annotations

import pytest

from bench.stream_latency import Phase, Sample, parse_args, report


def test_sizes_and_refusals() -> None:
    """Defaults (30 alone, 50 streams); --quick shrinks; nonsense is a usage error."""
    assert (parse_args([]).samples, parse_args([]).streams) == (30, 50)
    assert (parse_args(["--quick"]).samples, parse_args(["--quick"]).streams) == (5, 10)
    with pytest.raises(SystemExit):
        parse_args(["--streams", "0"])


def test_report_rows_come_from_the_samples() -> None:
    """Each measure's p50/p95 in both phases, with the targets."""
    args = parse_args(["--streams", "2"])
    alone = Phase([Sample(10.0, 5.0, 20.0, 30.0, 7.0)] * 3)
    loaded = Phase([Sample(50.0, 6.0, 40.0, 60.0, 200.0), Sample(70.0, 8.0, 44.0, 80.0, 240.0)])
    table = report(args, alone, loaded)
    assert "| added time to first delta, p50 / p95 (ms) | 10.0 / 10.0 | 60.0 / 69.0 |" in table
    assert "| each word behind the model (median of a turn), p50 / p95 (ms) | 7.0 / 7.0 | 220.0 / 238.0 |" in table
    assert "p50 < 30 alone, < 100 with 2" in table
    assert "CHAT_LIVE_WAKE=on" in table and "CHAT_LIVE_WAKE=off" in report(
        parse_args(["--streams", "2", "--wake", "off"]), alone, loaded
    )
