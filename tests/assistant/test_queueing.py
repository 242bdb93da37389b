"""The turn queue's pure rules."""

from __future__ import annotations

from datetime import UTC, datetime

from assistant.queueing import CANCELLED, DONE, QUEUED, RUNNING, TurnSlot, enqueue_turn, poll_turn
from assistant.state import TurnRecord, append_turn, new_chat, note_failed_turn

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_enqueue_is_idempotent_and_the_head_runs() -> None:
    """a, b, a again: the queue is a, b; a runs with the chat, b waits one place back."""
    chat, first = enqueue_turn(new_chat("c", None, T0), "a")
    chat, second = enqueue_turn(chat, "b")
    chat, repeat = enqueue_turn(chat, "a")
    assert chat is not None and chat.queue == ("a", "b")
    assert first.state == RUNNING and first.chat is not None and first.chat.queue == ("a",)
    assert (second.state, second.position) == (QUEUED, 1) and repeat.state == RUNNING
    assert TurnSlot.from_dict(second.to_dict()) == second


def test_finishing_or_failing_lets_the_next_run_and_reset_or_delete_cancels() -> None:
    """append_turn and note_failed_turn leave the queue; a fresh chat or none cancels the rest."""
    chat, _ = enqueue_turn(new_chat("c", None, T0), "a")
    chat, _ = enqueue_turn(chat, "b")
    chat, _ = enqueue_turn(chat, "c")
    assert chat is not None
    chat = append_turn(chat, TurnRecord(turn_id="a", messages=()))
    assert poll_turn(chat, "a").state == DONE and poll_turn(chat, "b").state == RUNNING
    chat = note_failed_turn(chat, "b")
    assert chat.queue == ("c",) and poll_turn(chat, "c").state == RUNNING
    assert poll_turn(new_chat("c", None, T0), "c").state == CANCELLED
    assert poll_turn(None, "c").state == CANCELLED and enqueue_turn(None, "d") == (None, TurnSlot(state=CANCELLED))
