"""End-to-end behaviour of the engine through the real SDK client and the management API."""

from __future__ import annotations

import os
from pathlib import Path

import azure.durable_functions as df

from tests.devhost_durable.conftest import Hub, run, serve

WEBHOOKS = "/runtime/webhooks/durabletask"


def test_function_chaining_returns_activity_results_in_order(hub: Hub) -> None:
    """Three sequential activities; output is their results in order."""
    iid = run(hub.client().start_new("chain", None, ["A", "B", "C"]))
    status = hub.wait(iid)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello A!", "Hello B!", "Hello C!"]


def test_fan_out_fan_in_with_async_activities(hub: Hub) -> None:
    """task_all over async activities sums every doubled value."""
    iid = run(hub.client().start_new("fan", None, 10))
    assert hub.wait(iid)["output"] == sum(2 * i for i in range(10))


def test_retry_succeeds_on_third_attempt(hub: Hub, tmp_path: Path) -> None:
    """call_activity_with_retry runs the activity again until it succeeds."""
    spec = {"counter": str(tmp_path / "calls"), "succeed_on": 3, "attempts": 4}
    iid = run(hub.client().start_new("retrying", None, spec))
    assert hub.wait(iid)["output"] == {"value": "ok after 3"}
    assert (tmp_path / "calls").read_text() == "3"


def test_retry_gives_up_after_max_attempts(hub: Hub, tmp_path: Path) -> None:
    """After max attempts the orchestrator sees the activity's failure."""
    spec = {"counter": str(tmp_path / "calls"), "succeed_on": 99, "attempts": 2}
    iid = run(hub.client().start_new("retrying", None, spec))
    output = hub.wait(iid)["output"]
    assert "attempt 2 failed" in output["failed"]
    assert (tmp_path / "calls").read_text() == "2"


def test_concurrent_retries_of_failing_activities_all_progress(hub: Hub, tmp_path: Path) -> None:
    """Two retried activities failing at once: both retry and succeed, neither stalls."""
    counters = [str(tmp_path / "a"), str(tmp_path / "b")]
    iid = run(hub.client().start_new("retry_pair", None, {"counters": counters, "succeed_on": 3, "attempts": 3}))
    assert hub.wait(iid, timeout=15)["output"] == {"values": ["ok after 3", "ok after 3"]}


def test_concurrent_retries_give_up_together(hub: Hub, tmp_path: Path) -> None:
    """Both exhaust their attempts; the first failure reaches the orchestrator."""
    counters = [str(tmp_path / "a"), str(tmp_path / "b")]
    iid = run(hub.client().start_new("retry_pair", None, {"counters": counters, "succeed_on": 99, "attempts": 2}))
    assert "failed" in hub.wait(iid, timeout=15)["output"]
    assert (tmp_path / "a").read_text() == "2" and (tmp_path / "b").read_text() == "2"


def test_retry_events_arriving_together_are_all_delivered(hub: Hub) -> None:
    """Failures (and then retry timers) of two sub-orchestrations land in one inbox; none is left behind."""
    iid = run(hub.client().start_new("sub_retry_pair"))
    output = hub.wait(iid, timeout=15)["output"]
    assert output["failed"] and "always fails" in output["failed"]


def test_external_event_wins_race_and_cancelled_timer_does_not_block(hub: Hub) -> None:
    """An event raised before the timeout completes the instance at once."""
    client = hub.client()
    iid = run(client.start_new("approval", None, 600))
    hub.wait(iid, statuses=("Running",))
    run(client.raise_event(iid, "approve", {"by": "ann"}))
    status = hub.wait(iid, timeout=10)
    assert status["output"] == {"approved": {"by": "ann"}}


def test_timer_fires_when_no_event_arrives(hub: Hub) -> None:
    """A short timer wins the task_any when nobody approves."""
    iid = run(hub.client().start_new("approval", None, 1))
    assert hub.wait(iid)["output"] == {"approved": None}


