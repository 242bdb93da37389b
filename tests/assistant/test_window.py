"""The working window's pure rules: what to archive and dropping it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from assistant.messages import ChatMessage
from assistant.state import TurnRecord, append_turn, new_chat
from assistant.window import ArchiveBatch, apply_archived, plan_archive

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


def chat_with_turns(sizes: list[int]):
    """A chat whose turn i has sizes[i] messages."""
    chat = new_chat("c", None, T0)
    for index, size in enumerate(sizes):
        chat = replace(chat, queue=(f"t{index}",))
        messages = tuple(
            ChatMessage(role="user" if k == 0 else "assistant", content=f"{index}.{k}", created_at="")
            for k in range(size)
        )
        chat = append_turn(chat, TurnRecord(turn_id=f"t{index}", messages=messages))
    return chat


def test_nothing_to_archive_within_the_window() -> None:
    """Up to `working_messages` after the system message: no batch."""
    assert plan_archive(chat_with_turns([2, 2, 2]), 6) is None


def test_oldest_whole_turns_move_keeping_about_half() -> None:
    """Over the window: the oldest whole turns go, the newest turns within half the window stay."""
    chat = chat_with_turns([2, 4, 1, 2])
    batch = plan_archive(chat, 6)
    assert batch is not None and batch.from_seq == 1 and batch.upto_seq == 6
    assert [m.content for m in batch.messages] == ["0.0", "0.1", "1.0", "1.1", "1.2", "1.3"]
    assert ArchiveBatch.from_dict(batch.to_dict()) == batch
    trimmed = apply_archived(chat, batch.generation, batch.upto_seq)
    assert trimmed.archived_count == 6 and [m.content for m in trimmed.messages[1:]] == ["2.0", "3.0", "3.1"]
    assert trimmed.messages[0].role == "system"
    assert apply_archived(trimmed, batch.generation, batch.upto_seq) == trimmed  # repeated: no-op
    assert apply_archived(chat, "another generation", 6) == chat  # planned before a reset: ignored


def test_a_single_huge_turn_is_kept_and_later_batches_continue_the_sequence() -> None:
    """The newest turn stays even when it alone exceeds the window; sequence numbers continue after archived ones."""
    assert plan_archive(chat_with_turns([9]), 6) is None
    chat = chat_with_turns([2, 2, 2, 2])
    first = plan_archive(chat, 6)
    assert first is not None
    chat = apply_archived(chat, first.generation, first.upto_seq)
    chat = append_turn(
        replace(chat, queue=("t9",)),
        TurnRecord(
            turn_id="t9", messages=tuple(ChatMessage(role="user", content=f"9.{k}", created_at="") for k in range(5))
        ),
    )
    second = plan_archive(chat, 6)
    assert second is not None and second.from_seq == first.upto_seq + 1
    assert all(m.turn_id != "t9" for m in second.messages)
