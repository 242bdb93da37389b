"""Test-side view of one devhost serving a conformance app: start, poll and inspect instances.

Everything goes over real HTTP: the app's own HTTP starters (the SDK client runs inside them)
and the management webhooks under `/runtime/webhooks/durabletask/`. Polls use short sleeps
and a generous overall deadline; nothing here measures elapsed time as a pass criterion.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.devhost import DevhostProcess

__all__ = ["APPS_DIR", "DEADLINE", "TERMINAL", "WEBHOOKS", "DurableApp"]

APPS_DIR = Path(__file__).resolve().parent / "apps"
"""Where the conformance apps live (one folder per app, each a v2 script root)."""
WEBHOOKS = "/runtime/webhooks/durabletask"
"""The management API's path prefix (Azure's shape)."""
TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
"""Runtime statuses an instance never leaves on its own."""
DEADLINE = 60.0
"""Default seconds to wait for an instance to reach a state (generous: CI machines are slow)."""


@dataclass
class DurableApp:
    """One running devhost and an HTTP client pointed at it."""

    host: DevhostProcess
    state_dir: Path
    """`DURABLE_TEST_STATE_DIR` of the app (activities write their side effects there)."""
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.host.base_url, timeout=30.0)

    @property
    def base_url(self) -> str:
        return self.host.base_url

    def close(self) -> None:
        self.http.close()

    def start(self, orchestrator: str, payload: Any = None, instance_id: str | None = None) -> dict[str, Any]:
        """POST the app's starter `/api/orchestrators/{orchestrator}`; the check-status payload."""
        params = {"instanceId": instance_id} if instance_id else {}
        response = self.http.post(f"/api/orchestrators/{orchestrator}", params=params, json=payload)
        assert response.status_code == 202, f"start {orchestrator}: {response.status_code} {response.text}"
        return response.json()

    def status(self, instance_id: str, **params: str) -> httpx.Response:
        """GET the management status of `instance_id` (raw response)."""
        return self.http.get(f"{WEBHOOKS}/instances/{instance_id}", params=params)

    def wait_until(
        self,
        instance_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        what: str,
        timeout: float = DEADLINE,
        **params: str,
    ) -> dict[str, Any]:
        """Poll the status until `predicate(status_json)` holds; fail saying `what` was awaited."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            response = self.status(instance_id, **params)
            if response.status_code in (200, 202):
                last = response.json()
                if predicate(last):
                    return last
            else:
                last = (response.status_code, response.text)
            time.sleep(0.05)
        raise AssertionError(
            f"instance {instance_id} never reached {what} in {timeout:.0f}s; last status {last!r}\n"
            f"--- devhost log (tail) ---\n{self.host.log_text()[-4000:]}"
        )

    def wait_done(self, instance_id: str, *, timeout: float = DEADLINE, **params: str) -> dict[str, Any]:
        """Poll until the instance is in a terminal state; its status JSON."""
        return self.wait_until(
            instance_id,
            lambda s: s.get("runtimeStatus") in TERMINAL,
            what="a terminal state",
            timeout=timeout,
            **params,
        )

    def run(self, orchestrator: str, payload: Any = None, instance_id: str | None = None) -> dict[str, Any]:
        """Start and wait for a terminal state; the final status JSON."""
        started = self.start(orchestrator, payload, instance_id)
        return self.wait_done(started["id"])

    def completed_output(self, orchestrator: str, payload: Any = None) -> Any:
        """Start, wait, assert Completed; the output."""
        final = self.run(orchestrator, payload)
        assert final["runtimeStatus"] == "Completed", final
        return final["output"]
