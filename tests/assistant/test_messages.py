"""Message values and UTC text: RFC 3339 parsing edge cases, and messages kept in stored form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assistant.messages import ChatMessage, StoredMessages, format_utc, message_dicts, parse_utc


def test_parse_utc_reads_rfc3339_forms() -> None:
    """Lower-case t/z, offsets, naive text as UTC and a leap second (last instant of its minute)."""
    assert parse_utc("2000-01-01t10:00:00z") == datetime(2000, 1, 1, 10, tzinfo=UTC)
    assert parse_utc("2000-01-01T10:00:00+02:00") == datetime(2000, 1, 1, 8, tzinfo=UTC)
    assert parse_utc("2000-01-01 10:00:00") == datetime(2000, 1, 1, 10, tzinfo=UTC)
    assert parse_utc("1998-12-31T23:59:60Z") == datetime(1998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert format_utc(parse_utc("2026-11-20T12:00:00.5Z")) == "2026-11-20T12:00:00.500000Z"


@pytest.mark.parametrize("text", ["noon", "", "0001-01-01T00:00:00+23:59", "2000-13-01T00:00:00Z"])
def test_parse_utc_rejects_with_value_error(text: str) -> None:
    """Unparseable or out-of-range text is a ValueError (the API's 400), never another exception."""
    with pytest.raises(ValueError):
        parse_utc(text)


def _stored(n: int) -> list[dict[str, object]]:
    return [
        ChatMessage(role="user", content=f"m{i}", created_at=f"2026-01-01T00:00:{i:02d}.000000Z").to_dict()
        for i in range(n)
    ]


def test_stored_messages_read_as_messages() -> None:
    """Indexing, negative indexing, iteration and len give the same as a tuple of parsed messages."""
    raw = _stored(4)
    stored = StoredMessages(raw)
    parsed = tuple(ChatMessage.from_dict(m) for m in raw)
    assert len(stored) == 4
    assert stored[0] == parsed[0] and stored[-1] == parsed[-1]
    assert list(stored) == list(parsed)
    assert stored == parsed and parsed == stored
    assert stored[1:3] == parsed[1:3] and isinstance(stored[1:3], StoredMessages)
    with pytest.raises(IndexError):
        stored[4]


def test_stored_messages_parse_only_what_is_read() -> None:
    """A message is parsed when read, not before: passing the window on never touches the others."""
    raw = _stored(3) + [{"role": "not-a-role", "content": "x"}]
    stored = StoredMessages(raw)
    assert stored[0].content == "m0"
    moved = stored[1:] + (ChatMessage(role="assistant", content="new"),)
    assert len(moved) == 4 and moved[-1].content == "new"
    with pytest.raises(ValueError, match="not-a-role"):
        stored[3]


def test_stored_messages_keep_their_stored_form() -> None:
    """to_dicts gives back the stored dicts themselves, across slices and `+`; new messages are encoded once."""
    raw = _stored(3)
    stored = StoredMessages(raw)
    extra = ChatMessage(role="assistant", content="new", created_at="2026-01-01T00:01:00.000000Z")
    joined = stored[1:] + (extra,)
    dicts = joined.to_dicts()
    assert dicts[0] is raw[1] and dicts[1] is raw[2] and dicts[2] == extra.to_dict()
    assert ((extra,) + stored).to_dicts()[1] is raw[0]
    assert message_dicts(stored) == raw and message_dicts((extra,)) == [extra.to_dict()]
    assert StoredMessages.of(stored) is stored and StoredMessages.of((extra,)) == (extra,)
