"""The management API: Azure's URL shapes, status codes, and refusals that write nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from tests.devhost_durable.conftest import Hub, run

WEBHOOKS = "/runtime/webhooks/durabletask"


def test_start_webhook_returns_check_status_payload_whose_urls_work(hub: Hub) -> None:
    """POST orchestrators/{name}/{id}: 202, Location, and every management URL answers."""
    with hub.http() as http:
        response = http.post(f"{WEBHOOKS}/orchestrators/approval/w1", json=600)
        assert response.status_code == 202
        payload = response.json()
        assert payload["id"] == "w1"
        assert response.headers["Location"] == payload["statusQueryGetUri"]
        running = http.get(payload["statusQueryGetUri"])
        assert running.status_code == 202 and running.headers["Location"]
        assert http.post(payload["suspendPostUri"].replace("{text}", "pause")).status_code == 202
        hub.wait("w1", statuses=("Suspended",))
        assert http.post(payload["sendEventPostUri"].replace("{eventName}", "approve"), json="ok").status_code == 202
        time.sleep(0.2)
        assert http.get(payload["statusQueryGetUri"]).json()["runtimeStatus"] == "Suspended"
        assert http.post(payload["resumePostUri"].replace("{text}", "go")).status_code == 202
        done = hub.wait("w1")
        assert done["output"] == {"approved": "ok"}
        assert http.get(payload["statusQueryGetUri"]).status_code == 200
        restarted = http.post(payload["restartPostUri"])
        assert restarted.status_code == 202  # with the new instance's check-status payload, as the extension answers
        new_id = restarted.json()["id"]
        assert new_id != "w1" and restarted.headers["Location"] == restarted.json()["statusQueryGetUri"]
        assert http.post(payload["terminatePostUri"].replace("{text}", "late")).status_code == 410
        assert http.post(payload["rewindPostUri"].replace("{text}", "x")).status_code == 501
        assert http.delete(payload["purgeHistoryDeleteUri"]).json() == {"instancesDeleted": 1}
        assert http.get(payload["statusQueryGetUri"]).status_code == 404
        http.post(f"{WEBHOOKS}/instances/{new_id}/terminate", params={"reason": "stop"})
        assert hub.wait(new_id)["runtimeStatus"] == "Terminated"


def test_refusals_are_json_and_write_nothing(hub: Hub) -> None:
    """Unknown orchestrator, malformed JSON, unknown instance, duplicate running id."""
    with hub.http() as http:
        unknown = http.post(f"{WEBHOOKS}/orchestrators/nope/x1")
        assert unknown.status_code == 400 and "nope" in unknown.json()["error"]
        bad = http.post(
            f"{WEBHOOKS}/orchestrators/chain/x2", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
        for instance_id in ("x1", "x2"):
            assert http.get(f"{WEBHOOKS}/instances/{instance_id}").status_code == 404
        missing = http.post(f"{WEBHOOKS}/instances/ghost/raiseEvent/e", json=1)
        assert missing.status_code == 404 and "ghost" in missing.json()["error"]
        assert http.post(f"{WEBHOOKS}/orchestrators/approval/dup", json=600).status_code == 202
        again = http.post(f"{WEBHOOKS}/orchestrators/approval/dup", json=1)
        assert again.status_code == 409
        assert http.get(f"{WEBHOOKS}/instances/dup").json()["input"] == 600
        assert http.post(f"{WEBHOOKS}/entities/counter/k").status_code == 400
        assert http.post(f"{WEBHOOKS}/entities/nothing/k", params={"op": "add"}).status_code == 404
        assert http.get(f"{WEBHOOKS}/entities/counter/never").status_code == 404
        assert http.get(f"{WEBHOOKS}/instances", params={"runtimeStatus": "Sleeping"}).status_code == 400


def test_client_status_history_query_paging_and_purge_by(hub: Hub) -> None:
    """get_status with history, get_status_by filters, continuation paging, purge by filter."""
    client = hub.client()
    before = datetime.now(UTC) - timedelta(seconds=1)
    ids = [run(client.start_new("chain", f"q{i}", [str(i)])) for i in range(5)]
    for instance_id in ids:
        hub.wait(instance_id)
    status = run(client.get_status("q0", show_history=True, show_history_output=True, show_input=True))
    assert status.input_ == ["0"]
    kinds = [e["EventType"] for e in status.historyEvents]
    assert kinds[0] == "ExecutionStarted" and "TaskCompleted" in kinds and kinds[-1] == "ExecutionCompleted"
    completed = next(e for e in status.historyEvents if e["EventType"] == "TaskCompleted")
    assert completed["FunctionName"] == "hello" and completed["Result"] == "Hello 0!"
    found = run(client.get_status_by(created_time_from=before, runtime_status=[OrchestrationRuntimeStatus.Completed]))
    assert {s.instance_id for s in found} >= set(ids)
    assert len(run(client.get_status_all())) >= 5
    with hub.http() as http:
        seen: list[str] = []
        token = None
        while True:
            response = http.get(
                f"{WEBHOOKS}/instances",
                params={"top": 2, "instanceIdPrefix": "q"},
                headers={"x-ms-continuation-token": token} if token else {},
            )
            seen += [s["instanceId"] for s in response.json()]
            token = response.headers.get("x-ms-continuation-token")
            if not token:
                break
        assert sorted(seen) == sorted(ids)
    result = run(
        client.purge_instance_history_by(
            created_time_from=before, runtime_status=[OrchestrationRuntimeStatus.Completed]
        )
    )
    assert result.instances_deleted == 5
    assert run(client.purge_instance_history("q0")).instances_deleted == 0


def test_client_terminate_suspend_resume_restart_and_entities(hub: Hub) -> None:
    """The SDK client's control calls and entity calls succeed against the engine."""
    client = hub.client()
    iid = run(client.start_new("approval", "c1", 600))
    hub.wait(iid, statuses=("Running",))
    run(client.suspend(iid, "pause"))
    hub.wait(iid, statuses=("Suspended",))
    run(client.resume(iid, "go"))
    hub.wait(iid, statuses=("Running",))
    run(client.terminate(iid, "enough"))
    status = hub.wait(iid)
    assert status["runtimeStatus"] == "Terminated" and status["output"] == "enough"
    same = run(client.restart(iid, restart_with_new_instance_id=False))
    assert same["id"] == iid  # the SDK hands back the extension's check-status payload
    hub.wait(iid, statuses=("Running",))
    for _ in range(3):
        run(client.signal_entity(df.EntityId("counter", "e1"), "add", 2))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = run(client.read_entity_state(df.EntityId("counter", "e1")))
        if state.entity_exists and state.entity_state == 6:
            break
        time.sleep(0.02)
    assert state.entity_state == 6
    run(client.signal_entity(df.EntityId("counter", "e1"), "delete"))
    deadline = time.monotonic() + 10
    while run(client.read_entity_state(df.EntityId("counter", "e1"))).entity_exists:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _entity_state(http: Any, name: str, key: str, want: Any) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = http.get(f"{WEBHOOKS}/entities/{name}/{key}")
        if response.status_code == 200 and response.json() == want:
            return want
        time.sleep(0.05)
    raise AssertionError(f"entity {name}/{key} never held {want!r}; last {response.status_code} {response.text}")


