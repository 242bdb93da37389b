"""Conformance: the SDK client's management calls and the HTTP management API's URLs."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.durable.harness import DEADLINE, WEBHOOKS, DurableApp

APP = "management"

PAYLOAD_URLS = (
    "statusQueryGetUri",
    "sendEventPostUri",
    "terminatePostUri",
    "purgeHistoryDeleteUri",
    "restartPostUri",
    "suspendPostUri",
    "resumePostUri",
)


def _waiting(app: DurableApp, payload: Any = None, instance_id: str | None = None) -> dict[str, Any]:
    """Start `wait_for_go` and wait until it is waiting for its event."""
    started = app.start("wait_for_go", payload, instance_id)
    app.wait_until(started["id"], lambda s: s.get("customStatus") == "waiting", what="waiting")
    return started


def _fresh_second() -> datetime:
    """A whole-second UTC time after every instance created so far (stores may keep whole seconds)."""
    time.sleep(1.05)
    return datetime.now(UTC).replace(microsecond=0)


def _instance_count(app: DurableApp) -> int:
    response = app.http.get(f"{WEBHOOKS}/instances")
    assert response.status_code == 200, response.text
    return len(response.json())


def test_check_status_payload_urls_follow_over_http(app: DurableApp) -> None:
    """create_check_status_response: 202, Location, every URL absolute on this host; status 202 while running."""
    response = app.http.post("/api/orchestrators/wait_for_go", json={"n": 1})
    assert response.status_code == 202, response.text
    payload = response.json()
    assert response.headers["Location"] == payload["statusQueryGetUri"]
    for key in PAYLOAD_URLS:
        assert payload[key].startswith(app.base_url + "/runtime/webhooks/durabletask/instances/" + payload["id"]), key
    app.wait_until(payload["id"], lambda s: s.get("customStatus") == "waiting", what="waiting")
    running = httpx.get(payload["statusQueryGetUri"])
    assert running.status_code == 202, running.text
    assert running.headers["Location"]
    assert int(running.headers["Retry-After"]) > 0
    assert running.json()["runtimeStatus"] in ("Running", "Pending")
    assert running.json()["name"] == "wait_for_go"
    raised = httpx.post(payload["sendEventPostUri"].replace("{eventName}", "go"), json={"ok": True})
    assert raised.status_code == 202, raised.text
    final = app.wait_done(payload["id"])
    done = httpx.get(payload["statusQueryGetUri"])
    assert done.status_code == 200, done.text
    assert done.json()["output"] == {"input": {"n": 1}, "event": {"ok": True}} == final["output"]
    assert done.json()["customStatus"] == {"got": {"ok": True}}


def test_status_of_unknown_instance_is_404(app: DurableApp) -> None:
    """The status URL of an id that never existed answers 404."""
    assert app.status(f"missing-{uuid.uuid4().hex}").status_code == 404


def test_terminate_post_uri(app: DurableApp) -> None:
    """terminatePostUri ends a running instance as Terminated with the reason as output."""
    started = _waiting(app)
    response = httpx.post(started["terminatePostUri"].replace("{text}", "enough"))
    assert response.status_code == 202, response.text
    final = app.wait_done(started["id"])
    assert final["runtimeStatus"] == "Terminated", final
    assert "enough" in str(final["output"])


def test_suspend_and_resume_post_uris(app: DurableApp) -> None:
    """A suspended instance holds its events until resumed, then completes."""
    started = _waiting(app, "s")
    suspended = httpx.post(started["suspendPostUri"].replace("{text}", "hold"))
    assert suspended.status_code == 202, suspended.text
    app.wait_until(started["id"], lambda s: s["runtimeStatus"] == "Suspended", what="Suspended")
    raised = httpx.post(started["sendEventPostUri"].replace("{eventName}", "go"), json="queued")
    assert raised.status_code == 202, raised.text
    time.sleep(0.5)
    assert app.status(started["id"]).json()["runtimeStatus"] == "Suspended"
    resumed = httpx.post(started["resumePostUri"].replace("{text}", "go on"))
    assert resumed.status_code == 202, resumed.text
    final = app.wait_done(started["id"])
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == {"input": "s", "event": "queued"}


def test_restart_post_uri_runs_again_with_same_input(app: DurableApp) -> None:
    """restartPostUri on a finished instance starts a fresh run with the original input."""
    marker = f"restart-{uuid.uuid4().hex}"
    started = app.start("quick", marker)
    first = app.wait_done(started["id"])
    assert first["output"] == f"{marker}!".upper()
    response = httpx.post(started["restartPostUri"])
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        listed = app.http.get(f"{WEBHOOKS}/instances", params={"showInput": "true"}).json()
        reruns = [
            s
            for s in listed
            if s.get("input") == marker
            and s["runtimeStatus"] == "Completed"
            and (s["instanceId"] != started["id"] or s["createdTime"] != first["createdTime"])
        ]
        if reruns:
            assert reruns[0]["output"] == f"{marker}!".upper()
            break
        time.sleep(0.05)
    else:
        raise AssertionError("restartPostUri started no new run")


def test_purge_history_delete_uri(app: DurableApp) -> None:
    """purgeHistoryDeleteUri deletes a finished instance: 200 with the count, then 404; again 404."""
    started = app.start("quick", "purge-me")
    app.wait_done(started["id"])
    response = httpx.delete(started["purgeHistoryDeleteUri"])
    assert response.status_code == 200, response.text
    assert response.json()["instancesDeleted"] == 1
    assert app.status(started["id"]).status_code == 404
    assert httpx.delete(started["purgeHistoryDeleteUri"]).status_code == 404


def test_client_start_with_and_without_id(app: DurableApp) -> None:
    """start_new takes a caller's id as given and makes a fresh one otherwise."""
    chosen = f"mine-{uuid.uuid4().hex}"
    with_id = app.start("quick", "a", chosen)
    without_id = app.start("quick", "b")
    assert with_id["id"] == chosen
    assert without_id["id"] and without_id["id"] != chosen
    assert app.wait_done(chosen)["output"] == "A!"
    assert app.wait_done(without_id["id"])["output"] == "B!"


