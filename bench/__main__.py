"""`python -m bench` (`make bench`): run every benchmark, one after the other.

    python -m bench [--quick]                 every benchmark with its defaults (or its smoke size)
    python -m bench <name> [options...]       one benchmark with its own options, e.g.
    python -m bench durable_throughput --sizes 500,2000 --latency-runs 50
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from bench import assistant_turns, devhost_http, durable_throughput

BENCHMARKS: dict[str, Callable[[Sequence[str] | None], int]] = {
    "devhost_http": devhost_http.main,
    "durable_throughput": durable_throughput.main,
    "assistant_turns": assistant_turns.main,
}
"""Every benchmark by module name, in the order `python -m bench` runs them."""


def main(argv: list[str]) -> int:
    """Run one named benchmark with its options, or all of them (only `--quick` is passed on)."""
    if argv and argv[0] in BENCHMARKS:
        return BENCHMARKS[argv[0]](argv[1:])
    if any(arg != "--quick" for arg in argv):
        print(__doc__, file=sys.stderr)
        print(f"benchmarks: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    status = 0
    for run in BENCHMARKS.values():
        status = run(argv) or status
        print()
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
