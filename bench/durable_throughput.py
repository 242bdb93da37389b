"""Durable throughput benchmark: devhost (SQLite persistence, real HTTP) side by side with the
`durabletask` package's in-memory test backend, on the same "hello cities" workload.

    python -m bench.durable_throughput [--sizes 500,2000] [--latency-runs 50] [--quick]

Prints machine info and markdown tables: orchestrations/s and work items/s for N instances
started at once (11 work items per instance: 6 orchestrator steps + 5 activities), and
single-instance p50/p95 latency over sequential runs (measured first, after a 20-instance
warm-up). The backends run one after the other, never at the same time, so they do not share
the CPUs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial

from bench.durable_devhost import devhost_bench
from bench.durable_inmemory import in_memory_bench
from bench.durable_results import (
    WORK_ITEMS_PER_INSTANCE,
    LatencyResult,
    ThroughputResult,
    WorkloadRunner,
    latency_table,
    machine_info,
    throughput_table,
)

__all__ = ["main", "parse_args"]

QUICK_SIZES = (100,)
QUICK_LATENCY_RUNS = 10
WARMUP_INSTANCES = 20


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.durable_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000", help="comma-separated instance counts (default 500,2000)")
    parser.add_argument("--latency-runs", type=int, default=50, help="sequential single-instance runs (default 50)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: N=100, 10 latency runs")
    parser.add_argument(
        "--fresh-connections",
        action="store_true",
        help="devhost: open a new connection per start request instead of reusing 64 keep-alive ones",
    )
    parser.add_argument(
        "--backends",
        default="devhost,durabletask",
        help="which backends to run (default devhost,durabletask; devhost-inprocess: the app in devhost's own process; "
        "durabletask-oneprocess: its worker in the benchmark's process, one GIL for all)",
    )
    args = parser.parse_args(argv)
    try:
        args.sizes = QUICK_SIZES if args.quick else tuple(int(s) for s in args.sizes.split(",") if s.strip())
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if not args.sizes or min(args.sizes) <= 0 or args.latency_runs <= 0:
        parser.error("--sizes and --latency-runs must be positive")
    if args.quick:
        args.latency_runs = QUICK_LATENCY_RUNS
    args.backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    unknown = set(args.backends) - {"devhost", "devhost-inprocess", "durabletask", "durabletask-oneprocess"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    return args


def _run_backend(
    bench: WorkloadRunner, sizes: Sequence[int], latency_runs: int
) -> tuple[list[ThroughputResult], LatencyResult]:
    bench.throughput(WARMUP_INSTANCES)  # imports, connections and caches warm before anything is timed
    single = bench.latency(latency_runs)  # before the big runs, so the store is still small
    results = []
    for size in sizes:
        result = bench.throughput(size)
        print(f"  {result.backend}: N={size} in {result.elapsed_s:.2f}s", file=sys.stderr, flush=True)
        results.append(result)
    return results, single


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    throughput_results: list[ThroughputResult] = []
    latency_results: list[LatencyResult] = []
    runners = {
        "devhost": partial(devhost_bench, keep_alive=not args.fresh_connections),
        "devhost-inprocess": partial(devhost_bench, keep_alive=not args.fresh_connections, in_process=True),
        "durabletask": in_memory_bench,
        "durabletask-oneprocess": partial(in_memory_bench, same_process=True),
    }
    for name in args.backends:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        with runners[name]() as bench:
            results, latency = _run_backend(bench, args.sizes, args.latency_runs)
        throughput_results.extend(results)
        latency_results.append(latency)
    print("## Durable throughput: hello cities (5 activities in sequence per instance)\n")
    print("\n".join(machine_info()))
    print(
        f"\nWork items per instance: {WORK_ITEMS_PER_INSTANCE} = 6 orchestrator steps "
        "(first episode + one per activity result) + 5 activity executions.\n"
        "N instances are started at once; time runs from the first start request to the last completion.\n"
        "Start retries: start requests resent (same instance id) after the connection dropped.\n"
        f"devhost start requests: 64 at a time over "
        f"{'a new connection each' if args.fresh_connections else '64 keep-alive connections'}.\n"
    )
    print(throughput_table(throughput_results))
    print(f"\nSingle-instance latency (start to observed completion, {args.latency_runs} sequential runs):\n")
    print(latency_table(latency_results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
