"""Timer triggers: NCRONTAB and interval schedules, runOnStartup, useMonitor's past-due run, running one by hand."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from devhost.timers import parse_schedule
from tests.devhost.conftest import ServeApp

T0 = datetime(2026, 11, 30, 2, 59, 58, tzinfo=UTC)  # a Monday


def test_ncrontab_six_and_five_fields_and_intervals() -> None:
    """Seconds come first; five fields mean second 0; `hh:mm:ss` is an interval; nonsense is refused."""
    assert parse_schedule("*/10 * * * * *").next_after(T0) == T0.replace(second=0) + timedelta(minutes=1)
    assert parse_schedule("0 0 3 * * MON-FRI").next_after(T0) == T0.replace(hour=3, minute=0, second=0)
    assert parse_schedule("30 3 * * *").next_after(T0) == T0.replace(hour=3, minute=30, second=0)
    assert parse_schedule("00:00:05").next_after(T0) == T0 + timedelta(seconds=5)
    assert parse_schedule("0 */5 * * * *").monitored_by_default(T0)
    assert not parse_schedule("*/1 * * * * *").monitored_by_default(T0)
    for bad in ("every minute", "* * * *", "61 * * * * *", "00:00:00"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def _runs(root: Path) -> list[dict[str, object]]:
    path = root / "runs.txt"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_timers_run_on_schedule_on_startup_past_due_and_by_hand(serve_app: ServeApp, tmp_path: Path) -> None:
    """A per-second timer fires repeatedly; runOnStartup runs once at start; a monitored timer whose next
    occurrence passed while the host was down runs at start with past_due; the admin API runs one now."""
    host = serve_app(
        "timers", env={"DAILY_SCHEDULE": "0 0 4 * * *", "DEVHOST_MASTER_KEY": "mk"}, extra_args=("--require-keys",)
    )
    root = host.script_root
    deadline = time.monotonic() + 10
    while sum(r["name"] == "every_second" for r in _runs(root)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    runs = _runs(root)
    assert sum(r["name"] == "every_second" for r in runs) >= 2
    assert [r for r in runs if r["name"] == "at_startup"] == [{"name": "at_startup", "pastDue": False}]
    assert not any(r["name"] == "daily" for r in runs)
    status = json.loads((host.data_dir / "timers" / "daily.json").read_text())
    assert datetime.fromisoformat(status["Next"]).hour == 4
    refused = httpx.post(f"{host.base_url}/admin/functions/daily")
    assert refused.status_code == 401 and "master key" in refused.json()["error"]
    ran = httpx.post(f"{host.base_url}/admin/functions/daily?wait=true", headers={"x-functions-key": "mk"})
    assert ran.status_code == 200 and _runs(root)[-1] == {"name": "daily", "pastDue": False}
    # Pretend the 04:00 occurrence passed while devhost was down.
    host.stop()
    status["Next"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    (host.data_dir / "timers" / "daily.json").write_text(json.dumps(status))
    host.start()
    deadline = time.monotonic() + 10
    while not any(r == {"name": "daily", "pastDue": True} for r in _runs(root)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert {"name": "daily", "pastDue": True} in _runs(root)
