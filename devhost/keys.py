"""Function keys: who may call a route of auth level `anonymous`, `function` or `admin`.

Like Core Tools, devhost does not enforce keys unless asked (`--require-keys`). Then a
`function` route needs the `code` query parameter or the `x-functions-key` header to equal
`DEVHOST_FUNCTION_KEY` or `DEVHOST_MASTER_KEY`, and an `admin` route needs the master key.
If `DEVHOST_MASTER_KEY` is unset, a random one is generated for the run and printed.
"""
from __future__ import annotations

import enum
import os
import secrets
from dataclasses import dataclass
from typing import Mapping

__all__ = ["AuthLevel", "HostKeys", "KeyCheck", "check_key", "keys_from_env"]


class AuthLevel(enum.Enum):
    """The `authLevel` of an HTTP trigger."""

    ANONYMOUS = "anonymous"
    FUNCTION = "function"
    ADMIN = "admin"

    @classmethod
    def of(cls, value: object) -> AuthLevel:
        """Parse a trigger's `authLevel` (case-insensitive; absent means `function`, as in the host)."""
        if value is None:
            return cls.FUNCTION
        text = str(getattr(value, "value", value)).lower()
        for level in cls:
            if level.value == text:
                return level
        raise ValueError(f"unknown authLevel {value!r}")


@dataclass(frozen=True)
class HostKeys:
    """The keys accepted for this run."""

    master_key: str
    """Accepted for `function` and `admin` routes."""
    function_keys: tuple[str, ...] = ()
    """Accepted for `function` routes."""
    generated_master: bool = False
    """True when `DEVHOST_MASTER_KEY` was unset and `master_key` was generated."""


def keys_from_env(environ: Mapping[str, str] = os.environ) -> HostKeys:
    """Keys from `DEVHOST_MASTER_KEY` / `DEVHOST_FUNCTION_KEY` (empty counts as unset)."""
    master = environ.get("DEVHOST_MASTER_KEY") or ""
    function_key = environ.get("DEVHOST_FUNCTION_KEY") or ""
    return HostKeys(
        master_key=master or secrets.token_urlsafe(32),
        function_keys=(function_key,) if function_key else (),
        generated_master=not master,
    )


class KeyCheck(enum.Enum):
    """The outcome of a key check."""

    ALLOWED = "allowed"
    MISSING = "missing"
    WRONG = "wrong"


def _provided_key(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    return headers.get("x-functions-key") or query.get("code") or None


def check_key(
    level: AuthLevel,
    keys: HostKeys,
    *,
    query: Mapping[str, str],
    headers: Mapping[str, str],
) -> KeyCheck:
    """Whether the request's key (header `x-functions-key` or query `code`) satisfies `level`.

    `headers` must be case-insensitive or lower-cased (starlette's `Headers` are).
    """
    if level is AuthLevel.ANONYMOUS:
        return KeyCheck.ALLOWED
    provided = _provided_key(query, headers)
    if provided is None:
        return KeyCheck.MISSING
    accepted = [keys.master_key] if level is AuthLevel.ADMIN else [keys.master_key, *keys.function_keys]
    # compare_digest on every candidate: no early exit that leaks which key matched.
    matched = [secrets.compare_digest(provided.encode(), key.encode()) for key in accepted]
    return KeyCheck.ALLOWED if any(matched) else KeyCheck.WRONG
