"""The host apart from the app: every kind of function runs in a worker process, the app's patches and its GIL stay
there, a dead worker costs one request, `FUNCTIONS_WORKER_PROCESS_COUNT` and `PYTHON_THREADPOOL_THREAD_COUNT` count."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.worker_main import thread_count
from devhost.workers import worker_count, worker_process_enabled
from tests.support.devhost import REPO_ROOT, DevhostProcess, child_pids, start_devhost

APP = REPO_ROOT / "tests" / "devhost" / "apps" / "isolation"


def serve(tmp_path: Path, env: dict[str, str] | None = None) -> DevhostProcess:
    app = tmp_path / "app"
    if not app.exists():
        shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", ".devhost"))
    (tmp_path / "state").mkdir(exist_ok=True)
    return start_devhost(
        app, data_dir=tmp_path / "data", env={"ISOLATION_STATE_DIR": str(tmp_path / "state"), **(env or {})}
    )


@pytest.fixture
def host(tmp_path: Path) -> Iterator[DevhostProcess]:
    with serve(tmp_path) as process:
        yield process


def workers_of(host: DevhostProcess) -> list[int]:
    assert host.pid is not None
    return child_pids(host.pid, "worker_main")


def finished(host: DevhostProcess, status_url: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(status_url, timeout=10).json()
        if status["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"not finished: {status}")


def test_settings() -> None:
    """The switch, the worker count (1-10) and the thread pool size (1-32, else the worker's default)."""
    assert worker_process_enabled({}, "posix") and not worker_process_enabled({}, "nt")
    assert not worker_process_enabled({"DEVHOST_WORKER_PROCESS": "0"}, "posix")
    assert (
        worker_count({}),
        worker_count({"FUNCTIONS_WORKER_PROCESS_COUNT": "3"}),
        worker_count({"FUNCTIONS_WORKER_PROCESS_COUNT": "40"}),
    ) == (1, 3, 10)
    assert thread_count({"PYTHON_THREADPOOL_THREAD_COUNT": "4"}) == 4
    assert (
        thread_count({}) == min(32, (os.cpu_count() or 1) + 4) == thread_count({"PYTHON_THREADPOOL_THREAD_COUNT": "99"})
    )


def test_every_kind_of_function_runs_in_the_worker(host: DevhostProcess, tmp_path: Path) -> None:
    """HTTP function, orchestrator, entity, activity and timer function all report the worker's pid, never the
    host's."""
    (worker,) = workers_of(host)
    assert httpx.get(f"{host.base_url}/api/pid", timeout=10).json()["pid"] == worker
    started = httpx.post(f"{host.base_url}/api/start/pids", timeout=10).json()
    assert finished(host, started["statusQueryGetUri"])["output"] == {
        "orchestrator": worker,
        "activity": worker,
        "entity": worker,
    }
    items = httpx.get(f"{host.base_url}/admin/host/durable/workitems", timeout=10).json()
    assert (
        items["orchestrator episodes"] == 3 and items["activity executions"] == 1
    )  # start, activity result, entity answer
    assert items["entity operations"] == items["entity batches"] == 1 and items["orchestration messages"] == 3
    assert httpx.post(f"{host.base_url}/admin/functions/yearly", params={"wait": "true"}, timeout=30).status_code == 200
    assert int((tmp_path / "state" / "timer-pid").read_text()) == worker
    assert host.pid not in (worker,)


def test_the_apps_patches_and_its_gil_stay_in_its_process(host: DevhostProcess) -> None:
    """The app patched starlette and asyncio at import: its own responses show it, the host's do not; while an HTTP
    function burns CPU for 3 s, the host's status endpoint and the durable management API answer."""
    assert httpx.get(f"{host.base_url}/api/pid", timeout=10).headers.get("x-patched-by-app") == "1"
    status = httpx.get(f"{host.base_url}/admin/host/status", timeout=10)
    assert status.json() == {"state": "Running"} and "x-patched-by-app" not in status.headers
    burned: list[dict[str, Any]] = []
    burner = threading.Thread(
        target=lambda: burned.append(httpx.get(f"{host.base_url}/api/burn", params={"seconds": "3"}, timeout=30).json())
    )
    burner.start()
    time.sleep(0.5)
    answered = []
    for _ in range(5):
        assert httpx.get(f"{host.base_url}/admin/host/status", timeout=10).status_code == 200
        assert httpx.get(f"{host.base_url}/runtime/webhooks/durabletask/instances", timeout=10).status_code == 200
        answered.append(time.time())
    burner.join(30)
    assert answered[-1] < burned[0]["ended"], (answered, burned)  # all answered while the app's GIL was busy


def test_a_worker_killed_mid_request_costs_that_request(host: DevhostProcess) -> None:
    """The request in flight gets a 500; the worker is replaced and the next requests succeed; durable work that was
    running when it died runs again and completes."""
    (worker,) = workers_of(host)
    outcome: list[httpx.Response] = []
    caller = threading.Thread(
        target=lambda: outcome.append(httpx.get(f"{host.base_url}/api/nap", params={"seconds": "5"}, timeout=30))
    )
    caller.start()
    started = httpx.post(f"{host.base_url}/api/start/slow_chain", json=3, timeout=10).json()
    time.sleep(1.0)
    os.kill(worker, signal.SIGKILL)
    caller.join(30)
    assert outcome[0].status_code == 500 and "worker process exited" in outcome[0].json()["error"]
    after = httpx.get(f"{host.base_url}/api/pid", timeout=30)
    assert after.status_code == 200 and after.json()["pid"] not in (worker, host.pid)
    done = finished(host, started["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed" and done["output"]["slept"] == after.json()["pid"]


def test_two_worker_processes_share_the_work(tmp_path: Path) -> None:
    """FUNCTIONS_WORKER_PROCESS_COUNT=2: two workers, and concurrent HTTP calls land on both."""
    with serve(tmp_path, {"FUNCTIONS_WORKER_PROCESS_COUNT": "2"}) as host:
        assert len(workers_of(host)) == 2
        seen: set[int] = set()
        naps = [
            threading.Thread(target=lambda: httpx.get(f"{host.base_url}/api/nap", params={"seconds": "1"}, timeout=30))
            for _ in range(2)
        ]
        for thread in naps:
            thread.start()
        time.sleep(0.2)
        for _ in range(4):  # each worker has a nap running: the calls take turns
            seen.add(httpx.get(f"{host.base_url}/api/pid", timeout=30).json()["pid"])
        for thread in naps:
            thread.join(30)
        assert seen == set(workers_of(host)), seen


def test_the_thread_pool_size_bounds_sync_functions_at_once(tmp_path: Path) -> None:
    """PYTHON_THREADPOOL_THREAD_COUNT=1: two sync functions called together run one after the other."""
    with serve(tmp_path, {"PYTHON_THREADPOOL_THREAD_COUNT": "1"}) as host:
        naps: list[dict[str, float]] = []
        calls = [
            threading.Thread(
                target=lambda: naps.append(
                    httpx.get(f"{host.base_url}/api/nap", params={"seconds": "0.5"}, timeout=30).json()
                )
            )
            for _ in range(2)
        ]
        for thread in calls:
            thread.start()
        for thread in calls:
            thread.join(30)
        first, second = sorted(naps, key=lambda n: n["began"])
        assert second["began"] >= first["ended"] - 0.01, naps


def test_status_answers_are_kept_until_the_host_says_they_changed() -> None:
    """The worker's cache of status reads: kept per instance and query, dropped on a change, and an answer computed
    before a change the worker already heard of is not kept."""
    from devhost.worker_main import StatusCache
    from devhost.workers import status_read

    assert status_read("GET", "/runtime/webhooks/durabletask/instances/abc") == "abc"
    assert status_read("GET", "/runtime/webhooks/durabletask/instances/abc/raiseEvent/x") is None
    assert status_read("POST", "/runtime/webhooks/durabletask/instances/abc") is None
    cache = StatusCache()
    cache.remember("abc", "showInput=false", 202, b'{"runtimeStatus": "Running"}', seq=0)
    assert cache.get("abc", "showInput=false") == (202, b'{"runtimeStatus": "Running"}')
    assert cache.get("abc", "") is None
    cache.changed("abc", 1)
    assert cache.get("abc", "showInput=false") is None
    cache.remember("abc", "", 202, b"stale", seq=0)  # computed before change 1: not kept
    assert cache.get("abc", "") is None
    cache.remember("abc", "", 200, b"fresh", seq=1)
    assert cache.get("abc", "") == (200, b"fresh")


def test_a_worker_killed_while_it_loads_the_app_is_replaced(host: DevhostProcess) -> None:
    """Kill the worker, then its replacement while it is still loading the app: a third one serves, and a request sent
    meanwhile waits for it instead of failing."""
    (first,) = workers_of(host)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not (loading := [p for p in workers_of(host) if p != first]):
        assert time.monotonic() < deadline, "no replacement worker started"
        time.sleep(0.005)
    os.kill(loading[0], signal.SIGKILL)
    answer = httpx.get(f"{host.base_url}/api/pid", timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["pid"] not in (first, loading[0], host.pid)
