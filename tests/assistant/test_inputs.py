"""Request parsing: chat ids, JSON bodies, text fields, timeouts, timestamps, Accept."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.functions as func
import pytest

from api.errors import HttpError
from api.inputs import (
    is_blank,
    json_body,
    parse_chat_id,
    parse_timeout,
    parse_timestamp,
    required_text,
    wants_json,
    whole_number,
)


def request(
    body: bytes = b"", params: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> func.HttpRequest:
    return func.HttpRequest("POST", "http://h/api/chats/x", body=body, params=params or {}, headers=headers or {})


def error_of(call: object) -> str:
    with pytest.raises(HttpError) as raised:
        call()  # type: ignore[operator]
    assert raised.value.status == 400
    return raised.value.message


def test_chat_ids_that_keys_can_hold() -> None:
    """Letters, digits and _-.~: up to 128, starting with a letter or digit."""
    assert parse_chat_id("Chat_1.a-b~c:d") == "Chat_1.a-b~c:d"
    assert parse_chat_id("x" * 128) == "x" * 128
    for bad in ("", "-lead", "has/slash", "hash#", "q?", "x" * 129, "sp ace"):
        assert "chatId" in error_of(lambda bad=bad: parse_chat_id(bad))


def test_json_bodies() -> None:
    """Empty is {} unless required; malformed JSON and non-objects are named."""
    assert json_body(request(), required=False) == {}
    assert json_body(request(b'{"a": 1}'), required=True) == {"a": 1}
    assert "must be a JSON object" in error_of(lambda: json_body(request(), required=True))
    assert "not valid JSON" in error_of(lambda: json_body(request(b"{oops"), required=False))
    assert "only whitespace" in error_of(
        lambda: json_body(request(b"\r\n "), required=False)
    )  # not the same as no body
    assert "must be a JSON object" in error_of(lambda: json_body(request(b"[1]"), required=False))


def test_text_fields_timeouts_timestamps_and_accept() -> None:
    """Each parser accepts the documented forms and says what is wrong otherwise."""
    assert required_text("hi", "message") == "hi"
    assert error_of(lambda: required_text("", "message")) == "message must not be empty"
    assert parse_timeout(request()) == 30.0
    assert parse_timeout(request(params={"timeoutSeconds": "230"})) == 230.0
    assert parse_timeout(request(params={"timeoutSeconds": "2.5"})) == 2.5
    assert "between 0 and 230" in error_of(lambda: parse_timeout(request(params={"timeoutSeconds": "231"})))
    for bad in ("-1", "soon", "\uff11\uff12", "\u00b2", "1e999", "nan", "1_0", "1" * 19, "\u0661"):
        assert "digits 0-9" in error_of(lambda bad=bad: parse_timeout(request(params={"timeoutSeconds": bad})))
    assert parse_timestamp(request()) is None
    assert parse_timestamp(request(params={"timestampUTC": "2026-11-20T12:00:00"})) == datetime(
        2026, 11, 20, 12, tzinfo=UTC
    )
    assert parse_timestamp(request(params={"timestampUTC": "2026-11-20T13:00:00+01:00"})) == datetime(
        2026, 11, 20, 12, tzinfo=UTC
    )
    assert "timestampUTC" in error_of(lambda: parse_timestamp(request(params={"timestampUTC": "noon"})))
    assert wants_json(request(headers={"Accept": "text/plain, application/json;q=0.9"}))
    assert not wants_json(request(headers={"Accept": "*/*"}))


def test_empty_query_options_are_errors_and_blank_follows_json_schema() -> None:
    """`timeoutSeconds=` and `timestampUTC=` are 400s; blank means ECMA-262 white space only (not \\x1f)."""
    assert "must be a number" in error_of(lambda: parse_timeout(request(params={"timeoutSeconds": ""})))
    assert "timestampUTC" in error_of(lambda: parse_timestamp(request(params={"timestampUTC": ""})))
    assert is_blank(" \t\n\u00a0\u2028") and not is_blank("\x1f") and not is_blank(" a ")
    assert required_text("\x1f", "message") == "\x1f"
    assert "must not be empty" in error_of(lambda: required_text("\u3000 ", "message"))


def test_numbers_from_clients_are_ascii_digits_of_bounded_length() -> None:
    """Non-ASCII digits (`isdigit()` is true for `²`, `int()` refuses it) and integers longer than 18 digits are a 400
    in a query, a header or a body, never a 500 (Python cannot even parse an integer of over 4,300 digits)."""
    assert whole_number(" 42 ", "after") == 42
    assert whole_number("9" * 18, "after") == int("9" * 18)
    for bad in ("\u00b2", "\u0664\u0662", "\uff14", "-1", "1.5", "", "9" * 19, "1" * 5000):
        assert "whole number" in error_of(lambda bad=bad: whole_number(bad, "after"))
    for body in (b'{"ttlSeconds": ' + b"1" * 5000 + b"}", b'{"a": [-' + b"9" * 19 + b"]}"):
        assert "longer than 18 digits" in error_of(lambda body=body: json_body(request(body), required=True))
    assert json_body(request(b'{"n": -999999999999999999}'), required=True) == {"n": -999999999999999999}
