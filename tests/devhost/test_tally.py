"""devhost's count of the app's management calls, as Azure would bill them: every status read counts, whether the
host or a worker's cache answered it (`devhost.durable.tally`, `GET /admin/host/durable/managementcalls`)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from devhost.durable.tally import ManagementTally
from tests.devhost.test_worker_split import serve

CALLS = "/admin/host/durable/managementcalls"


def test_the_tally_counts_by_source_and_operation_and_adds_the_workers_cached_reads() -> None:
    """Calls by source and operation; an app's status reads by instance with their times; cached reads added in."""
    tally = ManagementTally()
    tally.count("app", "start", "i1")
    tally.count("app", "status", "i1")
    tally.count("http", "status", "i1")  # a client polling a status URL: counted, not as the app's read
    tally.count("app", "signalEntity")
    snapshot = tally.snapshot({"i1": (2, [time.time()] * 2), "i2": (1, [time.time()])})
    assert snapshot["calls"] == {
        "app": {"signalEntity": 1, "start": 1, "status": 4},
        "http": {"status": 1},
    }
    reads = snapshot["statusReads"]
    assert (reads["i1"]["count"], reads["i1"]["cached"], len(reads["i1"]["times"])) == (3, 2, 3)
    assert (reads["i2"]["count"], reads["i2"]["cached"]) == (1, 1)
    assert tally.snapshot()["statusReads"]["i1"]["count"] == 1  # a snapshot leaves the tally as it was


def test_devhost_counts_every_status_read_of_the_app_cached_or_not(tmp_path: Path) -> None:
    """An app reading a running instance's status 6 times: 6 status reads counted, most answered by the worker's
    cache (no call reached the host); the start counted; a client's GET of the status URL counted apart."""
    with serve(tmp_path) as host:
        started = httpx.post(f"{host.base_url}/api/start/slow_chain", json=3, timeout=10)
        assert started.status_code == 202, started.text
        instance = started.json()["id"]
        polled = httpx.get(f"{host.base_url}/api/poll/{instance}", params={"times": 6}, timeout=10)
        assert polled.status_code == 200 and len(polled.json()) == 6, polled.text
        assert httpx.get(started.json()["statusQueryGetUri"], timeout=10).status_code == 202
        counts = httpx.get(host.base_url + CALLS, timeout=10).json()
        reads = counts["statusReads"][instance]
        assert reads["count"] == 6 and 1 <= reads["cached"] <= 5, reads
        assert len(reads["times"]) == 6 and reads["times"] == sorted(reads["times"])
        assert counts["calls"]["app"]["start"] == 1 and counts["calls"]["app"]["status"] == 6, counts
        assert counts["calls"]["http"]["status"] == 1, counts
