"""The Durable benchmark's own code: options, percentiles, tables, and a tiny real run of each
backend (so `make bench` cannot rot unnoticed). Figures are printed by the benchmark, never asserted.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial

import pytest

from bench.durable_devhost import devhost_bench
from bench.durable_inmemory import in_memory_bench
from bench.durable_results import (
    WORK_ITEMS_PER_INSTANCE,
    LatencyResult,
    ThroughputResult,
    WorkloadRunner,
    latency_table,
    machine_info,
    percentile,
    throughput_table,
)
from bench.durable_throughput import parse_args


def test_work_items_are_six_steps_plus_five_activities() -> None:
    assert WORK_ITEMS_PER_INSTANCE == 11
    result = ThroughputResult("x", instances=100, elapsed_s=2.0)
    assert result.orchestrations_per_s == 50
    assert result.work_items_per_s == 550


def test_percentile_interpolates_inclusively() -> None:
    samples = tuple(float(v) for v in range(1, 101))
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 95) == pytest.approx(95.05)
    assert percentile((7.0,), 95) == 7.0


def test_tables_have_a_row_per_result() -> None:
    throughput = throughput_table([ThroughputResult("a", 500, 5.0), ThroughputResult("b", 2000, 10.0, 2)])
    assert throughput.splitlines()[2] == "| a | 500 | 5.00 | 100 | 1,100 | 0 |"
    assert throughput.splitlines()[3] == "| b | 2000 | 10.00 | 200 | 2,200 | 2 |"
    latency = latency_table([LatencyResult("a", (10.0, 20.0, 30.0))])
    assert latency.splitlines()[2] == "| a | 3 | 20.0 | 29.0 |"
    info = "\n".join(machine_info())
    assert "nproc:" in info and "Python:" in info


def test_options_parse_and_reject_bad_values() -> None:
    args = parse_args(["--sizes", "500,2000", "--latency-runs", "7"])
    assert args.sizes == (500, 2000) and args.latency_runs == 7
    assert args.backends == ("devhost", "durabletask") and not args.fresh_connections
    assert parse_args(["--fresh-connections"]).fresh_connections
    quick = parse_args(["--quick"])
    assert quick.sizes == (100,) and quick.latency_runs == 10
    for bad in (["--sizes", "five"], ["--sizes", "0"], ["--backends", "cosmos"]):
        with pytest.raises(SystemExit):
            parse_args(bad)


@pytest.mark.parametrize(
    "runner",
    [devhost_bench, in_memory_bench, partial(in_memory_bench, same_process=True)],
    ids=["devhost", "durabletask", "durabletask-oneprocess"],
)
def test_tiny_run_completes_every_instance(runner: Callable[[], AbstractContextManager[WorkloadRunner]]) -> None:
    """Both backends run the workload end to end (outputs are checked inside the runners)."""
    with runner() as bench:
        result = bench.throughput(10)
        latency = bench.latency(2)
    assert result.instances == 10 and result.elapsed_s > 0
    assert len(latency.samples_ms) == 2 and all(s > 0 for s in latency.samples_ms)
