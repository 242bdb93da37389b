"""The chat_admin orchestrator: create goes through call_entity; delete also forgets the skills' data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrators.chat_admin import ChatAdminInput, run_admin

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class ScriptedContext:
    current_utc_datetime = T0

    def __init__(self, request: ChatAdminInput) -> None:
        self._input = request.to_dict()
        self._uuids = 0

    def new_uuid(self) -> str:
        self._uuids += 1
        return f"uuid-{self._uuids}"

    def get_input(self) -> dict[str, Any]:
        return self._input

    def call_entity(self, entity: Any, operation: str, data: Any = None) -> tuple[Any, ...]:
        return ("entity", entity.name, entity.key, operation, data)

    def call_activity(self, name: str, data: Any) -> tuple[Any, ...]:
        return ("activity", name, data)

    def call_activity_with_retry(self, name: str, retry: Any, data: Any) -> tuple[Any, ...]:
        return ("activity", name, data)


def finish(steps: Any, value: Any) -> Any:
    with pytest.raises(StopIteration) as stop:
        steps.send(value)
    return stop.value.value


def test_create_calls_the_entity_with_the_orchestration_time() -> None:
    """The entity's create gets the instructions and a replay-safe timestamp; the old chat's skills' data and archive
    go."""
    steps = run_admin(ScriptedContext(ChatAdminInput("c1", "create", "be kind")))
    assert next(steps) == (
        "entity",
        "chat",
        "c1",
        "create",
        {
            "instructions": "be kind",
            "createdAt": "2026-11-20T12:00:00.000000Z",
            "ttlSeconds": None,
            "generation": "uuid-1",
        },
    )
    # The new generation is marked as the old data goes: late writes of the old chat's turns undo themselves.
    assert steps.send({"chatId": "c1"}) == ("activity", "forget_chat_data", {"chatId": "c1", "generation": "uuid-1"})
    assert steps.send(True) == ("activity", "forget_chat_archive", {"chatId": "c1"})
    assert finish(steps, []) == {"chatId": "c1"}


def test_delete_removes_state_then_forgets_the_chat() -> None:
    """delete → forget_chat_data → forget_chat_archive → the turn ids to purge (the entity's and the archive's)."""
    steps = run_admin(ScriptedContext(ChatAdminInput("c1", "delete")))
    assert next(steps) == ("entity", "chat", "c1", "delete", None)
    forget = ("activity", "forget_chat_data", {"chatId": "c1", "generation": "deleted-uuid-1"})
    assert steps.send({"existed": True, "turnIds": ["t1", "t2"]}) == forget
    assert steps.send(True) == ("activity", "forget_chat_archive", {"chatId": "c1"})
    assert finish(steps, ["t0", "t1"]) == {"existed": True, "turnIds": ["t1", "t2", "t0"]}
