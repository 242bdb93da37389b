"""The reference side of the Durable benchmark: the `durabletask` package's in-memory test
backend (`durabletask.testing`) running the same "hello cities" workload as devhost.

The backend and the client run in this process; the worker runs in a process of its own
(`python -m bench.durable_inmemory --worker HOST:PORT`), as durabletask apps are deployed and as
devhost runs its app, so neither side shares one GIL with the work it schedules. `same_process=True`
puts the worker in this process too (the benchmark's first reference, one GIL for all three).

Completion is awaited with the backend's own `WaitForInstanceCompletion` (no polling), and
the end of a throughput run is the latest `last_updated_at` the backend recorded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from durabletask import client as dt_client
from durabletask import task, worker
from durabletask.testing import create_test_backend

from bench.durable_results import CITIES, LatencyResult, ThroughputResult, expected_output
from tests.support.ports import free_port

__all__ = ["BACKEND_NAME", "InMemoryBench", "in_memory_bench"]

BACKEND_NAME = "durabletask in-memory"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def say_hello(ctx: task.ActivityContext, city: str) -> str:
    return f"Hello {city}!"


def hello_cities(ctx: task.OrchestrationContext, _: Any) -> Any:
    greetings = []
    for city in CITIES:
        greetings.append((yield ctx.call_activity(say_hello, input=city)))
    return greetings


class InMemoryBench:
    """A started backend + worker + client, ready to run the workload."""

    def __init__(self, client: dt_client.TaskHubGrpcClient, name: str = BACKEND_NAME) -> None:
        self.client = client
        self.name = name

    def _check(self, state: dt_client.OrchestrationState | None) -> dt_client.OrchestrationState:
        assert state is not None, "instance vanished"
        assert state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, state
        assert json.loads(state.serialized_output or "null") == expected_output(), state.serialized_output
        return state

    def throughput(self, instances: int, concurrency: int = 32) -> ThroughputResult:
        """Start `instances` at once (from `concurrency` threads); time to the last completion."""
        started_at = datetime.now(UTC)
        with ThreadPoolExecutor(concurrency) as pool:
            ids = list(pool.map(lambda _: self.client.schedule_new_orchestration(hello_cities), range(instances)))
        last = started_at
        for instance_id in ids:
            state = self._check(self.client.wait_for_orchestration_completion(instance_id, timeout=600))
            last = max(last, state.last_updated_at.astimezone(UTC))
        return ThroughputResult(self.name, instances, (last - started_at).total_seconds())

    def latency(self, runs: int) -> LatencyResult:
        """`runs` instances one after another; client-observed start-to-completion times."""
        samples = []
        for _ in range(runs):
            begin = time.perf_counter()
            instance_id = self.client.schedule_new_orchestration(hello_cities)
            self._check(self.client.wait_for_orchestration_completion(instance_id, timeout=60))
            samples.append((time.perf_counter() - begin) * 1000)
        return LatencyResult(self.name, tuple(samples))


def _worker(address: str, logger: logging.Logger) -> worker.TaskHubGrpcWorker:
    the_worker = worker.TaskHubGrpcWorker(host_address=address, logger=logger)
    the_worker.add_orchestrator(hello_cities)
    the_worker.add_activity(say_hello)
    return the_worker


@contextmanager
def in_memory_bench(same_process: bool = False) -> Iterator[InMemoryBench]:
    """Start the in-memory backend on a free port, a worker (its own process unless `same_process`) and a client;
    stop them after (the worker process by its PID)."""
    logging.getLogger("durabletask").setLevel(logging.WARNING)
    port = free_port()
    backend = create_test_backend(port=port)
    address = f"localhost:{port}"
    quiet = logging.getLogger("bench.durabletask")
    quiet.setLevel(logging.ERROR)  # the worker warns when its stream is cancelled at stop
    the_worker = None
    process = None
    if same_process:
        the_worker = _worker(address, quiet)
        the_worker.start()
    else:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")]))}
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.durable_inmemory", "--worker", address], env=env, stdin=subprocess.PIPE
        )
    the_client = dt_client.TaskHubGrpcClient(host_address=address, logger=quiet)
    name = BACKEND_NAME + (", all in one process" if same_process else ", worker in its own process")
    try:
        yield InMemoryBench(the_client, name)
    finally:
        the_client.close()
        if the_worker is not None:
            the_worker.stop()
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        backend.stop()
        backend.reset()


def _serve_worker(address: str) -> None:
    """The worker process: serve until SIGTERM or until the parent closes our stdin."""
    quiet = logging.getLogger("bench.durabletask")
    quiet.setLevel(logging.ERROR)
    logging.getLogger("durabletask").setLevel(logging.WARNING)
    the_worker = _worker(address, quiet)
    the_worker.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    the_worker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.durable_inmemory")
    parser.add_argument("--worker", required=True, metavar="HOST:PORT", help="serve the workload's worker against it")
    _serve_worker(parser.parse_args().worker)
