"""Shared shapes of the Durable throughput benchmark: the workload's constants, result records,
percentiles, machine information and the markdown tables the benchmark prints.
"""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "CITIES",
    "WORK_ITEMS_PER_INSTANCE",
    "LatencyResult",
    "ThroughputResult",
    "WorkloadRunner",
    "expected_output",
    "latency_table",
    "machine_info",
    "percentile",
    "publish",
    "throughput_table",
]

CITIES = ("Tokyo", "Seattle", "London", "Cairo", "Lima")
"""The five activity inputs of one instance, called in sequence."""
WORK_ITEMS_PER_INSTANCE = len(CITIES) + 1 + len(CITIES)
"""6 orchestrator steps (the first episode plus one per activity result) + 5 activities = 11."""


def expected_output() -> list[str]:
    """What every instance of the workload must return."""
    return [f"Hello {city}!" for city in CITIES]


@dataclass(frozen=True)
class ThroughputResult:
    """N instances started at once, timed from the first start to the last completion."""

    backend: str
    instances: int
    elapsed_s: float
    """Seconds from just before the first start request to the last instance's completion."""
    start_retries: int = 0
    """Start requests sent again after a transport error (the connection dropped)."""

    @property
    def orchestrations_per_s(self) -> float:
        return self.instances / self.elapsed_s

    @property
    def work_items_per_s(self) -> float:
        return self.instances * WORK_ITEMS_PER_INSTANCE / self.elapsed_s


@dataclass(frozen=True)
class LatencyResult:
    """One instance at a time: start-to-completion latency over sequential runs."""

    backend: str
    samples_ms: tuple[float, ...]

    @property
    def p50_ms(self) -> float:
        return percentile(self.samples_ms, 50)

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples_ms, 95)


class WorkloadRunner(Protocol):
    """One backend, started and ready to run the workload."""

    def throughput(self, instances: int) -> ThroughputResult:
        """Start `instances` at once; time from the first start to the last completion."""
        ...

    def latency(self, runs: int) -> LatencyResult:
        """`runs` instances one after another."""
        ...


def percentile(samples: tuple[float, ...] | list[float], pct: float) -> float:
    """The `pct`-th percentile (inclusive linear interpolation) of `samples`."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(pct) - 1]


def machine_info() -> list[str]:
    """nproc, CPU model, Python version, platform and load average, one `- key: value` line each."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return [
        f"- nproc: {usable}",
        f"- CPU: {model}",
        f"- Python: {platform.python_version()} ({platform.python_implementation()})",
        f"- Platform: {platform.platform()}",
        "- Load average (1/5/15 min) at the end: "
        + " / ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (other work on the machine skews the figures)",
    ]


def throughput_table(results: list[ThroughputResult]) -> str:
    """Markdown table: one row per backend and N."""
    lines = [
        "| backend | N | elapsed (s) | orchestrations/s | work items/s | start retries |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.instances} | {r.elapsed_s:.2f} | {r.orchestrations_per_s:,.0f} "
            f"| {r.work_items_per_s:,.0f} | {r.start_retries} |"
        )
    return "\n".join(lines)


def latency_table(results: list[LatencyResult]) -> str:
    """Markdown table: one row per backend."""
    lines = ["| backend | runs | p50 (ms) | p95 (ms) |", "|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.backend} | {len(r.samples_ms)} | {r.p50_ms:.1f} | {r.p95_ms:.1f} |")
    return "\n".join(lines)


def publish(text: str, path: Path) -> None:
    """Print a benchmark's report and keep it in `path` (under `bench/results/`, not committed)."""
    print(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    print(f"\n(written to {path.relative_to(path.parents[2])})")
