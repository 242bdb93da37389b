"""Function keys: who may call a route of auth level `anonymous`, `function`, `admin` or `system`.

Like Core Tools, devhost does not enforce keys unless asked (`--require-keys`). Then a
`function` route needs the `code` query parameter or the `x-functions-key` header to equal
`DEVHOST_FUNCTION_KEY` or the master key, an `admin` route needs the master key, and the
Durable extension's webhooks (`/runtime/webhooks/durabletask/...`) need the master key or the
extension's system key `durabletask_extension`, as on Azure. A master key not set with
`DEVHOST_MASTER_KEY` and the system key are generated once and kept in `<data_dir>/keys.json`
(readable by its owner only), like the host's secrets store: URLs handed out in one run still
work after a restart. Other secrets of the host (the Easy Auth session key) are kept there too
(`kept_secret`). The keys are never printed.
"""

from __future__ import annotations

import enum
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DURABLETASK_SYSTEM_KEY",
    "KEYS_FILE",
    "AuthLevel",
    "HostKeys",
    "KeyCheck",
    "check_key",
    "kept_secret",
    "keys_from_env",
    "load_keys",
]

DURABLETASK_SYSTEM_KEY = "durabletask_extension"
"""The system key the Durable extension's webhooks accept (its name on Azure)."""
KEYS_FILE = "keys.json"
"""Where generated keys are kept, in devhost's data directory."""


class AuthLevel(enum.Enum):
    """The `authLevel` of an HTTP trigger (and `system` for extension webhooks)."""

    ANONYMOUS = "anonymous"
    FUNCTION = "function"
    ADMIN = "admin"
    SYSTEM = "system"

    @classmethod
    def of(cls, value: object) -> AuthLevel:
        """Parse a trigger's `authLevel` (case-insensitive; absent means `function`, as in the host)."""
        if value is None:
            return cls.FUNCTION
        text = str(getattr(value, "value", value)).lower()
        for level in cls:
            if level.value == text and level is not cls.SYSTEM:
                return level
        raise ValueError(f"unknown authLevel {value!r}")


@dataclass(frozen=True)
class HostKeys:
    """The keys accepted for this run."""

    master_key: str
    """Accepted everywhere."""
    function_keys: tuple[str, ...] = ()
    """Accepted for `function` routes."""
    generated_master: bool = False
    """True when `DEVHOST_MASTER_KEY` was unset and `master_key` was generated."""
    system_keys: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Extension system keys by name (`durabletask_extension`), accepted on that extension's webhooks."""

    @property
    def durabletask_key(self) -> str:
        """The Durable extension's system key (the master key when none was made)."""
        return self.system_keys.get(DURABLETASK_SYSTEM_KEY) or self.master_key


def keys_from_env(environ: Mapping[str, str] = os.environ) -> HostKeys:
    """Keys from `DEVHOST_MASTER_KEY` / `DEVHOST_FUNCTION_KEY` (empty counts as unset), the rest random."""
    master = environ.get("DEVHOST_MASTER_KEY") or ""
    function_key = environ.get("DEVHOST_FUNCTION_KEY") or ""
    return HostKeys(
        master_key=master or secrets.token_urlsafe(32),
        function_keys=(function_key,) if function_key else (),
        generated_master=not master,
        system_keys={DURABLETASK_SYSTEM_KEY: secrets.token_urlsafe(32)},
    )


def _read_kept(path: Path) -> dict[str, str]:
    """The secrets kept in `path` (`{}` when it is missing or unreadable)."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): v for k, v in loaded.items() if isinstance(v, str) and v} if isinstance(loaded, dict) else {}


def _write_kept(path: Path, secrets_by_name: Mapping[str, str]) -> None:
    """Replace `path` with `secrets_by_name`, readable by its owner only (written aside, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(dict(secrets_by_name), out, indent=2)
    os.replace(aside, path)


def load_keys(data_dir: Path, environ: Mapping[str, str] = os.environ) -> tuple[HostKeys, Path]:
    """The run's keys: the environment's, then those kept in `<data_dir>/keys.json`, else new ones (kept there)."""
    path = data_dir / KEYS_FILE
    kept = _read_kept(path)
    fresh = keys_from_env(environ)
    master_from_env = not fresh.generated_master
    master = fresh.master_key if master_from_env else kept.get("masterKey", fresh.master_key)
    system = kept.get(DURABLETASK_SYSTEM_KEY) or fresh.durabletask_key
    keys = HostKeys(
        master_key=master,
        function_keys=fresh.function_keys,
        generated_master=not master_from_env,
        system_keys={DURABLETASK_SYSTEM_KEY: system},
    )
    others = {name: value for name, value in kept.items() if name not in ("masterKey", DURABLETASK_SYSTEM_KEY)}
    wanted = {**others, DURABLETASK_SYSTEM_KEY: system, **({} if master_from_env else {"masterKey": master})}
    if wanted != kept:
        _write_kept(path, wanted)
    return keys, path


def kept_secret(data_dir: Path, name: str) -> str:
    """The host secret `name` from `<data_dir>/keys.json`, generated and kept there the first time it is asked for."""
    path = data_dir / KEYS_FILE
    kept = _read_kept(path)
    if name not in kept:
        kept[name] = secrets.token_urlsafe(32)
        _write_kept(path, kept)
    return kept[name]


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
    if level is AuthLevel.ADMIN:
        accepted = [keys.master_key]
    elif level is AuthLevel.SYSTEM:
        accepted = [keys.master_key, keys.durabletask_key]
    else:
        accepted = [keys.master_key, *keys.function_keys]
    # compare_digest on every candidate: no early exit that leaks which key matched.
    matched = [secrets.compare_digest(provided.encode(), key.encode()) for key in accepted]
    return KeyCheck.ALLOWED if any(matched) else KeyCheck.WRONG