def test_webhooks_are_as_strict_as_the_extension(hub: Hub) -> None:
    """raiseEvent takes application/json only (404/410 first); an entity signal's text body is a string, a JSON body
    JSON; DELETE on an entity signals `delete`."""
    with hub.http() as http:
        started = http.post(f"{WEBHOOKS}/orchestrators/approval/s1", json=600).json()
        hub.wait("s1", statuses=("Running",))
        raise_url = started["sendEventPostUri"].replace("{eventName}", "approve")
        plain = http.post(raise_url, content=b'"ok"', headers={"Content-Type": "text/plain"})
        assert (
            plain.status_code == 400 and plain.json()["error"] == "Only application/json request content is supported"
        )
        bad = http.post(raise_url, content=b"{oops", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"].startswith("Invalid JSON content")
        assert (
            http.post(
                f"{WEBHOOKS}/instances/nobody/raiseEvent/x", content=b"1", headers={"Content-Type": "text/plain"}
            ).status_code
            == 404
        )
        assert (
            http.post(raise_url, json="ok", headers={"Content-Type": "application/json; charset=utf-8"}).status_code
            == 202
        )
        hub.wait("s1")
        assert http.post(raise_url, content=b"1", headers={"Content-Type": "text/plain"}).status_code == 410

        entity = f"{WEBHOOKS}/entities/counter/strict"
        assert (
            http.post(entity, params={"op": "set"}, content=b"5", headers={"Content-Type": "text/plain"}).status_code
            == 202
        )
        _entity_state(http, "counter", "strict", "5")  # the raw text, not the number 5
        assert (
            http.post(
                entity, params={"op": "set"}, content=b"5", headers={"Content-Type": "application/json"}
            ).status_code
            == 202
        )
        _entity_state(http, "counter", "strict", 5)
        broken = http.post(entity, params={"op": "set"}, content=b"{5", headers={"Content-Type": "application/json"})
        assert broken.status_code == 400 and broken.json()["error"].startswith("Could not parse JSON content")
        assert http.delete(entity).status_code == 202
        deadline = time.monotonic() + 10
        while http.get(entity).status_code != 404:
            assert time.monotonic() < deadline, "DELETE did not signal the entity's delete operation"
            time.sleep(0.05)
