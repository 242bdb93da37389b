"""The chat entity through the SDK's own entity handler (the batch protocol)."""

from __future__ import annotations

import json
from typing import Any

from entities.chat import chat

HANDLE = chat._function._func if hasattr(chat, "_function") else chat


def run_batch(key: str, state: dict[str, Any] | None, *operations: tuple[str, Any]) -> dict[str, Any]:
    """Run one batch as the durable extension would (inputs are JSON text inside a JSON string)."""
    context = {
        "self": {"name": "chat", "key": key},
        "exists": state is not None,
        "state": json.dumps(state) if state is not None else None,
        "batch": [{"name": name, "input": json.dumps(json.dumps(data))} for name, data in operations],
    }
    return json.loads(HANDLE(json.dumps(context)))


def results(response: dict[str, Any]) -> list[Any]:
    return [json.loads(r["result"]) if isinstance(r["result"], str) else r["result"] for r in response["results"]]


def stored(response: dict[str, Any]) -> dict[str, Any] | None:
    state = response.get("entityState")
    return json.loads(state) if isinstance(state, str) else state


def test_create_append_read_in_one_batch() -> None:
    """Operations apply in order; read sees the appended turn; the state is saved."""
    turn = {
        "turnId": "t1",
        "messages": [
            {"role": "user", "content": "hi", "createdAt": "2026-11-20T12:00:01.000000Z"},
            {"role": "assistant", "content": "hello", "createdAt": "2026-11-20T12:00:02.000000Z"},
        ],
        "usage": {"promptTokens": 3, "completionTokens": 2, "totalTokens": 5},
    }
    response = run_batch(
        "c1",
        None,
        ("create", {"instructions": "be kind", "createdAt": "2026-11-20T12:00:00Z"}),
        ("enqueue_turn", "t1"),
        ("append_turn", turn),
        ("append_turn", turn),
        ("read", None),
    )
    created, slot, first, repeated, read = results(response)
    assert created == {"chatId": "c1", "createdAt": "2026-11-20T12:00:00.000000Z"}
    assert slot["state"] == "running" and slot["chat"]["queue"] == ["t1"]
    assert (
        first
        == repeated
        == {"appended": True, "cancelled": False, "totalMessages": 3, "archive": None, "fold": None, "nextTurnId": None}
    )
    assert stored(response)["queue"] == []
    assert [m["role"] for m in read["messages"]] == ["system", "user", "assistant"]
    assert read["totalTokens"] == 5 and stored(response)["turnIds"] == ["t1"]


def test_create_resets_and_delete_removes_state() -> None:
    """create on an existing chat starts fresh; delete returns the turn ids and drops the state."""
    existing = run_batch(
        "c2",
        None,
        ("create", {"createdAt": "2026-11-20T12:00:00Z"}),
        ("enqueue_turn", "t9"),
        (
            "append_turn",
            {"turnId": "t9", "messages": [{"role": "user", "content": "x", "createdAt": "2026-11-20T12:00:01Z"}]},
        ),
    )
    state = stored(existing)
    reset = run_batch("c2", state, ("create", {"instructions": "new rules", "createdAt": "2026-11-20T13:00:00Z"}))
    assert [m["content"] for m in stored(reset)["messages"]] == ["new rules"] and stored(reset)["turnIds"] == []
    failed = stored(run_batch("c2", state, ("note_failed_turn", "t10"), ("note_failed_turn", "t10")))
    assert failed["failedTurnIds"] == ["t10"] and failed["messages"] == state["messages"]
    deleted = run_batch("c2", failed, ("delete", None), ("read", None))
    assert results(deleted) == [{"existed": True, "turnIds": ["t9", "t10"]}, None]
    assert deleted["entityExists"] is False
    assert run_batch("never-created", None, ("read", None))["entityExists"] is False


def test_unknown_operation_is_an_error_result_and_leaves_state() -> None:
    """A bad operation name fails that operation only."""
    created = stored(run_batch("c3", None, ("create", {"createdAt": "2026-11-20T12:00:00Z"})))
    response = run_batch("c3", created, ("rename", None))
    assert response["results"][0]["isError"] is True and "unknown chat operation" in response["results"][0]["result"]


def test_turn_queue_runs_turns_one_at_a_time_in_arrival_order() -> None:
    """enqueue is idempotent; the head runs; append or failure lets the next run; reset cancels the rest."""
    created = stored(run_batch("c4", None, ("create", {"createdAt": "2026-11-20T12:00:00Z"})))
    response = run_batch(
        "c4", created, ("enqueue_turn", "a"), ("enqueue_turn", "b"), ("enqueue_turn", "c"), ("enqueue_turn", "b")
    )
    slots = results(response)
    assert [(s["state"], s["position"]) for s in slots] == [("running", 0), ("queued", 1), ("queued", 2), ("queued", 1)]
    queued = stored(response)
    assert queued["queue"] == ["a", "b", "c"]
    turn_a = {"turnId": "a", "messages": [{"role": "user", "content": "x", "createdAt": "2026-11-20T12:00:01Z"}]}
    after = run_batch(
        "c4",
        queued,
        ("append_turn", turn_a),
        ("poll_turn", "b"),
        ("note_failed_turn", "b"),
        ("poll_turn", "c"),
        ("poll_turn", "a"),
    )
    appended, b_slot, _, c_slot, a_slot = results(after)
    assert (
        appended["appended"] is True
        and appended["nextTurnId"] == "b"
        and b_slot["state"] == "running"
        and c_slot["state"] == "running"
    )
    assert a_slot["state"] == "done" and [m["content"] for m in a_slot["messages"]] == ["x"]
    reset = run_batch(
        "c4",
        stored(after),
        ("create", {"createdAt": "2026-11-20T13:00:00Z"}),
        ("poll_turn", "c"),
        ("append_turn", {"turnId": "c", "messages": []}),
    )
    _, c_after_reset, refused = results(reset)
    assert (
        c_after_reset["state"] == "cancelled" and refused["cancelled"] is True and stored(reset)["messages"][1:] == []
    )


def test_append_names_the_messages_to_archive_and_archived_drops_them() -> None:
    """Past `workingMessages` the append's result carries the batch; `archived` trims the window and counts them."""
    created = stored(run_batch("c5", None, ("create", {"createdAt": "2026-11-20T12:00:00Z"})))
    state = created
    archive = None
    for index in range(3):
        turn = {
            "turnId": f"t{index}",
            "workingMessages": 2,
            "messages": [
                {"role": "user", "content": f"u{index}", "createdAt": ""},
                {"role": "assistant", "content": f"a{index}", "createdAt": ""},
            ],
        }
        response = run_batch("c5", state, ("enqueue_turn", f"t{index}"), ("append_turn", turn))
        state = stored(response)
        archive = results(response)[1]["archive"]
        if archive:
            break
    assert (
        archive is not None and archive["fromSeq"] == 1 and [m["content"] for m in archive["messages"]] == ["u0", "a0"]
    )
    done = run_batch("c5", state, ("archived", {"generation": archive["generation"], "uptoSeq": 2}), ("read", None))
    read = results(done)[1]
    assert read["archivedCount"] == 2 and [m["content"] for m in read["messages"]] == [
        read["messages"][0]["content"],
        "u1",
        "a1",
    ]
