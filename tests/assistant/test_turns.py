"""The POST route's pure parts: idempotency keys, turn instance ids, failure answers."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from api.errors import HttpError
from api.turns import parse_idempotency_key, turn_failure
from assistant.failures import TurnFailure
from assistant.ids import TURN_ID_LENGTH, turn_instance_id


def request(headers: dict[str, str]) -> func.HttpRequest:
    return func.HttpRequest("POST", "http://h/api/chats/x", body=b"", headers=headers)


def test_idempotency_key_header_rules() -> None:
    """Absent: none; visible ASCII up to 255: the key; anything else, empty included: 400."""
    assert parse_idempotency_key(request({})) is None
    assert parse_idempotency_key(request({"Idempotency-Key": "abc-123"})) == "abc-123"
    for bad in ("", "with space", "x" * 256, "caf\u00e9", "tab\there"):
        with pytest.raises(HttpError) as raised:
            parse_idempotency_key(request({"Idempotency-Key": bad}))
        assert raised.value.status == 400


def test_turn_instance_ids_are_stable_per_chat_and_key() -> None:
    """Same chat and key: same id; another chat or key: another id; no key: a fresh id each time."""
    assert turn_instance_id("c1", "k") == turn_instance_id("c1", "k")
    assert len({turn_instance_id("c1", "k"), turn_instance_id("c2", "k"), turn_instance_id("c1", "k2")}) == 3
    assert turn_instance_id("c1", None) != turn_instance_id("c1", None)
    ids = [turn_instance_id("c" * 128, "k" * 255), turn_instance_id("c1", None), turn_instance_id("x", "k")]
    assert {len(i) for i in ids} == {TURN_ID_LENGTH} and TURN_ID_LENGTH <= 100  # the Durable Task Scheduler's limit
    assert "c1" not in turn_instance_id("c1", "k")  # the chat is read from the turn's input, never from its id


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("the model answered HTTP 429", 503),
        ("the model answered HTTP 503", 503),
        ("the model could not be reached: APITimeoutError", 503),
        ("the model answered HTTP 500", 502),
        ("the model answered HTTP 400", 502),
    ],
)
def test_failed_turn_maps_model_errors_to_502_or_503(reason: str, status: int) -> None:
    """Throttled or unreachable: 503; any other upstream error: 502; the reason is in the body. The model's status
    travels typed in the turn's failure (and, for turns that failed before it did, is read from the reason)."""
    code = int(reason.rsplit(" ", 1)[1]) if "HTTP" in reason else None
    typed = TurnFailure(reason, retryable="400" not in reason, recorded=False, status=code).encode()
    legacy = "TurnFailed: " + json.dumps({"reason": reason, "retryable": "400" not in reason, "recorded": False})
    for text in (typed, legacy):
        error = turn_failure("i1", f"Orchestrator function 'post_user_query' failed: {text}")
        assert error.status == status and error.details["reason"] == reason and error.details["instanceId"] == "i1"
        assert "the chat is unchanged" in error.message and error.details["recorded"] is False
    assert turn_failure("i2", "Orchestrator function 'post_user_query' failed: KeyError: 'x'").status == 502


def test_failure_after_tools_ran_says_what_was_recorded_and_how_to_resume() -> None:
    """A turn that recorded its tool calls never claims the chat is unchanged; with a key it says how to resume."""
    failure = TurnFailure("the model answered HTTP 500", retryable=True, recorded=True, status=500)
    output = f"Orchestrator function 'post_user_query' failed: {failure.encode()}"
    keyed, unkeyed = turn_failure("i1", output, keyed=True), turn_failure("i1", output)
    for error in (keyed, unkeyed):
        assert "unchanged" not in error.message and "recorded in the chat" in error.message
        assert error.details["recorded"] is True and error.status == 502
    assert "same Idempotency-Key" in keyed.message and "do not run again" in keyed.message
