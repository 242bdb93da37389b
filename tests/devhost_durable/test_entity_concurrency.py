"""Entities as Azure runs them: a signal is committed before its operation runs, slow operations delay nothing else,
and batches of different entities run at once. Through a real devhost process (so it can be SIGKILLed)."""

from __future__ import annotations

import itertools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.devhost import REPO_ROOT, DevhostProcess, start_devhost

WEBHOOKS = "/runtime/webhooks/durabletask"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[DevhostProcess]:
    app = tmp_path / "app"
    shutil.copytree(
        REPO_ROOT / "tests" / "devhost_durable" / "apps" / "basic",
        app,
        ignore=shutil.ignore_patterns("__pycache__", ".devhost"),
    )
    with start_devhost(app, data_dir=tmp_path / "data") as process:
        yield process


def naps(host: DevhostProcess, key: str, count: int, timeout: float = 30.0) -> list[list[float]]:
    """The entity's recorded naps once it has `count` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(f"{host.base_url}{WEBHOOKS}/entities/sleeper/{key}", timeout=10)
        if response.status_code == 200 and len(response.json()) >= count:
            return response.json()
        time.sleep(0.05)
    raise AssertionError(f"sleeper/{key} did not record {count} naps")


def signal(host: DevhostProcess, key: str, seconds: float) -> httpx.Response:
    return httpx.post(
        f"{host.base_url}{WEBHOOKS}/entities/sleeper/{key}", params={"op": "nap"}, json=seconds, timeout=30
    )


def test_slow_operations_run_at_once_and_block_nothing(host: DevhostProcess) -> None:
    """Two 2 s naps on two entities overlap; the signals, an HTTP call and an orchestration all answer while they
    sleep."""
    sent_at = time.time()
    assert signal(host, "a", 2).status_code == 202
    assert signal(host, "b", 2).status_code == 202
    answered: dict[str, float] = {}
    status = httpx.get(f"{host.base_url}/admin/host/status", timeout=10)
    answered["status"] = time.time()
    started = httpx.post(f"{host.base_url}/api/start/chain", json=["x"], timeout=10).json()
    while httpx.get(started["statusQueryGetUri"], timeout=10).json()["runtimeStatus"] != "Completed":
        time.sleep(0.01)
    answered["orchestration"] = time.time()
    assert status.json() == {"state": "Running"}
    (a,), (b,) = naps(host, "a", 1), naps(host, "b", 1)
    assert a[0] < b[1] and b[0] < a[1], (a, b)  # the two naps overlapped
    first_end = min(a[1], b[1])
    assert sent_at < a[0] and answered["status"] < first_end and answered["orchestration"] < first_end, (answered, a, b)


def test_naps_of_one_entity_run_one_after_another_in_order(host: DevhostProcess) -> None:
    """One entity still runs one operation at a time."""
    for _ in range(3):
        assert signal(host, "one", 0.3).status_code == 202
    recorded = naps(host, "one", 3)
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(recorded)), recorded


def test_a_signal_answered_202_survives_a_sigkill_during_its_operation(host: DevhostProcess) -> None:
    """The 202 means committed: devhost killed while the operation sleeps, the restarted host runs it."""
    assert signal(host, "durable", 3).status_code == 202
    accepted = time.time()
    time.sleep(0.5)  # the nap has begun (it takes 3 s)
    host.kill()
    host.restart()
    (nap,) = naps(host, "durable", 1)
    assert nap[1] > accepted  # the 202 came before the operation ran to its end (it ran again after the restart)
