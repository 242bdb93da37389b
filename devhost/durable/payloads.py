"""Payload encoding at the engine's edges, mirroring the Python worker and the extension.

Inside the engine every payload is *serialized JSON text* (what the SDK's `df_loads`
reads). HTTP bodies are decoded once: the SDK client pre-serializes its payloads and
then posts them as a JSON string, so a JSON string that itself holds JSON is taken as
that serialized text, any other JSON value is serialized. Activity inputs and outputs go
through the same converter the worker uses (`azure.functions.durable_functions`).
"""

from __future__ import annotations

import json
from typing import Any

from azure.functions import _durable_functions as worker_json

__all__ = ["PayloadError", "body_to_text", "decode_activity_input", "encode_activity_output", "text_to_value"]


class PayloadError(ValueError):
    """A request body is not valid JSON."""


def body_to_text(body: bytes) -> str | None:
    """Serialized JSON text of an HTTP body (None when the body is empty)."""
    try:
        raw = body.decode("utf-8-sig").strip() if body else ""
    except UnicodeDecodeError as error:
        raise PayloadError(f"the request body is not UTF-8 text: {error.reason} at byte {error.start}") from None
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise PayloadError(f"the request body is not valid JSON: {error.msg} at position {error.pos}") from None
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            return raw
        return value
    return raw


def text_to_value(text: str | None) -> Any:
    """The JSON value of serialized text, for status payloads (text that is not JSON stays a string)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def decode_activity_input(text: str | None) -> Any:
    """What the worker's ActivityTrigger converter hands the activity function."""
    if text is None:
        return None
    try:
        return worker_json.df_loads(text)
    except json.JSONDecodeError:
        return text


def encode_activity_output(value: Any) -> str:
    """What the worker's ActivityTrigger converter sends back for a return value."""
    try:
        return worker_json.df_dumps(value)
    except TypeError as error:
        raise ValueError(f"activity trigger output must be json serializable ({value!r})") from error
