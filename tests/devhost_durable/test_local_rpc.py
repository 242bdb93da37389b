"""The SDK client's calls to the engine's own management URLs, delivered in-process, answer as over HTTP."""

from __future__ import annotations

import asyncio
import importlib
import json
from pathlib import Path
from typing import Any, TypeVar

import azure.durable_functions as df
import pytest

from devhost.durable import DurableExtension
from devhost.durable.local_rpc import LocalRpc
from tests.devhost_durable.conftest import Hub, run

T = TypeVar("T")
CLIENT_MODULE = "azure.durable_functions.models.DurableOrchestrationClient"


def on_engine_loop(hub: Hub, make: Any) -> Any:
    """Build a client and run `make(client)` on the engine's loop (where the app's HTTP functions run)."""
    rpc = hub.extension.local_rpc
    assert rpc is not None and rpc.loop is not None

    async def go() -> Any:
        return await make(hub.client())

    return asyncio.run_coroutine_threadsafe(go(), rpc.loop).result(30)


async def _until_done(client: df.DurableOrchestrationClient, instance_id: str) -> df.DurableOrchestrationStatus:
    for _ in range(1500):
        status = await client.get_status(instance_id, show_input=True)
        if status.runtime_status and status.runtime_status.value in ("Completed", "Failed"):
            return status
        await asyncio.sleep(0.01)
    raise AssertionError(f"{instance_id} did not finish")


def test_client_calls_on_the_engine_loop_go_in_process_and_answer_as_over_http(hub: Hub) -> None:
    """start_new, get_status (running, finished, unknown) and purge: same results as the HTTP path, no sockets."""
    rpc = hub.extension.local_rpc
    assert rpc is not None
    before = rpc.local_calls

    async def scenario(client: df.DurableOrchestrationClient) -> tuple[Any, ...]:
        instance_id = await client.start_new("chain", None, ["a", "b"])
        done = await _until_done(client, instance_id)
        unknown = await client.get_status("no-such-instance")
        return instance_id, done, unknown

    instance_id, local, unknown = on_engine_loop(hub, scenario)
    assert rpc.local_calls > before + 2
    after_local = rpc.local_calls
    over_http = run(hub.client().get_status(instance_id, show_input=True))
    assert rpc.local_calls == after_local  # that read ran on another loop: over HTTP
    assert local.runtime_status == over_http.runtime_status
    assert local.output == over_http.output and local.input_ == over_http.input_
    assert local.created_time == over_http.created_time and local.last_updated_time == over_http.last_updated_time
    assert unknown.runtime_status is None
    assert vars(unknown) == vars(run(hub.client().get_status("no-such-instance")))

    purged = on_engine_loop(hub, lambda client: client.purge_instance_history(instance_id))
    assert purged.instances_deleted == 1
    assert run(hub.client().get_status(instance_id)).runtime_status is None


def test_posted_bodies_and_entity_reads_go_in_process(hub: Hub) -> None:
    """signal_entity (a POST with a JSON body) and read_entity_state travel in-process intact."""
    entity = df.EntityId("counter", "local-rpc")

    async def scenario(client: df.DurableOrchestrationClient) -> Any:
        await client.signal_entity(entity, "add", 5)
        await client.signal_entity(entity, "add", 7)
        for _ in range(1500):
            state = await client.read_entity_state(entity)
            if state.entity_exists and state.entity_state in (12, "12"):
                return state
            await asyncio.sleep(0.01)
        raise AssertionError("the signals were not applied")

    before = hub.extension.local_rpc.local_calls  # type: ignore[union-attr]
    state = on_engine_loop(hub, scenario)
    assert hub.extension.local_rpc.local_calls >= before + 3  # type: ignore[union-attr]
    over_http = run(hub.client().read_entity_state(entity))
    assert over_http.entity_exists and over_http.entity_state == state.entity_state