def test_starting_a_running_id_is_refused_and_a_finished_one_is_replaced(app: DurableApp) -> None:
    """As Azure's default (OverridableExistingInstanceStates=NonRunningStates)."""
    instance_id = f"single-{uuid.uuid4().hex}"
    _waiting(app, "first", instance_id)
    refused = app.http.post("/api/orchestrators/wait_for_go", params={"instanceId": instance_id}, json="second")
    assert refused.status_code == 409, refused.text
    assert "already exists" in refused.json()["error"]
    status = app.status(instance_id).json()
    assert status["input"] == "first" and status["runtimeStatus"] == "Running"
    app.http.post(f"/api/client/instances/{instance_id}/event:go", json=1)
    assert app.wait_done(instance_id)["runtimeStatus"] == "Completed"
    app.start("quick", "again", instance_id)
    final = app.wait_until(instance_id, lambda s: s.get("output") == "AGAIN!", what="the new run's output")
    assert final["name"] == "quick" and final["input"] == "again"


def test_wait_for_completion_returns_output_or_check_status(app: DurableApp) -> None:
    """200 with the output when done in time; the 202 check-status payload otherwise."""
    done = app.http.post("/api/run/quick", json="fast")
    assert done.status_code == 200, done.text
    # The SDK writes a str output as the body as-is (not JSON-quoted).
    assert done.text == "FAST!"
    pending = app.http.post("/api/run/wait_for_go", params={"timeout": "400"}, json="slow")
    assert pending.status_code == 202, pending.text
    assert pending.headers["Location"] == pending.json()["statusQueryGetUri"]
    app.http.post(f"/api/client/instances/{pending.json()['id']}/terminate")