def test_entity_signal_and_call_from_orchestration(hub: Hub) -> None:
    """signal_entity then call_entity: the call sees the signal's effect; custom status is set."""
    client = hub.client()
    iid = run(client.start_new("counter_user", None, "k1"))
    status = hub.wait(iid)
    assert status["output"] == 7
    assert status["customStatus"] == {"seen": 7}
    state = run(client.read_entity_state(df.EntityId("counter", "k1")))
    assert state.entity_exists and state.entity_state == 7


def test_sub_orchestrations_with_and_without_instance_id(hub: Hub) -> None:
    """Sub-orchestration outputs reach the parent; the named child exists afterwards."""
    client = hub.client()
    iid = run(client.start_new("parent", "p1"))
    assert hub.wait(iid)["output"] == ["Hello A!", "Hello B!"]
    child = run(client.get_status("p1-child"))
    assert child.runtime_status.value == "Completed"


def test_continue_as_new_restarts_with_new_input(hub: Hub) -> None:
    """The instance keeps its id across executions and ends with the last input."""
    iid = run(hub.client().start_new("looping", None, 0))
    status = hub.wait(iid)
    assert status["output"] == 3


def test_unhandled_orchestrator_exception_fails_instance(hub: Hub) -> None:
    """The failure message reaches the status output."""
    iid = run(hub.client().start_new("broken"))
    status = hub.wait(iid)
    assert status["runtimeStatus"] == "Failed"
    assert "orchestrator exploded" in status["output"]


def test_changed_code_is_reported_as_non_deterministic(hub: Hub, tmp_path: Path) -> None:
    """A different activity at the same position fails the instance with a clear message."""
    marker = tmp_path / "marker"
    os.environ["SHIFTY_MARKER"] = str(marker)
    try:
        client = hub.client()
        iid = run(client.start_new("shifty"))
        hub.wait(iid, statuses=("Running",))
        with hub.http() as http:
            for _ in range(200):
                events = http.get(f"{WEBHOOKS}/instances/{iid}", params={"showHistory": "true"}).json()["historyEvents"]
                if any(e["EventType"] == "TaskCompleted" for e in events):
                    break
        marker.write_text("now")
        run(client.raise_event(iid, "go"))
        status = hub.wait(iid)
    finally:
        del os.environ["SHIFTY_MARKER"]
    assert status["runtimeStatus"] == "Failed"
    assert "Non-deterministic workflow detected" in status["output"]


def test_activity_asking_for_context_gets_one(hub: Hub) -> None:
    """An activity with a `context` parameter receives the invocation context, as from the worker."""
    iid = run(hub.client().start_new("introspect"))
    assert hub.wait(iid)["output"] == "whoami:x:True"


def test_state_survives_restart_of_the_engine(tmp_path: Path) -> None:
    """A waiting instance and an entity keep their state across a stop and start."""
    first = serve(tmp_path / "data")
    try:
        client = first.client()
        iid = run(client.start_new("approval", None, 600))
        first.wait(iid, statuses=("Running",))
        run(client.signal_entity(df.EntityId("counter", "r"), "add", 4))
        with first.http() as http:
            for _ in range(200):
                if http.get(f"{WEBHOOKS}/entities/counter/r").status_code == 200:
                    break
    finally:
        first.stop()
    second = serve(tmp_path / "data")
    try:
        client = second.client()
        run(client.raise_event(iid, "approve", "yes"))
        assert second.wait(iid)["output"] == {"approved": "yes"}
        assert run(client.read_entity_state(df.EntityId("counter", "r"))).entity_state == 4
    finally:
        second.stop()


def test_activity_process_is_on_by_default_on_posix_only() -> None:
    """The worker process is the default on POSIX; the setting or another OS (no fd passing) keeps threads."""
    from devhost.workers import worker_process_enabled as activity_process_enabled

    assert activity_process_enabled({}, "posix")
    assert not activity_process_enabled({"DEVHOST_DURABLE_ACTIVITY_PROCESS": "0"}, "posix")
    assert not activity_process_enabled({"DEVHOST_DURABLE_ACTIVITY_PROCESS": " Off "}, "posix")
    assert activity_process_enabled({"DEVHOST_DURABLE_ACTIVITY_PROCESS": "1"}, "posix")
    assert not activity_process_enabled({}, "nt")
