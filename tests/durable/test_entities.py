"""Conformance: entities from clients (SDK and webhooks) and from orchestrations; ordering; delete."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from tests.durable.harness import DEADLINE, WEBHOOKS, DurableApp

APP = "entities"


def _read(app: DurableApp, name: str, key: str) -> dict[str, Any]:
    response = app.http.get(f"/api/entities/{name}/{key}")
    assert response.status_code == 200, response.text
    return response.json()


def _wait_state(app: DurableApp, name: str, key: str, expected: Any) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = _read(app, name, key)
        if last == expected:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{name}@{key} never became {expected!r}; last {last!r}")


def _signal(app: DurableApp, name: str, key: str, operation: str, payload: Any = None) -> None:
    response = app.http.post(f"/api/entities/{name}/{key}/{operation}", json=payload)
    assert response.status_code == 202, response.text


def test_unknown_entity_reads_as_missing(app: DurableApp) -> None:
    """read_entity_state of a never-signalled entity says it does not exist."""
    assert _read(app, "counter", f"nobody-{uuid.uuid4().hex}") == {"exists": False, "state": None}


def test_signals_from_client_are_applied_exactly_once(app: DurableApp) -> None:
    """Many concurrent signals from clients all land; the count is exact."""
    key = f"concurrent-{uuid.uuid4().hex}"

    async def send_all() -> None:
        async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as client:
            responses = await asyncio.gather(
                *(client.post(f"/api/entities/counter/{key}/add", json=1) for _ in range(40))
            )
        assert all(r.status_code == 202 for r in responses), [r.text for r in responses]

    asyncio.run(send_all())
    _wait_state(app, "counter", key, {"exists": True, "state": 40})


def test_operations_from_one_sender_apply_in_order(app: DurableApp) -> None:
    """Signals one client sends one after another are applied in that order."""
    key = f"ordered-{uuid.uuid4().hex}"
    # From 1: the SDK client's signal_entity sends a falsy input (0) as no input at all.
    for item in range(1, 16):
        _signal(app, "ledger", key, "append", item)
    _wait_state(app, "ledger", key, {"exists": True, "state": list(range(1, 16))})


def test_entity_from_orchestration_signal_and_call(app: DurableApp) -> None:
    """Signals from an orchestration precede its later call; call_entity returns results and failures."""
    key = f"orch-{uuid.uuid4().hex}"
    output = app.completed_output("counter_workflow", {"key": key, "adds": 5})
    assert output["after_signals"] == 5
    assert output["after_call"] == 15
    assert output["failure"] is not None and "counter refused at 15" in output["failure"]
    # The failed operation left the state alone.
    _wait_state(app, "counter", key, {"exists": True, "state": 15})


def test_entity_delete_removes_state(app: DurableApp) -> None:
    """destruct_on_exit deletes the entity; reading it again says it does not exist."""
    key = f"doomed-{uuid.uuid4().hex}"
    _signal(app, "counter", key, "add", 7)
    _wait_state(app, "counter", key, {"exists": True, "state": 7})
    _signal(app, "counter", key, "delete")
    _wait_state(app, "counter", key, {"exists": False, "state": None})


def test_entity_webhooks_signal_and_read(app: DurableApp) -> None:
    """`POST entities/{name}/{key}?op=` signals (202); `GET entities/{name}/{key}` returns the state."""
    key = f"webhook-{uuid.uuid4().hex}"
    url = f"{WEBHOOKS}/entities/counter/{key}"
    assert app.http.get(url).status_code == 404
    for _ in range(3):
        response = app.http.post(url, params={"op": "add"}, json=2)
        assert response.status_code == 202, response.text
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        got = app.http.get(url)
        if got.status_code == 200 and got.json() == 6:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"entity state never became 6: {got.status_code} {got.text}")
    assert _read(app, "counter", key) == {"exists": True, "state": 6}


def test_malformed_signal_body_is_refused_and_not_applied(app: DurableApp) -> None:
    """A webhook signal whose body is not JSON is a 4xx JSON error and changes nothing."""
    key = f"strict-{uuid.uuid4().hex}"
    _signal(app, "counter", key, "add", 4)
    _wait_state(app, "counter", key, {"exists": True, "state": 4})
    bad = app.http.post(
        f"{WEBHOOKS}/entities/counter/{key}",
        params={"op": "add"},
        content=b"{oops",
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= bad.status_code < 500, bad.text
    assert bad.json()
    _signal(app, "counter", key, "add", 1)
    _wait_state(app, "counter", key, {"exists": True, "state": 5})
