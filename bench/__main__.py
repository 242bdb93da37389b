"""`python -m bench` (`make bench`): run every benchmark, one after the other.

python -m bench [--quick]                 every benchmark with its defaults (or its smoke size)
python -m bench <name> [options...]       one benchmark with its own options, e.g.
python -m bench durable_throughput --sizes 500,2000 --latency-runs 50
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    "devhost_http",
    "durable_throughput",
    "assistant_turns",
    "assistant_memory",
    "work_items",
    "storage_costs",
    "stream_latency",
    "stream_memory",
    "peers",
)
"""Every benchmark (a `bench.<name>` module with `main(argv) -> int`), in the order they run."""
ON_REQUEST = ("profile_turns",)
"""Run only when named (py-spy needs ptrace, which some machines refuse)."""


def _run(name: str, argv: list[str]) -> int:
    """Import `bench.<name>` only when it runs (each may need its own extras) and call its main."""
    module = importlib.import_module(f"bench.{name}")
    return int(module.main(argv) or 0)


def main(argv: list[str]) -> int:
    """Run one named benchmark with its options, or all of them (only `--quick` is passed on)."""
    if argv and argv[0] in (*BENCHMARKS, *ON_REQUEST):
        return _run(argv[0], argv[1:])
    if any(arg != "--quick" for arg in argv):
        print(__doc__, file=sys.stderr)
        print(f"benchmarks: {', '.join(BENCHMARKS)}; on request: {', '.join(ON_REQUEST)}", file=sys.stderr)
        return 2
    status = 0
    for name in BENCHMARKS:
        status = _run(name, argv) or status
        print()
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