def test_client_status_with_history_and_input_options(app: DurableApp) -> None:
    """get_status(show_history, show_history_output, show_input) through the SDK client."""
    started = app.start("quick", "hist")
    app.wait_done(started["id"])
    plain = app.http.get(f"/api/client/status/{started['id']}").json()
    assert plain["runtimeStatus"] == "Completed" and plain["output"] == "HIST!"
    # show_input=False leaves the query out, so the host's default (input shown) applies.
    assert plain["input"] == "hist" and not plain.get("history")
    full = app.http.get(
        f"/api/client/status/{started['id']}", params={"history": "true", "history_output": "true", "input": "true"}
    ).json()
    assert full["input"] == "hist"
    kinds = [e["EventType"] for e in full["history"]]
    assert "TaskCompleted" in kinds and kinds[-1] == "ExecutionCompleted"
    assert any(e.get("Result") == "HIST!" for e in full["history"] if e["EventType"] == "TaskCompleted")


def test_client_raise_terminate_suspend_resume_restart(app: DurableApp) -> None:
    """The SDK client's instance operations, end to end."""
    started = _waiting(app, "c")
    iid = started["id"]
    assert app.http.post(f"/api/client/instances/{iid}/suspend").status_code == 202
    app.wait_until(iid, lambda s: s["runtimeStatus"] == "Suspended", what="Suspended")
    assert app.http.post(f"/api/client/instances/{iid}/resume").status_code == 202
    app.wait_until(iid, lambda s: s["runtimeStatus"] == "Running", what="Running")
    assert app.http.post(f"/api/client/instances/{iid}/event:go", json=[1, 2]).status_code == 202
    assert app.wait_done(iid)["output"] == {"input": "c", "event": [1, 2]}
    gone = app.http.post(f"/api/client/instances/{iid}/event:go", json=3)
    assert gone.status_code == 409 and "gone" in gone.json()["error"]
    restarted = app.http.post(f"/api/client/instances/{iid}/restart", params={"newId": "true"})
    assert restarted.status_code == 202, restarted.text
    new_id = restarted.json()["id"]
    assert new_id != iid
    app.wait_until(new_id, lambda s: s.get("customStatus") == "waiting", what="waiting")
    assert app.http.post(f"/api/client/instances/{new_id}/terminate", params={"reason": "stop"}).status_code == 202
    final = app.wait_done(new_id)
    assert final["runtimeStatus"] == "Terminated" and final["input"] == "c"
    same = app.http.post(f"/api/client/instances/{iid}/restart", params={"newId": "false"})
    assert same.status_code == 202 and same.json()["id"] == iid
    app.wait_until(iid, lambda s: s.get("customStatus") == "waiting", what="restarted and waiting")
    app.http.post(f"/api/client/instances/{iid}/terminate")
    app.wait_done(iid)


def test_client_operations_on_unknown_instance_fail(app: DurableApp) -> None:
    """raise_event/terminate on an unknown id raise in the client (404 from the host)."""
    missing = f"missing-{uuid.uuid4().hex}"
    for action in ("event:go", "terminate"):
        response = app.http.post(f"/api/client/instances/{missing}/{action}")
        assert response.status_code == 409, response.text
        assert missing in response.json()["error"]


def test_get_status_all_and_by_filters(app: DurableApp) -> None:
    """get_status_all lists everything; get_status_by filters by created time and runtime status."""
    since = datetime.now(UTC) - timedelta(seconds=1)
    running = _waiting(app, "listed")
    finished = app.start("quick", "listed")
    app.wait_done(finished["id"])
    everything = {s["instanceId"]: s for s in app.http.get("/api/client/instances").json()}
    assert {running["id"], finished["id"]} <= set(everything)
    by_running = app.http.get("/api/client/instances", params={"from": since.isoformat(), "status": "Running"}).json()
    ids = {s["instanceId"] for s in by_running}
    assert running["id"] in ids and finished["id"] not in ids
    assert all(s["runtimeStatus"] == "Running" for s in by_running)
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert app.http.get("/api/client/instances", params={"from": later}).json() == []
    app.http.post(f"/api/client/instances/{running['id']}/terminate")
    app.wait_done(running["id"])


