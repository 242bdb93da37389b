"""The reference side of the Durable benchmark: the `durabletask` package's in-memory test
backend (`durabletask.testing`), with its gRPC worker and client in this process, running the
same "hello cities" workload as devhost.

Completion is awaited with the backend's own `WaitForInstanceCompletion` (no polling), and
the end of a throughput run is the latest `last_updated_at` the backend recorded.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from durabletask import client as dt_client
from durabletask import task, worker
from durabletask.testing import create_test_backend

from bench.durable_results import CITIES, LatencyResult, ThroughputResult, expected_output
from tests.support.ports import free_port

__all__ = ["BACKEND_NAME", "InMemoryBench", "in_memory_bench"]

BACKEND_NAME = "durabletask in-memory"


def say_hello(ctx: task.ActivityContext, city: str) -> str:
    return f"Hello {city}!"


def hello_cities(ctx: task.OrchestrationContext, _: Any) -> Any:
    greetings = []
    for city in CITIES:
        greetings.append((yield ctx.call_activity(say_hello, input=city)))
    return greetings


class InMemoryBench:
    """A started backend + worker + client, ready to run the workload."""

    def __init__(self, client: dt_client.TaskHubGrpcClient) -> None:
        self.client = client

    def _check(self, state: dt_client.OrchestrationState | None) -> dt_client.OrchestrationState:
        assert state is not None, "instance vanished"
        assert state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, state
        assert json.loads(state.serialized_output or "null") == expected_output(), state.serialized_output
        return state

    def throughput(self, instances: int, concurrency: int = 32) -> ThroughputResult:
        """Start `instances` at once (from `concurrency` threads); time to the last completion."""
        started_at = datetime.now(timezone.utc)
        with ThreadPoolExecutor(concurrency) as pool:
            ids = list(pool.map(lambda _: self.client.schedule_new_orchestration(hello_cities), range(instances)))
        last = started_at
        for instance_id in ids:
            state = self._check(self.client.wait_for_orchestration_completion(instance_id, timeout=600))
            last = max(last, state.last_updated_at.astimezone(timezone.utc))
        return ThroughputResult(BACKEND_NAME, instances, (last - started_at).total_seconds())

    def latency(self, runs: int) -> LatencyResult:
        """`runs` instances one after another; client-observed start-to-completion times."""
        samples = []
        for _ in range(runs):
            begin = time.perf_counter()
            instance_id = self.client.schedule_new_orchestration(hello_cities)
            self._check(self.client.wait_for_orchestration_completion(instance_id, timeout=60))
            samples.append((time.perf_counter() - begin) * 1000)
        return LatencyResult(BACKEND_NAME, tuple(samples))


@contextmanager
def in_memory_bench() -> Iterator[InMemoryBench]:
    """Start the in-memory backend on a free port, a worker and a client; stop them after."""
    logging.getLogger("durabletask").setLevel(logging.WARNING)
    port = free_port()
    backend = create_test_backend(port=port)
    address = f"localhost:{port}"
    quiet = logging.getLogger("bench.durabletask")
    quiet.setLevel(logging.ERROR)  # the worker warns when its stream is cancelled at stop
    the_worker = worker.TaskHubGrpcWorker(host_address=address, logger=quiet)
    the_worker.add_orchestrator(hello_cities)
    the_worker.add_activity(say_hello)
    the_worker.start()
    the_client = dt_client.TaskHubGrpcClient(host_address=address, logger=quiet)
    try:
        yield InMemoryBench(the_client)
    finally:
        the_client.close()
        the_worker.stop()
        backend.stop()
        backend.reset()
