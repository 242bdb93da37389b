"""Payload encoding at the edges, mirroring the worker's converter."""

from __future__ import annotations

import pytest

from devhost.durable.payloads import (
    PayloadError,
    body_to_text,
    decode_activity_input,
    encode_activity_output,
    text_to_value,
)


def test_body_to_text_accepts_sdk_and_plain_json() -> None:
    """Pre-serialized SDK payloads are unwrapped once; plain JSON is kept; empty is None."""
    assert body_to_text(b'"{\\"a\\": 1}"') == '{"a": 1}'
    assert body_to_text(b'{"a": 1}') == '{"a": 1}'
    assert body_to_text(b'"hello"') == '"hello"'
    assert body_to_text(b"  ") is None
    with pytest.raises(PayloadError, match="not valid JSON"):
        body_to_text(b"{oops")
    with pytest.raises(PayloadError, match="not UTF-8"):
        body_to_text(b"\xff\xfe{")


def test_activity_payloads_follow_the_worker_converter() -> None:
    """Inputs decode as the ActivityTrigger converter does; outputs encode as it does."""
    assert decode_activity_input('{"a": [1, 2]}') == {"a": [1, 2]}
    assert decode_activity_input("not json") == "not json"
    assert encode_activity_output({"b": None}) == '{"b": null}'
    with pytest.raises(ValueError, match="json serializable"):
        encode_activity_output(object())
    assert text_to_value('"x"') == "x" and text_to_value("raw") == "raw"
