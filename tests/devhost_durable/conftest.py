"""The engine's test harness: the durable extension served in-process by uvicorn on a free port.

No HTTP host of devhost is involved: the management routes are mounted in a bare
Starlette app whose lifespan starts and stops the extension, and tests drive it with the
real SDK client (`DurableOrchestrationClient`, from the extension's binding value) and
plain HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from devhost.durable import DurableExtension
from devhost.extension import BindingRequest
from devhost.loader import FunctionIndex, load_app
from tests.support.ports import free_port

APP_DIR = Path(__file__).resolve().parent / "apps" / "basic"
_INDEX: FunctionIndex | None = None


def basic_index() -> FunctionIndex:
    """The test app, loaded once per session (the SDK indexes an app object only once)."""
    global _INDEX
    if _INDEX is None:
        _INDEX = load_app(APP_DIR)
    return _INDEX


@dataclass
class Hub:
    """A served extension: its base URL, the extension itself and a way to build SDK clients."""

    base_url: str
    extension: DurableExtension
    server: uvicorn.Server
    thread: threading.Thread

    def client(self) -> df.DurableOrchestrationClient:
        starter = basic_index().get("starter")
        assert starter is not None
        binding = starter.bindings_of_type("durableClient")[0]
        value = self.extension.binding_value(BindingRequest(starter, binding))
        return df.DurableOrchestrationClient(value)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30.0)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def wait(
        self,
        instance_id: str,
        *,
        timeout: float = 30.0,
        statuses: tuple[str, ...] = ("Completed", "Failed", "Terminated"),
    ) -> dict[str, Any]:
        """Poll the status webhook until the instance reaches one of `statuses`."""
        deadline = time.monotonic() + timeout
        last: Any = None
        with self.http() as http:
            while time.monotonic() < deadline:
                response = http.get(f"/runtime/webhooks/durabletask/instances/{instance_id}")
                if response.status_code in (200, 202):
                    last = response.json()
                    if last["runtimeStatus"] in statuses:
                        return last
                time.sleep(0.02)
        raise AssertionError(f"{instance_id} did not reach {statuses}; last status {last}")


def serve(data_dir: Path, hub_name: str = "TestHub") -> Hub:
    """Start the extension for the test app on a free port."""
    port = free_port()
    extension = DurableExtension(data_dir, hub_name, f"http://127.0.0.1:{port}")
    index = basic_index()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await extension.startup(index)
        yield
        await extension.shutdown()

    app = Starlette(routes=extension.routes(), lifespan=lifespan)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    return Hub(f"http://127.0.0.1:{port}", extension, server, thread)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    """The extension serving the test app, with its store in a temp dir."""
    served = serve(tmp_path / "data")
    try:
        yield served
    finally:
        served.stop()


def run(coro: Any) -> Any:
    """Run one SDK client coroutine to completion (each call gets a fresh loop and session)."""

    async def wrapped() -> Any:
        from azure.durable_functions.models.utils import http_utils

        try:
            return await coro
        finally:
            await http_utils._close_session()

    return asyncio.run(wrapped())
