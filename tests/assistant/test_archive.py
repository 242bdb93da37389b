"""The chat archive in Table storage (Azurite): ordered reads, time filters in the query, big messages, idempotent
writes, deletion."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from assistant.messages import ChatMessage, ToolCall, format_utc
from assistant.settings import reset_settings
from assistant.window import ArchiveBatch
from storage.archive import forget_archive, read_archive, write_archive
from storage.clients import reset_storage
from storage.fences import set_fence
from tests.support.azurite import Azurite

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def archive_env(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("CHAT_ARCHIVE_TABLE", f"archive{uuid.uuid4().hex[:10]}")
    reset_storage()
    reset_settings()
    yield
    reset_storage()


def message(index: int, content: str | None = None) -> ChatMessage:
    return ChatMessage(
        role="assistant" if index % 2 else "user",
        content=content if content is not None else f"m{index}",
        created_at=format_utc(T0 + timedelta(seconds=index)),
        tool_calls=(ToolCall(f"c{index}", "GetTodos", "{}"),) if index == 3 else (),
        turn_id=f"t{index // 2}",
    )


def test_rows_read_back_in_order_filtered_in_the_query_and_bounded(archive_env: None) -> None:
    """150 messages (two transactions), one of 100 000 characters: read in order, up to a bound, after a time."""
    messages = tuple(message(i, "x" * 100_000 if i == 5 else None) for i in range(1, 151))
    assert write_archive(ArchiveBatch("chat-a", "g", 1, messages)) == 150
    assert write_archive(ArchiveBatch("chat-a", "g", 1, messages[:10])) == 10  # a re-run rewrites the same rows
    assert read_archive("chat-a", 150) == messages
    assert read_archive("chat-a", 20) == messages[:20]
    assert read_archive("chat-a", 150, T0 + timedelta(seconds=140)) == messages[140:]
    assert read_archive("chat-b", 150) == () and read_archive("chat-a", 0) == ()


def test_forget_deletes_the_chats_rows_and_names_their_turns(archive_env: None) -> None:
    """forget_archive removes one chat's rows only and returns the turn ids they held."""
    write_archive(ArchiveBatch("chat-a", "g", 1, tuple(message(i) for i in range(1, 5))))
    write_archive(ArchiveBatch("chat-b", "g", 1, (message(1),)))
    assert forget_archive("chat-a") == ["t0", "t1", "t2"]
    assert read_archive("chat-a", 10) == () and len(read_archive("chat-b", 10)) == 1


def test_a_batch_of_an_older_generation_is_undone(archive_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch planned before the chat was reset, written after: its rows do not stay in the fresh chat's archive."""
    monkeypatch.setenv("CHAT_FENCE_TABLE", f"fences{uuid.uuid4().hex[:10]}")
    reset_storage()
    messages = tuple(message(i) for i in range(1, 6))
    set_fence("chat-f", "gen-1")
    assert write_archive(ArchiveBatch("chat-f", "g", 1, messages, fence="gen-1")) == 5
    assert read_archive("chat-f", 5) == messages
    forget_archive("chat-f")
    set_fence("chat-f", "gen-2")  # the reset: new generation marked, then the old archive wiped
    assert write_archive(ArchiveBatch("chat-f", "g", 1, messages, fence="gen-1")) == 0
    assert read_archive("chat-f", 5) == ()
    assert write_archive(ArchiveBatch("chat-f", "g", 1, messages, fence="gen-2")) == 5
