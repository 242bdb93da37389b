"""Message values and UTC text: RFC 3339 parsing edge cases."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from assistant.messages import format_utc, parse_utc


def test_parse_utc_reads_rfc3339_forms() -> None:
    """Lower-case t/z, offsets, naive text as UTC and a leap second (last instant of its minute)."""
    assert parse_utc("2000-01-01t10:00:00z") == datetime(2000, 1, 1, 10, tzinfo=timezone.utc)
    assert parse_utc("2000-01-01T10:00:00+02:00") == datetime(2000, 1, 1, 8, tzinfo=timezone.utc)
    assert parse_utc("2000-01-01 10:00:00") == datetime(2000, 1, 1, 10, tzinfo=timezone.utc)
    assert parse_utc("1998-12-31T23:59:60Z") == datetime(1998, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert format_utc(parse_utc("2026-11-20T12:00:00.5Z")) == "2026-11-20T12:00:00.500000Z"


@pytest.mark.parametrize("text", ["noon", "", "0001-01-01T00:00:00+23:59", "2000-13-01T00:00:00Z"])
def test_parse_utc_rejects_with_value_error(text: str) -> None:
    """Unparseable or out-of-range text is a ValueError (the API's 400), never another exception."""
    with pytest.raises(ValueError):
        parse_utc(text)
