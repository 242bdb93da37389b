"""Parsing and validating what clients send: ids, JSON bodies, query options."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from api.errors import HttpError
from api.http import RequestView
from assistant.messages import parse_utc
from assistant.settings import assistant_settings

__all__ = [
    "MAX_INTEGER_DIGITS",
    "MAX_JSON_DEPTH",
    "MAX_TIMEOUT_SECONDS",
    "encodable",
    "is_blank",
    "json_body",
    "json_depth",
    "parse_chat_id",
    "parse_timeout",
    "parse_timestamp",
    "required_text",
    "seconds_param",
    "wants_json",
    "whole_number",
    "whole_seconds",
]

MAX_TIMEOUT_SECONDS = 230.0
DEFAULT_TIMEOUT_SECONDS = 30.0
_CHAT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.~:-]{0,127}$")


def parse_chat_id(value: str | None, field: str = "chatId") -> str:
    """A chat id that entity keys and table keys can hold, else 400."""
    if not value:
        raise HttpError(400, f"{field} is required")
    if not _CHAT_ID.match(value):
        raise HttpError(
            400,
            f"{field} must be 1-128 characters: letters, digits, '_', '-', '.', '~' or ':', "
            "starting with a letter or digit",
        )
    return value


MAX_JSON_DEPTH = 32
"""The deepest nesting of arrays and objects a request body may have."""
MAX_INTEGER_DIGITS = 18
"""The longest integer a client may send, in a body, a query or a header (every value the API takes fits in 64 bits;
longer ones are refused before Python parses them: an integer of over 4,300 digits would not even parse)."""
_SECONDS = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,40})?")
_WHOLE = re.compile(r"[0-9]{1,18}")


class _IntegerTooLong(ValueError):
    """A JSON integer longer than `MAX_INTEGER_DIGITS` digits."""


def _bounded_int(text: str) -> int:
    """`json.loads`'s integer parser with a length bound."""
    if len(text) - text.startswith("-") > MAX_INTEGER_DIGITS:
        raise _IntegerTooLong(text)
    return int(text)


def whole_number(raw: str, name: str) -> int:
    """A query or header value holding a whole number (ASCII digits only, at most 18 of them), else 400."""
    text = raw.strip()
    if not _WHOLE.fullmatch(text):
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise HttpError(400, f"{name} must be a whole number of at most {MAX_INTEGER_DIGITS} digits 0-9, got {shown!r}")
    return int(text)


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def json_body(req: RequestView, *, required: bool) -> dict[str, Any]:
    """The body as a JSON object ({} when there is none and not `required`), else 400 (413 over
    `CHAT_MAX_BODY_BYTES`)."""
    raw = req.get_body() or b""
    limit = assistant_settings().max_body_bytes
    if len(raw) > limit:
        raise HttpError(413, f"the request body is {len(raw)} bytes; at most {limit} are accepted")
    if not raw:
        if required:
            raise HttpError(400, "the request body must be a JSON object")
        return {}
    if not raw.strip():  # bytes, but no JSON value: not the same as no body
        raise HttpError(400, "the request body is only whitespace; send a JSON object or no body")
    try:
        body = json.loads(raw, parse_int=_bounded_int)
    except _IntegerTooLong:
        raise HttpError(400, f"the request body holds an integer longer than {MAX_INTEGER_DIGITS} digits") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HttpError(400, f"the request body is not valid JSON: {error}") from error
    except RecursionError:
        raise HttpError(400, f"the request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    if not isinstance(body, dict):
        raise HttpError(400, "the request body must be a JSON object")
    if json_depth(body) > MAX_JSON_DEPTH:
        raise HttpError(400, f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
    return body


def encodable(value: str, field: str) -> str:
    """`value` if UTF-8 can encode it, else 400 (a lone surrogate such as `\\ud800` is not text)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise HttpError(
            400,
            f"{field} is not valid Unicode text: it holds a lone surrogate (U+{ord(value[error.start]):04X}) "
            f"at character {error.start}",
        ) from None
    return value


_NOT_ECMA_WHITESPACE = frozenset("\x1c\x1d\x1e\x1f\x85")
"""Characters Python's `isspace` counts as white space but JSON Schema's (ECMA-262) `\\s` does not."""


def is_blank(value: str) -> bool:
    """Whether `value` holds only white space as the OpenAPI document's `\\S` pattern sees it (ECMA-262)."""
    return all(c.isspace() and c not in _NOT_ECMA_WHITESPACE for c in value)


def required_text(value: Any, field: str) -> str:
    """A non-empty string within the size limit, else 400."""
    if value is None:
        raise HttpError(400, f"{field} is required")
    if not isinstance(value, str):
        raise HttpError(400, f"{field} must be a string")
    if is_blank(value):
        raise HttpError(400, f"{field} must not be empty")
    encodable(value, field)
    limit = assistant_settings().max_message_bytes
    if len(value.encode("utf-8")) > limit:
        raise HttpError(400, f"{field} is longer than {limit} bytes")
    return value


def seconds_param(req: RequestView, name: str, default: float, maximum: float) -> float:
    """Query parameter `name`: a number of seconds from 0 to `maximum` (`default` when absent), else 400."""
    raw = req.params.get(name)
    if raw is None:
        return default
    if not _SECONDS.fullmatch(raw.strip()):
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise HttpError(400, f"{name} must be a number of seconds written with digits 0-9 (e.g. 2.5), got {shown!r}")
    value = float(raw)
    if not 0 <= value <= maximum:
        raise HttpError(400, f"{name} must be between 0 and {maximum:g}")
    return value


def whole_seconds(value: Any, name: str, maximum: int) -> int | None:
    """A body field's value: a whole number of seconds from 1 to `maximum` (None when absent or null), else 400."""
    if value is None:
        return None
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or not 1 <= value <= maximum:
        raise HttpError(400, f"{name} must be a whole number of seconds from 1 to {maximum}, or null")
    return int(value)


def parse_timeout(req: RequestView) -> float:
    """`?timeoutSeconds=` (default 30, 0 to 230), else 400."""
    return seconds_param(req, "timeoutSeconds", DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS)


def parse_timestamp(req: RequestView) -> datetime | None:
    """`?timestampUTC=` as an aware UTC datetime (None when absent), else 400."""
    raw = req.params.get("timestampUTC")
    if raw is None:
        return None
    try:
        return parse_utc(raw)
    except ValueError as error:
        raise HttpError(400, f"timestampUTC is not an ISO-8601 date-time: {raw!r}") from error


def wants_json(req: RequestView) -> bool:
    """Whether the `Accept` header asks for `application/json`."""
    return "application/json" in (req.headers.get("Accept") or "").lower()
