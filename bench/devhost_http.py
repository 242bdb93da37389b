"""devhost HTTP benchmark: requests/s and latency of the HTTP host alone (no durable work).

    python -m bench.devhost_http [--requests 2000] [--concurrency 1,16] [--quick]

Starts `python -m devhost start` on the test app `tests/devhost/apps/basic` (free port, temp
data dir), then for each route kind and concurrency level sends N requests over keep-alive
connections with httpx (C workers, each waiting for its answer before the next request) and
prints a markdown table of requests/s and p50/p95/p99 latency. Client and server share the
machine's CPUs; the numbers are the host's overhead per call, not a function's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.durable_results import machine_info
from tests.support.devhost import REPO_ROOT, start_devhost

__all__ = ["HttpResult", "main", "parse_args"]

APP = REPO_ROOT / "tests" / "devhost" / "apps" / "basic"
CASES: tuple[tuple[str, str, str, bytes | None], ...] = (
    ("sync function, str", "GET", "/api/fast/sync", None),
    ("async function, str", "GET", "/api/fast/async", None),
    ("sync, JSON echo of request", "POST", "/api/echo/a/b?x=1", b'{"k": [1, 2, 3]}'),
    ("404 (no function)", "GET", "/api/no/such/route", None),
)
QUICK_REQUESTS = 300


@dataclass(frozen=True)
class HttpResult:
    """One route kind at one concurrency level."""

    case: str
    concurrency: int
    requests: int
    seconds: float
    latencies_ms: tuple[float, ...]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: int) -> float:
        """The q-th percentile latency in ms."""
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


async def _run_case(
    base_url: str, method: str, path: str, body: bytes | None, requests: int, concurrency: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        share = [requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)]

        async def worker(count: int) -> None:
            for _ in range(count):
                started = time.perf_counter()
                response = await client.request(
                    method, path, content=body, headers={"content-type": "application/json"} if body else None
                )
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code not in (200, 404):
                    raise RuntimeError(f"{method} {path}: unexpected {response.status_code}")

        await asyncio.gather(*(worker(20) for _ in range(min(concurrency, 4))))  # warm-up
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in share if n))
        return time.perf_counter() - started, latencies


def table(results: Sequence[HttpResult]) -> str:
    """Markdown table, one row per case and concurrency."""
    lines = [
        "| case | concurrency | requests | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.case} | {r.concurrency} | {r.requests} | {r.per_second:,.0f} | "
            f"{r.percentile(50):.2f} | {r.percentile(95):.2f} | {r.percentile(99):.2f} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.devhost_http", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per case and level (default 2000)")
    parser.add_argument("--concurrency", default="1,16", help="comma-separated client concurrency (default 1,16)")
    parser.add_argument("--quick", action="store_true", help=f"a smoke run: {QUICK_REQUESTS} requests per case")
    args = parser.parse_args(argv)
    try:
        args.concurrency = tuple(int(c) for c in args.concurrency.split(",") if c.strip())
    except ValueError:
        parser.error(f"--concurrency must be comma-separated integers, got {args.concurrency!r}")
    if args.quick:
        args.requests = QUICK_REQUESTS
    if args.requests < 2 or not args.concurrency or min(args.concurrency) <= 0:
        parser.error("--requests must be at least 2 and --concurrency levels positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-devhost-http-"))
    try:
        script_root = workdir / "app"
        shutil.copytree(APP, script_root, ignore=shutil.ignore_patterns("__pycache__"))
        (script_root / "host.json").write_text('{"version": "2.0", "logging": {"logLevel": {"default": "Warning"}}}')
        host = start_devhost(script_root, data_dir=workdir / "data")
        try:
            results = []
            for case, method, path, body in CASES:
                for level in args.concurrency:
                    seconds, latencies = asyncio.run(_run_case(host.base_url, method, path, body, args.requests, level))
                    results.append(HttpResult(case, level, args.requests, seconds, tuple(latencies)))
        finally:
            host.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("## devhost HTTP host\n")
    print("\n".join(machine_info()))
    print("- devhost log level: Warning (per-call log lines off)\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
