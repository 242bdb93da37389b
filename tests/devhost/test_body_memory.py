"""Request bodies stream through devhost to its worker without whole extra copies.

With `BODIES` bodies of the host's largest size in flight at once, neither devhost's process nor the worker's grows
by more than `BOUND` times their bytes (peak resident size over the one before the requests). The test uses a
20 MB limit (`DEVHOST_MAX_REQUEST_BODY_BYTES`) to stay quick; Azure's 100 MB is measured by hand with

    .venv/bin/python -m tests.devhost.test_body_memory --size 95000000
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.devhost import REPO_ROOT, DevhostProcess, child_pids, start_devhost
from tests.support.memory import peak_kib, reset_peak, resident_kib

APP = REPO_ROOT / "tests" / "devhost" / "apps" / "bodies"
BODIES = 6
SIZE = 20_000_000
BOUND = 1.2


@dataclass(frozen=True)
class Growth:
    """One process's memory over a burst of requests."""

    baseline_kib: int
    peak_kib: int

    @property
    def grown(self) -> int:
        """Bytes the peak is above the baseline."""
        return (self.peak_kib - self.baseline_kib) * 1024


def serve(root: Path, size: int) -> DevhostProcess:
    """devhost on a copy of the bodies app, its body limit `size`."""
    app = root / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", ".devhost"))
    return start_devhost(app, data_dir=root / "data", env={"DEVHOST_MAX_REQUEST_BODY_BYTES": str(size)})


def burst(host: DevhostProcess, size: int, bodies: int) -> dict[str, Growth]:
    """Send `bodies` bodies of `size` bytes at once; check each arrived whole; each process's growth."""
    assert host.pid is not None
    workers = child_pids(host.pid, "worker_main")
    assert len(workers) == 1, workers
    pids = {"devhost": host.pid, "worker": workers[0]}
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    expected = hashlib.sha256(payload).hexdigest()
    with httpx.Client(timeout=120) as client:  # everything loaded before the baseline
        assert client.post(f"{host.base_url}/api/digest", content=b"warm").status_code == 200
    baseline = {name: resident_kib(pid) for name, pid in pids.items()}
    for pid in pids.values():
        reset_peak(pid)

    def send(_: int) -> dict[str, object]:
        response = httpx.post(f"{host.base_url}/api/digest", content=payload, timeout=120)
        assert response.status_code == 200, response.text
        return dict(response.json())

    with ThreadPoolExecutor(bodies) as pool:
        answers = list(pool.map(send, range(bodies)))
    assert answers == [{"length": size, "sha256": expected, "type": "bytes"}] * bodies
    return {name: Growth(baseline[name], peak_kib(pid)) for name, pid in pids.items()}


def test_bodies_in_flight_cost_each_process_at_most_their_size_once(tmp_path: Path) -> None:
    """6 bodies of the limit's size at once: devhost and the worker each grow by at most 1.2x their bytes."""
    with serve(tmp_path, SIZE) as host:
        growth = burst(host, SIZE, BODIES)
    in_flight = SIZE * BODIES
    report = {name: f"{g.grown / in_flight:.2f}x" for name, g in growth.items()}
    for name, measured in growth.items():
        assert measured.grown <= BOUND * in_flight, f"{name} grew {report[name]} the bytes in flight ({report})"


def test_a_body_refused_midway_is_dropped_by_the_worker(tmp_path: Path) -> None:
    """Chunked bodies over the limit: each gets the 413 JSON when the limit is passed, and the worker lets go of
    what it had gathered (ten refused bodies leave it no bigger than about one)."""
    limit = 8_000_000
    piece = b"z" * 1_000_000
    with serve(tmp_path, limit) as host:
        assert host.pid is not None
        worker = child_pids(host.pid, "worker_main")[0]
        with httpx.Client(timeout=60) as client:
            assert client.post(f"{host.base_url}/api/digest", content=b"warm").status_code == 200
            before = resident_kib(worker)
            for _ in range(10):
                refused = client.post(f"{host.base_url}/api/digest", content=iter([piece] * 12))
                assert refused.status_code == 413 and str(limit) in refused.json()["error"]
            assert client.post(f"{host.base_url}/api/digest", content=b"after").json()["length"] == 5
        grown = (resident_kib(worker) - before) * 1024
    assert grown < 3 * limit, f"the worker kept {grown / limit:.1f}x the limit after ten refused bodies"


def main() -> None:
    """The measurement by hand: prints each process's growth as a multiple of the bytes in flight."""
    parser = argparse.ArgumentParser(prog="python -m tests.devhost.test_body_memory")
    parser.add_argument("--size", type=int, default=SIZE, help="bytes per body, and the host's body limit")
    parser.add_argument("--bodies", type=int, default=BODIES, help="bodies sent at once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root, serve(Path(root), args.size) as host:
        growth = burst(host, args.size, args.bodies)
    in_flight = args.size * args.bodies
    for name, measured in growth.items():
        print(
            f"{name}: baseline {measured.baseline_kib / 1024:.0f} MiB, peak {measured.peak_kib / 1024:.0f} MiB, "
            f"grew {measured.grown / 2**20:.0f} MiB = {measured.grown / in_flight:.2f}x the "
            f"{in_flight / 1e6:.0f} MB in flight"
        )


if __name__ == "__main__":
    main()
