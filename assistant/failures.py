"""Failures that cross a durable boundary as text, typed: one encode and one decode each.

A Durable orchestration that fails, or an activity that raises, hands its caller only the exception's text (the
Functions host and the Durable backends keep a message, not a Python object). So a failure whose facts matter
downstream is written into that text as a marker and JSON by `encode`, and read back by `decode`, which finds it
wherever the host put it (the SDK and the host wrap it: "Orchestrator function 'x' failed: ...").

- `TurnFailure`: why a turn failed, whether sending it again may help, whether what ran is recorded. The turn's
  orchestration ends `Failed` with it (its `statusQueryGetUri` shows `TurnFailed: {...}` as before); the API's
  answer and the turn's `turn.failed` event are made from it.
- `ModelFailure`: the model call failed in a way that may pass (the activity raised, and Durable retried it);
  what the turn says when every attempt failed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import ClassVar

__all__ = ["ModelFailure", "TurnFailure", "first_line"]

_LEGACY_STATUS = re.compile(r"HTTP (\d{3})")


def _decode(marker: str, text: str) -> dict[str, object] | None:
    start = (text or "").find(marker)
    if start < 0:
        return None
    try:
        facts, _ = json.JSONDecoder().raw_decode(text, start + len(marker))
    except json.JSONDecodeError:
        return None
    return facts if isinstance(facts, dict) else None


def first_line(text: str) -> str:
    """The first line of an error's text (what a person can read of a failure that carries no typed facts)."""
    return (text or "").split("\n", 1)[0].strip()


@dataclass(frozen=True)
class TurnFailure:
    """Why a turn failed, as its orchestration's failure says it."""

    MARKER: ClassVar[str] = "TurnFailed: "

    reason: str
    retryable: bool
    """Sending the message again may work (the model was unavailable, a worker died)."""
    recorded: bool
    """Tool calls ran before the failure and the chat records them (a repeat with the same key resumes the turn)."""
    status: int | None = None
    """The model's HTTP status when the model's answer made the turn fail."""

    def encode(self) -> str:
        """The failure's text: `TurnFailed: ` and the facts as JSON."""
        facts: dict[str, object] = {"reason": self.reason, "retryable": self.retryable, "recorded": self.recorded}
        if self.status is not None:
            facts["status"] = self.status
        return self.MARKER + json.dumps(facts)

    @property
    def unavailable(self) -> bool:
        """The model was throttled, unavailable or unreachable (the API's 503; any other failure is a 502)."""
        return self.retryable and (self.status is None or self.status in (429, 503))

    @classmethod
    def decode(cls, text: object) -> TurnFailure | None:
        """The failure an orchestration's output (a failure message, or its JSON) holds; None for any other."""
        facts = _decode(cls.MARKER, text if isinstance(text, str) else json.dumps(text))
        if facts is None:
            return None
        reason = str(facts.get("reason") or "the turn failed")
        status = facts.get("status")
        if status is None:  # a turn that failed before the status was recorded said it in its reason only
            legacy = _LEGACY_STATUS.search(reason)
            status = int(legacy.group(1)) if legacy else None
        return cls(
            reason=reason,
            retryable=bool(facts.get("retryable")),
            recorded=bool(facts.get("recorded")),
            status=status if isinstance(status, int) else None,
        )


@dataclass(frozen=True)
class ModelFailure:
    """A model call that failed in a way that may pass (throttled, unreachable, a cut answer), as its activity
    raised it."""

    MARKER: ClassVar[str] = "ModelFailure: "

    reason: str
    """What a person is told, e.g. `the model answered HTTP 429`."""
    status: int | None = None
    """The model's HTTP status, when it answered one."""

    def encode(self) -> str:
        """The failure's text: `ModelFailure: ` and the facts as JSON."""
        return self.MARKER + json.dumps({"reason": self.reason, "status": self.status})

    @classmethod
    def decode(cls, text: str) -> ModelFailure | None:
        """The model failure an activity's failure text holds (however the host wrapped it), else None."""
        facts = _decode(cls.MARKER, text)
        if facts is None:
            return None
        status = facts.get("status")
        return cls(
            reason=str(facts.get("reason") or "the model failed"), status=status if isinstance(status, int) else None
        )
