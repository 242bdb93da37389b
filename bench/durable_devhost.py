"""The devhost side of the Durable benchmark: `python -m devhost start` as a subprocess
(persistence on, fresh data dir) serving `bench/durable_app`, driven over real HTTP through the
management API under `/runtime/webhooks/durabletask/`.

Throughput: N start requests are sent concurrently; completion is detected by polling the
instance list filtered to Pending/Running (cheap: one request per 0.2 s), and the end of the
run is the latest `lastUpdatedTime` devhost recorded (the poll time if timestamps are whole
seconds). Latency: one instance at a time, its status polled every 2 ms.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.durable_results import LatencyResult, ThroughputResult, expected_output
from tests.support.devhost import DevhostProcess, start_devhost

__all__ = ["BACKEND_NAME", "DevhostBench", "devhost_bench"]

BACKEND_NAME = "devhost (SQLite)"
APP_DIR = Path(__file__).resolve().parent / "durable_app"
WEBHOOKS = "/runtime/webhooks/durabletask"
ORCHESTRATOR = "hello_cities"
START_ATTEMPTS = 3


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class DevhostBench:
    """A running devhost serving the benchmark app."""

    def __init__(self, host: DevhostProcess, *, keep_alive: bool = True, name: str = BACKEND_NAME) -> None:
        self.name = name
        self.host = host
        self.keep_alive = keep_alive
        """Whether start requests reuse connections (like most clients) or open one each."""

    async def _start_all(self, instances: int, concurrency: int) -> tuple[list[str], int]:
        """Start `instances` with fresh ids, `concurrency` requests at a time; the ids and the retry count.

        Sent with aiohttp: httpx's async client costs ~10 ms of CPU per request at 64 connections
        (aiohttp ~0.4 ms), and the load generator shares the machine's two cores with devhost.
        A start that fails at the transport level (connection dropped) is sent again with the
        same id: a 409 then means the first attempt had been accepted. Retries are counted and
        printed, never hidden.
        """
        connector = aiohttp.TCPConnector(limit=concurrency, force_close=not self.keep_alive)
        timeout = aiohttp.ClientTimeout(total=120)
        retries = 0
        async with aiohttp.ClientSession(self.host.base_url, connector=connector, timeout=timeout) as client:
            gate = asyncio.Semaphore(concurrency)

            async def start_one() -> str:
                nonlocal retries
                instance_id = f"bench-{uuid.uuid4().hex}"
                url = f"{WEBHOOKS}/orchestrators/{ORCHESTRATOR}/{instance_id}"
                async with gate:
                    for attempt in range(START_ATTEMPTS):
                        try:
                            async with client.post(url) as response:
                                status, text = response.status, await response.text()
                        except aiohttp.ClientConnectionError as error:
                            if attempt == START_ATTEMPTS - 1:
                                raise RuntimeError(f"start request failed at the transport level: {error!r}") from error
                            retries += 1
                            continue
                        if status == 202 or (attempt > 0 and status == 409):
                            return instance_id
                        raise RuntimeError(f"start failed: {status} {text}")
                raise AssertionError("unreachable")

            ids = list(await asyncio.gather(*(start_one() for _ in range(instances))))
        return ids, retries

    def _list(self, http: httpx.Client, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every instance the list query returns, following `x-ms-continuation-token` pages."""
        found: list[dict[str, Any]] = []
        headers: dict[str, str] = {}
        while True:
            response = http.get(f"{WEBHOOKS}/instances", params=params, headers=headers)
            response.raise_for_status()
            found.extend(response.json())
            token = response.headers.get("x-ms-continuation-token")
            if not token or token == "null":
                return found
            headers = {"x-ms-continuation-token": token}

    def throughput(self, instances: int, concurrency: int = 64) -> ThroughputResult:
        """Start `instances` at once; time from the first start to the last completion."""
        started_at = datetime.now(UTC)
        ids, retries = asyncio.run(self._start_all(instances, concurrency))
        since = {"createdTimeFrom": started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "showInput": "false"}
        with httpx.Client(base_url=self.host.base_url, timeout=120) as http:
            while True:
                running = http.get(
                    f"{WEBHOOKS}/instances", params={**since, "runtimeStatus": "Pending,Running", "top": "1"}
                )
                running.raise_for_status()
                if not running.json():
                    break
                time.sleep(0.2)
            polled_end = datetime.now(UTC)
            statuses = {s["instanceId"]: s for s in self._list(http, since)}
        wanted = expected_output()
        bad = [
            i
            for i in ids
            if statuses.get(i, {}).get("runtimeStatus") != "Completed" or statuses[i].get("output") != wanted
        ]
        if bad:
            example = statuses.get(bad[0])
            raise RuntimeError(f"{len(bad)} of {instances} instances did not complete right, e.g. {example}")
        finished = [_parse_time(statuses[i]["lastUpdatedTime"]) for i in ids]
        end = max(finished) if any(t.microsecond for t in finished) else polled_end
        return ThroughputResult(self.name, instances, (end - started_at).total_seconds(), retries)

    def latency(self, runs: int) -> LatencyResult:
        """`runs` instances one after another; client-observed start-to-completion times."""
        samples = []
        wanted = expected_output()
        with httpx.Client(base_url=self.host.base_url, timeout=60) as http:
            for _ in range(runs):
                begin = time.perf_counter()
                started = http.post(f"{WEBHOOKS}/orchestrators/{ORCHESTRATOR}", json=None)
                started.raise_for_status()
                status_url = f"{WEBHOOKS}/instances/{started.json()['id']}"
                while True:
                    status = http.get(status_url, params={"showInput": "false"})
                    if status.status_code == 200:
                        break
                    time.sleep(0.002)
                samples.append((time.perf_counter() - begin) * 1000)
                body = status.json()
                if body.get("runtimeStatus") != "Completed" or body.get("output") != wanted:
                    raise RuntimeError(f"latency run ended wrong: {body}")
        return LatencyResult(self.name, tuple(samples))


@contextmanager
def devhost_bench(*, keep_alive: bool = True, in_process: bool = False) -> Iterator[DevhostBench]:
    """Start devhost on a free port with a fresh data dir (the app in its worker process, or with `in_process` in
    devhost's own: `DEVHOST_WORKER_PROCESS=0`); stop it (SIGTERM) after."""
    with tempfile.TemporaryDirectory(prefix="durable-bench-") as tmp:
        env = {"DEVHOST_WORKER_PROCESS": "0" if in_process else "1"}
        host = start_devhost(APP_DIR, data_dir=Path(tmp) / "data", env=env)
        try:
            yield DevhostBench(
                host,
                keep_alive=keep_alive,
                name=BACKEND_NAME + (", app in devhost's process" if in_process else ", app in a worker"),
            )
        except Exception:
            print(f"--- devhost log (tail) ---\n{host.log_text()[-3000:]}", file=sys.stderr)
            raise
        finally:
            host.stop()
