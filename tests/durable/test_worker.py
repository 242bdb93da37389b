"""The app in a worker process: where its code runs, what happens when the worker dies, and that it ends with
devhost."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from devhost.workers import MAX_ATTEMPTS
from tests.durable.harness import APPS_DIR, DurableApp
from tests.support.devhost import start_devhost

APP = "worker"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _host_pid(app: DurableApp) -> int:
    return int(app.http.get("/api/pid").json()["pid"])


def test_activities_run_in_one_worker_process_beside_the_host(app: DurableApp) -> None:
    """Sync and async activities and the HTTP function share one worker process, which is not devhost's; its log lines
    say which it is."""
    results = app.completed_output("pids")
    worker_pids = {r["pid"] for r in results}
    assert len(results) == 4 and len(worker_pids) == 1, results
    worker = worker_pids.pop()
    assert _host_pid(app) == worker != app.host.pid
    assert f"(worker 0, pid {worker}) where ran for 0" in app.host.log_text()


def test_worker_that_dies_mid_activity_is_replaced_and_the_activity_runs_again(app: DurableApp) -> None:
    """The first attempt ends the worker process; a new worker runs the activity again, and the orchestration
    completes."""
    before = {r["pid"] for r in app.completed_output("pids")}
    started = app.start("crash_once")
    final = app.wait_done(started["id"])
    assert final["runtimeStatus"] == "Completed", final
    survived, beside = final["output"]
    assert survived == f"survived {started['id']}"
    attempts = (app.state_dir / f"exited-{started['id']}").read_text().split()
    assert len(attempts) == 2 and attempts[0] != attempts[1], attempts  # two processes
    assert int(attempts[0]) in before and beside["label"] == "beside"
    after = {r["pid"] for r in app.completed_output("pids")}
    assert after == {int(attempts[1])}, (after, attempts)


def test_activity_that_always_ends_its_worker_fails_after_max_attempts(app: DurableApp) -> None:
    """After MAX_ATTEMPTS worker deaths the activity fails with a reason saying so; later activities still run."""
    started = app.start("crash_always")
    final = app.wait_done(started["id"])
    assert final["runtimeStatus"] == "Completed", final
    failure = final["output"]["failure"]
    assert "exit_always" in failure and "worker process exited (code 4)" in failure, failure
    assert f"{MAX_ATTEMPTS} times" in failure
    attempts = (app.state_dir / f"exited-{started['id']}").read_text().split()
    assert len(attempts) == MAX_ATTEMPTS and len(set(attempts)) == MAX_ATTEMPTS
    assert final["output"]["after"]["label"] == "after"
    assert final["output"]["after"]["pid"] != app.host.pid


def test_garbled_stream_from_the_worker_replaces_it(app: DurableApp) -> None:
    """Bytes that are no message end that worker (killed, not waited for); the next one runs the activity."""
    started = app.start("garbled")
    final = app.wait_done(started["id"], timeout=20)
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == f"clean {started['id']}"
    attempts = (app.state_dir / f"garbled-{started['id']}").read_text().split()
    assert len(attempts) == 2 and attempts[0] != attempts[1], attempts
    assert _wait_gone(int(attempts[0]))
    assert "bad message from worker process" in app.host.log_text()


def test_worker_process_ends_with_devhost(tmp_path: Path) -> None:
    """SIGKILL on devhost takes its worker down too; a graceful stop ends it as well."""
    state = tmp_path / "state"
    for how in ("kill", "stop"):
        host = start_devhost(
            APPS_DIR / APP, data_dir=tmp_path / f"data-{how}", env={"DURABLE_TEST_STATE_DIR": str(state)}
        )
        app = DurableApp(host=host, state_dir=state)
        try:
            worker = app.completed_output("pids")[0]["pid"]
            assert _alive(worker)
        finally:
            app.close()
            if how == "kill":
                assert host.pid is not None
                os.kill(host.pid, signal.SIGKILL)
                host.process.wait(10)  # type: ignore[union-attr]
                host.kill()
            else:
                host.stop()
        assert _wait_gone(worker), f"worker {worker} outlived devhost ({how})"


def test_activities_on_threads_when_the_worker_process_is_off(tmp_path: Path) -> None:
    """DEVHOST_WORKER_PROCESS=0 (or its older name): the app runs in devhost's own process (for debuggers)."""
    state = tmp_path / "state"
    host = start_devhost(
        APPS_DIR / APP,
        data_dir=tmp_path / "data",
        env={"DURABLE_TEST_STATE_DIR": str(state), "DEVHOST_WORKER_PROCESS": "0"},
    )
    app = DurableApp(host=host, state_dir=state)
    try:
        assert {r["pid"] for r in app.completed_output("pids")} == {host.pid}
    finally:
        app.close()
        host.stop()
