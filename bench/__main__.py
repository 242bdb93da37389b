"""`python -m bench` (`make bench`): run every benchmark with its default options."""
from __future__ import annotations

import sys

from bench import durable_throughput

BENCHMARKS = (durable_throughput.main,)


def main(argv: list[str]) -> int:
    """Run each benchmark in turn; options are passed through (e.g. `--quick`)."""
    status = 0
    for benchmark in BENCHMARKS:
        status = benchmark(argv) or status
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