def test_other_origins_and_other_loops_use_http(hub: Hub) -> None:
    """A URL this process did not hand out, or a call from another loop, goes to the SDK's own helper."""
    rpc = LocalRpc(hub.extension.routes(), "http://127.0.0.1:1")
    assert rpc._local_target(f"{hub.base_url}/runtime/webhooks/durabletask/instances/x") is None  # no loop installed
    loop = asyncio.new_event_loop()
    try:
        rpc._loop = loop

        async def targets() -> list[Any]:
            return [
                rpc._local_target("http://127.0.0.1:1/runtime/webhooks/durabletask/instances/x?a=1"),
                rpc._local_target("http://127.0.0.1:2/runtime/webhooks/durabletask/instances/x"),
                rpc._local_target("http://127.0.0.1:1/api/other"),
            ]

        mine, other_origin, other_path = loop.run_until_complete(targets())
    finally:
        loop.close()
    assert mine == ("/runtime/webhooks/durabletask/instances/x", "a=1")
    assert other_origin is None and other_path is None


def test_shutdown_restores_the_sdk_helpers(tmp_path: Path) -> None:
    """After uninstall the client module holds the SDK's own request helpers again."""
    module: Any = importlib.import_module(CLIENT_MODULE)
    originals = {
        n: getattr(getattr(module, n), "devhost_original", getattr(module, n))
        for n in ("get_async_request", "post_async_request", "delete_async_request")
    }
    rpc = LocalRpc([], "http://127.0.0.1:1")
    loop = asyncio.new_event_loop()
    try:
        rpc.install(loop)
        assert all(getattr(module, n).devhost_original is originals[n] for n in originals)
        rpc.uninstall()
    finally:
        loop.close()
    assert all(getattr(module, n) is originals[n] for n in originals)


def test_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DEVHOST_DURABLE_LOCAL_RPC=0: the extension sends every client call over HTTP."""
    monkeypatch.setenv("DEVHOST_DURABLE_LOCAL_RPC", "0")
    assert DurableExtension(tmp_path / "data", "OffHub", "http://127.0.0.1:1").local_rpc is None


def test_ids_with_reserved_characters_and_unknown_routes(hub: Hub) -> None:
    """An instance id and entity key with ':' '~' '.' (percent-encoded in URLs) work in-process; a path
    no management route serves goes to the whole host over HTTP (its own 404 body)."""
    rpc = hub.extension.local_rpc
    assert rpc is not None
    instance_id = "chat:1~a.b-turn"
    entity = df.EntityId("counter", "key:1~x.y")

    async def scenario(client: df.DurableOrchestrationClient) -> Any:
        await client.start_new("chain", instance_id, ["x"])
        await client.signal_entity(entity, "add", 3)
        done = await _until_done(client, instance_id)
        for _ in range(1500):
            state = await client.read_entity_state(entity)
            if state.entity_exists:
                return done, state
            await asyncio.sleep(0.01)
        raise AssertionError("the signal was not applied")

    before = rpc.local_calls
    done, state = on_engine_loop(hub, scenario)
    assert rpc.local_calls > before
    assert done.instance_id == instance_id and done.runtime_status.value == "Completed"
    assert state.entity_state in (3, "3")
    assert run(hub.client().get_status(instance_id)).output == done.output

    loop_calls = rpc.local_calls

    async def unknown() -> Any:
        return await rpc.call("GET", "/runtime/webhooks/durabletask/no/such/route", "", None)

    assert asyncio.run_coroutine_threadsafe(unknown(), rpc.loop).result(10) is None  # type: ignore[arg-type]
    assert rpc.local_calls == loop_calls


def test_an_over_long_segment_is_refused_in_process_as_over_http(hub: Hub) -> None:
    """The app's client asking with an 8,000-character instance id gets the 414 devhost answers over HTTP."""
    rpc = hub.extension.local_rpc
    assert rpc is not None and rpc.loop is not None

    async def ask() -> Any:
        return await rpc.call("POST", f"/runtime/webhooks/durabletask/orchestrators/chain/{'x' * 8000}", "", b"null")

    status, body = asyncio.run_coroutine_threadsafe(ask(), rpc.loop).result(10)
    assert status == 414 and "segment" in json.loads(body)["error"]
