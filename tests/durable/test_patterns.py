"""Conformance: chaining, fan-out/fan-in, sub-orchestrations, human interaction, monitor, replay."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx

from tests.durable.harness import WEBHOOKS, DurableApp

APP = "patterns"


def test_function_chaining_runs_sync_and_async_activities_in_order(app: DurableApp) -> None:
    """Each activity's result comes back to the orchestrator, in call order."""
    output = app.completed_output("hello_chain")
    assert output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!", "Bonjour Paris!"]


def test_fan_out_fan_in_keeps_task_order(app: DurableApp) -> None:
    """task_all returns every result, in the order the tasks were passed."""
    output = app.completed_output("fan_out_fan_in", 25)
    assert output["squares"] == [i * i for i in range(25)]
    assert output["sum"] == sum(i * i for i in range(25))


def test_activities_run_concurrently_sync_in_threads_and_async_on_the_loop(app: DurableApp) -> None:
    """Four activities that wait for each other all meet: they ran at the same time."""
    for kind in ("sync", "async"):
        output = app.completed_output("barrier", {"key": f"{kind}-{uuid.uuid4().hex}", "n": 4, "kind": kind})
        assert output == ["met"] * 4, kind


def test_sub_orchestrations_with_and_without_id_and_with_retry(app: DurableApp) -> None:
    """Children report their parent; a named child keeps its id; a failing child is retried."""
    started = app.start("parent")
    parent_id = started["id"]
    final = app.wait_done(parent_id)
    assert final["runtimeStatus"] == "Completed", final
    output = final["output"]
    assert output["without_id"]["square"] == 9
    assert output["without_id"]["parent"] == parent_id
    assert output["without_id"]["instance_id"] not in ("", parent_id)
    assert output["with_id"] == {"instance_id": f"{parent_id}-named-child", "parent": parent_id, "square": 16}
    assert output["retried"]["attempt"] == 3
    named = app.status(f"{parent_id}-named-child")
    assert named.status_code == 200, named.text
    assert named.json()["runtimeStatus"] == "Completed"
    assert named.json()["output"]["square"] == 16
    attempts = (app.state_dir / f"flaky-child-{parent_id}").read_text().splitlines()
    assert len(attempts) == 3


def test_human_interaction_event_wins_and_timer_is_cancelled(app: DurableApp) -> None:
    """With a 1-hour timeout, an Approval event completes the instance without waiting for the timer."""
    started = app.start("approval", 3600)
    app.wait_until(started["id"], lambda s: s.get("customStatus") == "awaiting approval", what="waiting")
    url = started["sendEventPostUri"].replace("{eventName}", "Approval")
    response = httpx.post(url, json="alice")
    assert response.status_code == 202, response.text
    # Generous deadline, far below the 1-hour timer: completion proves the timer was not awaited.
    final = app.wait_done(started["id"], timeout=60)
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == {"outcome": "approved", "by": "alice"}


def test_human_interaction_timeout_path(app: DurableApp) -> None:
    """With no event, the timer wins task_any and the orchestrator takes the timeout branch."""
    final = app.run("approval", 1)
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == {"outcome": "timed out"}


def test_monitor_with_timers_continue_as_new_and_custom_status(app: DurableApp) -> None:
    """Each generation polls, sleeps on a timer and continues as new with its state carried over."""
    started = app.start("monitor", {"round": 0, "rounds": 3, "interval": 0.3, "seen": []})
    final = app.wait_done(started["id"])
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == {"rounds": 3, "seen": ["checked 0", "checked 1", "checked 2"]}
    assert final["customStatus"] == {"round": 3}
    history = app.status(started["id"], showHistory="true").json()["historyEvents"]
    started_events = [e for e in history if e["EventType"] == "ExecutionStarted"]
    # continue_as_new starts a fresh history: only the last generation's is kept.
    assert len(started_events) == 1
    assert not any(e["EventType"] == "TaskCompleted" for e in history)


def test_replay_sees_deterministic_clock_uuids_and_is_replaying(app: DurableApp) -> None:
    """current_utc_datetime and new_uuid are the same on every replay; is_replaying says which is which."""
    output = app.completed_output("replay_clock")
    for step in output["steps"]:
        assert step["now"]["time"] == step["when_scheduled"]["time"]
        assert step["now"]["replaying"] is True
        assert step["when_scheduled"]["replaying"] is False
    assert output["final"]["replaying"] is False
    assert output["uuids"] == output["echoed_uuids"]
    assert len(set(output["uuids"])) == 2
    times = [datetime.fromisoformat(s["now"]["time"]) for s in output["steps"]]
    times.append(datetime.fromisoformat(output["final"]["time"]))
    assert times == sorted(times)
    assert all(t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 for t in times)


def test_activity_input_and_output_are_in_history_with_show_history_output(app: DurableApp) -> None:
    """showHistory lists the events; showHistoryOutput adds activity results; showInput=false hides input."""
    instance_id = app.start("fan_out_fan_in", 2)["id"]
    app.wait_done(instance_id)
    plain = app.status(instance_id).json()
    assert plain["input"] == 2 and "historyEvents" not in plain
    hidden = app.status(instance_id, showInput="false").json()
    assert hidden.get("input") is None
    history = app.status(instance_id, showHistory="true").json()["historyEvents"]
    kinds = [e["EventType"] for e in history]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionCompleted"
    assert kinds.count("TaskCompleted") == 2
    assert all("Result" not in e for e in history if e["EventType"] == "TaskCompleted")
    with_output = app.status(instance_id, showHistory="true", showHistoryOutput="true").json()["historyEvents"]
    results = sorted(e["Result"] for e in with_output if e["EventType"] == "TaskCompleted")
    assert [str(r) for r in results] == ["0", "1"]
    assert app.http.get(f"{WEBHOOKS}/instances/{instance_id}").status_code == 200
