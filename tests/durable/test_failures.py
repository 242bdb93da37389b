"""Conformance: retries, activity failures, unhandled orchestrator errors, non-determinism."""

from __future__ import annotations

import httpx

from tests.durable.harness import DurableApp

APP = "failures"


def _attempts(app: DurableApp, instance_id: str) -> int:
    return len((app.state_dir / f"attempts-{instance_id}").read_text().splitlines())


def test_activity_retry_succeeds_on_third_attempt(app: DurableApp) -> None:
    """RetryOptions re-runs a failing activity; the orchestrator gets the successful result."""
    started = app.start("retry_succeeds")
    final = app.wait_done(started["id"])
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == 3
    assert _attempts(app, started["id"]) == 3


def test_activity_retry_gives_up_after_max_attempts(app: DurableApp) -> None:
    """After max_number_of_attempts the last failure is raised in the orchestrator."""
    started = app.start("retry_gives_up")
    final = app.wait_done(started["id"])
    assert final["runtimeStatus"] == "Completed", final
    assert "flaky attempt 3 of" in final["output"]["gave_up"]
    assert _attempts(app, started["id"]) == 3


def test_activity_retry_exhausted_and_unhandled_fails_the_instance(app: DurableApp) -> None:
    """An exhausted retry that the orchestrator does not catch fails the instance with the activity's message."""
    started = app.start("retry_gives_up_unhandled")
    final = app.wait_done(started["id"])
    assert final["runtimeStatus"] == "Failed", final
    assert "flaky attempt 2 of" in str(final["output"])
    assert _attempts(app, started["id"]) == 2


def test_activity_failure_is_caught_by_orchestrator(app: DurableApp) -> None:
    """The SDK raises its Exception carrying the activity's error; the orchestrator can go on."""
    output = app.completed_output("catches_failure", "kaboom-42")
    assert output["type"] == "Exception"
    assert "kaboom-42" in output["message"]
    assert output["recovered"] == "a:after failure"


def test_unhandled_orchestrator_exception_fails_with_message(app: DurableApp) -> None:
    """The instance ends Failed and its output carries the exception's message."""
    final = app.run("unhandled")
    assert final["runtimeStatus"] == "Failed", final
    assert "orchestrator exploded after a:before" in str(final["output"])


def test_non_determinism_fails_with_clear_message(app: DurableApp) -> None:
    """Replaying a different activity than history recorded fails the instance, naming the problem."""
    assert app.http.post("/api/flag/step_a").status_code == 200
    started = app.start("drifting")
    try:
        app.wait_until(started["id"], lambda s: s.get("customStatus") == "waiting for continue", what="waiting")
        assert app.http.post("/api/flag/step_b").status_code == 200
        raised = httpx.post(started["sendEventPostUri"].replace("{eventName}", "continue"), json=True)
        assert raised.status_code == 202, raised.text
        final = app.wait_done(started["id"])
    finally:
        app.http.post("/api/flag/step_a")
    assert final["runtimeStatus"] == "Failed", final
    message = str(final["output"]).lower()
    assert "determinis" in message, final["output"]
    assert "step_a" in message and "step_b" in message, final["output"]


def test_deterministic_run_of_the_same_orchestrator_completes(app: DurableApp) -> None:
    """The same orchestrator with the flag left alone completes (the failure above is the flip's doing)."""
    started = app.start("drifting")
    app.wait_until(started["id"], lambda s: s.get("customStatus") == "waiting for continue", what="waiting")
    raised = httpx.post(started["sendEventPostUri"].replace("{eventName}", "continue"), json=True)
    assert raised.status_code == 202, raised.text
    final = app.wait_done(started["id"])
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == ["a:one", "b:two"]