def test_purge_one_and_by_filter_through_client(app: DurableApp) -> None:
    """purge_instance_history deletes one; purge_instance_history_by deletes exactly the matching ones."""
    one = app.start("quick", "p1")
    app.wait_done(one["id"])
    assert app.http.delete(f"/api/client/purge/{one['id']}").json() == {"deleted": 1}
    assert app.status(one["id"]).status_code == 404
    assert app.http.delete(f"/api/client/purge/{one['id']}").json() == {"deleted": 0}
    since = _fresh_second()
    batch = [app.start("quick", f"p{i}")["id"] for i in range(3)]
    for iid in batch:
        app.wait_done(iid)
    still_running = _waiting(app, "survivor")
    result = app.http.delete("/api/client/purge", params={"from": since.isoformat(), "status": "Completed"}).json()
    assert result == {"deleted": 3}
    assert all(app.status(iid).status_code == 404 for iid in batch)
    assert app.status(still_running["id"]).status_code == 202
    app.http.post(f"/api/client/instances/{still_running['id']}/terminate")
    app.wait_done(still_running["id"])


def test_bad_input_to_management_api_is_4xx_json_and_writes_nothing(app: DurableApp) -> None:
    """Unknown orchestrator, malformed JSON, unknown instance: 4xx with a JSON message; no instance made."""
    before = _instance_count(app)
    unknown_name = app.http.post(f"{WEBHOOKS}/orchestrators/no_such_orchestrator", json={})
    assert 400 <= unknown_name.status_code < 500, unknown_name.text
    assert "no_such_orchestrator" in str(unknown_name.json())
    malformed = app.http.post(
        f"{WEBHOOKS}/orchestrators/quick", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert 400 <= malformed.status_code < 500, malformed.text
    assert malformed.json()
    via_client = app.http.post("/api/orchestrators/no_such_orchestrator", json={})
    assert via_client.status_code == 409 and "no_such_orchestrator" in via_client.json()["error"]
    missing = f"missing-{uuid.uuid4().hex}"
    for method, path in (
        ("POST", f"instances/{missing}/raiseEvent/go"),
        ("POST", f"instances/{missing}/terminate"),
        ("POST", f"instances/{missing}/suspend"),
        ("POST", f"instances/{missing}/resume"),
        ("POST", f"instances/{missing}/restart"),
        ("DELETE", f"instances/{missing}"),
    ):
        response = app.http.request(method, f"{WEBHOOKS}/{path}", json={})
        assert response.status_code == 404, (path, response.status_code, response.text)
        assert response.json(), path
    assert _instance_count(app) == before
    assert app.status(missing).status_code == 404


def test_webhook_start_with_and_without_id(app: DurableApp) -> None:
    """`POST orchestrators/{name}[/{id}]` on the management API starts instances (202 + payload)."""
    chosen = f"hook-{uuid.uuid4().hex}"
    named = app.http.post(f"{WEBHOOKS}/orchestrators/quick/{chosen}", json="w")
    assert named.status_code == 202, named.text
    assert named.json()["id"] == chosen
    anonymous = app.http.post(f"{WEBHOOKS}/orchestrators/quick", json="v")
    assert anonymous.status_code == 202, anonymous.text
    assert app.wait_done(chosen)["output"] == "W!"
    assert app.wait_done(anonymous.json()["id"])["output"] == "V!"


def test_malformed_event_body_is_refused_and_not_delivered(app: DurableApp) -> None:
    """A raiseEvent with a body that is not JSON is a 4xx JSON error; the instance still waits for a real one."""
    started = _waiting(app, "m")
    bad = app.http.post(
        f"{WEBHOOKS}/instances/{started['id']}/raiseEvent/go",
        content=b"{oops",
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= bad.status_code < 500, bad.text
    assert bad.json()
    time.sleep(0.3)
    assert app.status(started["id"]).json()["runtimeStatus"] == "Running"
    good = httpx.post(started["sendEventPostUri"].replace("{eventName}", "go"), json="real")
    assert good.status_code == 202, good.text
    assert app.wait_done(started["id"])["output"] == {"input": "m", "event": "real"}
