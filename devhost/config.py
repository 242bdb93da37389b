"""Host configuration: `host.json`, `local.settings.json` and the command line, as one `HostConfig`.

Files are read lazily through small cached functions (`clear_caches()` resets them for
tests), never at import time. `local.settings.json` `Values` go into `os.environ` with real
environment variables winning, as Core Tools does; `%SETTING%` references in `host.json`
values that the host resolves (the durable hub name) are resolved from the environment.
Settings named `AzureFunctionsJobHost__<path>` (from the environment or `local.settings.json`)
override `host.json` at that path, as the host's configuration does (`apply_host_overrides`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.keys import HostKeys

__all__ = [
    "DEFAULT_HUB_NAME",
    "DEFAULT_PORT",
    "DEFAULT_ROUTE_PREFIX",
    "HOST_OVERRIDE_PREFIX",
    "ConfigError",
    "HostConfig",
    "apply_host_overrides",
    "apply_local_settings",
    "build_config",
    "clear_caches",
    "effective_host_json",
    "ensure_local_settings",
    "read_host_json",
    "read_local_settings",
    "resolve_setting_refs",
    "website_auth_enabled",
]

DEFAULT_ROUTE_PREFIX = "api"
DEFAULT_HUB_NAME = "TestHubName"
DEFAULT_PORT = 7071
_SETTING_REF = re.compile(r"%([^%]+)%")
log = logging.getLogger("devhost")
HOST_OVERRIDE_PREFIX = "AzureFunctionsJobHost__"


class ConfigError(Exception):
    """`host.json` or `local.settings.json` is present but unusable; the message says why."""


@dataclass(frozen=True)
class HostConfig:
    """Everything the host and its extensions need to know about this run."""

    script_root: Path
    """The app folder (holds `function_app.py`, `host.json`)."""
    host: str
    """The interface to listen on, e.g. `127.0.0.1`."""
    port: int
    """The TCP port to listen on."""
    data_dir: Path
    """Where devhost and its extensions keep local state (default `<script_root>/.devhost`)."""
    route_prefix: str
    """`extensions.http.routePrefix` (default `api`; may be empty)."""
    hub_name: str
    """`extensions.durableTask.hubName` with `%SETTING%` resolved (default `TestHubName`)."""
    require_keys: bool = False
    """Whether `function`/`admin` auth levels are enforced."""
    host_json: dict[str, Any] = field(default_factory=dict, compare=False)
    """The effective `host.json`: the file's contents with the `AzureFunctionsJobHost__*` overrides applied."""
    cors_origins: tuple[str, ...] = ()
    """`local.settings.json` `Host.CORS` (comma-separated origins, `*` for any), as Core Tools reads it."""
    cors_credentials: bool = False
    """`local.settings.json` `Host.CORSCredentials`."""
    easy_auth: bool = False
    """The setting `WEBSITE_AUTH_ENABLED` is true: devhost emulates App Service Authentication (`devhost.easyauth`)."""
    keys: HostKeys | None = field(default=None, compare=False, repr=False)
    """The run's keys (set by the CLI before extensions are built; enforced only with `require_keys`)."""

    @property
    def base_url(self) -> str:
        """devhost's own local address, e.g. `http://127.0.0.1:7071`: where its internal calls go (the durable
        client's URLs, the worker's management calls) and what its start-up listing prints. Listening on every
        interface (`0.0.0.0`, `::`), it is a loopback address of the same port. Never taken from a request."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1", "[::]": "::1"}.get(self.host, self.host)
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"http://{host}:{self.port}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return data


@functools.lru_cache(maxsize=8)
def read_host_json(script_root: Path) -> dict[str, Any]:
    """`<script_root>/host.json` as a dict (`{}` when absent)."""
    path = script_root / "host.json"
    return _read_json(path) if path.is_file() else {}


@functools.lru_cache(maxsize=8)
def read_local_settings(script_root: Path) -> dict[str, Any]:
    """`<script_root>/local.settings.json` as a dict (`{}` when absent)."""
    path = script_root / "local.settings.json"
    return _read_json(path) if path.is_file() else {}


def _set_path(node: Any, path: list[str], value: str) -> Any:
    """`node` with `value` at `path`; keys match case-insensitively (the first match keeps its spelling), list items
    by index, missing objects are created."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(node, list) and key.isdigit():
        index = int(key)
        items = list(node) + [None] * max(index + 1 - len(node), 0)
        items[index] = _set_path(items[index], rest, value)
        return items
    mapping = dict(node) if isinstance(node, Mapping) else {}
    existing = next((k for k in mapping if k.lower() == key.lower()), key)
    mapping[existing] = _set_path(mapping.get(existing), rest, value)
    return mapping


def apply_host_overrides(host_json: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """`host_json` with every `AzureFunctionsJobHost__a__b__c` setting written at `a.b.c` (case-insensitive,
    sorted by name so the result does not depend on the environment's order). Values stay text, as in the host's
    configuration; readers convert them."""
    result: dict[str, Any] = json.loads(json.dumps(host_json))
    prefix = HOST_OVERRIDE_PREFIX.lower()
    for name in sorted(environ):
        if name.lower().startswith(prefix) and len(name) > len(prefix):
            path = [part for part in name[len(prefix) :].split("__") if part]
            if path:
                result = _set_path(result, path, environ[name])
    return result


def effective_host_json(script_root: Path, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """`host.json` as the host applies it: the file, then the `AzureFunctionsJobHost__*` overrides."""
    return apply_host_overrides(read_host_json(script_root), environ)


def clear_caches() -> None:
    """Forget cached file contents (tests change files between reads)."""
    read_host_json.cache_clear()
    read_local_settings.cache_clear()


def ensure_local_settings(script_root: Path) -> Path | None:
    """Copy `local.settings.example.json` to `local.settings.json` if only the example exists."""
    target = script_root / "local.settings.json"
    example = script_root / "local.settings.example.json"
    if target.exists() or not example.is_file():
        return None
    shutil.copyfile(example, target)
    read_local_settings.cache_clear()
    return target


def _setting_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if value is None:
        return ""
    raise ConfigError(f"local.settings.json Values.{name} must be a string, not {type(value).__name__}")


def apply_local_settings(script_root: Path, environ: os._Environ[str] | dict[str, str] = os.environ) -> dict[str, str]:
    """Put `local.settings.json` `Values` into `environ` (existing variables win); returns what was set."""
    values = read_local_settings(script_root).get("Values") or {}
    if not isinstance(values, Mapping):
        raise ConfigError("local.settings.json `Values` must be an object of strings")
    applied: dict[str, str] = {}
    for name, value in values.items():
        text = _setting_text(str(name), value)
        if name not in environ:
            environ[str(name)] = text
            applied[str(name)] = text
    return applied


def resolve_setting_refs(value: str, environ: Mapping[str, str] = os.environ) -> str:
    """Replace each `%NAME%` with the setting `NAME`; unknown settings are a ConfigError."""

    def lookup(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in environ:
            raise ConfigError(f"host.json refers to app setting %{name}%, which is not set")
        return environ[name]

    return _SETTING_REF.sub(lookup, value)


def website_auth_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the setting `WEBSITE_AUTH_ENABLED` is `true` (any case), as App Service sets it when its
    authentication is on."""
    return environ.get("WEBSITE_AUTH_ENABLED", "").strip().lower() == "true"


def _nested(data: Mapping[str, Any], *keys: str) -> Any:
    current: Any = data
    for key in keys:
        if not isinstance(current, Mapping):
            return None
        # host.json keys are case-insensitive in the host.
        current = next((v for k, v in current.items() if k.lower() == key.lower()), None)
    return current


def build_config(
    script_root: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    data_dir: Path | None = None,
    require_keys: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> HostConfig:
    """The run's HostConfig from `host.json`, settings (already applied to `environ`) and flags."""
    script_root = script_root.resolve()
    host_json = effective_host_json(script_root, environ)
    prefix = _nested(host_json, "extensions", "http", "routePrefix")
    if prefix is not None and not isinstance(prefix, str):
        raise ConfigError("host.json extensions.http.routePrefix must be a string")
    hub = _nested(host_json, "extensions", "durableTask", "hubName")
    if hub is not None and not isinstance(hub, str):
        raise ConfigError("host.json extensions.durableTask.hubName must be a string")
    hub_name = DEFAULT_HUB_NAME
    if hub:
        try:
            hub_name = resolve_setting_refs(hub, environ)
        except ConfigError as error:
            # The extension resolves the hub name only when it can (`TryResolveWholeString`) and otherwise keeps it.
            log.warning("%s; the durable extension keeps the name as written (%r), and so does devhost", error, hub)
            hub_name = hub
    local_settings = read_local_settings(script_root)
    cors = _nested(local_settings, "Host", "CORS")
    if port is None:
        local_port = _nested(local_settings, "Host", "LocalHttpPort")
        port = int(local_port) if isinstance(local_port, (int, str)) and str(local_port).isdigit() else DEFAULT_PORT
    return HostConfig(
        script_root=script_root,
        host=host,
        port=port,
        data_dir=(data_dir or script_root / ".devhost").resolve(),
        route_prefix=(DEFAULT_ROUTE_PREFIX if prefix is None else prefix).strip("/"),
        hub_name=hub_name or DEFAULT_HUB_NAME,
        require_keys=require_keys,
        host_json=host_json,
        cors_origins=tuple(o.strip() for o in str(cors or "").split(",") if o.strip()),
        cors_credentials=_nested(local_settings, "Host", "CORSCredentials") is True,
        easy_auth=website_auth_enabled(environ),
    )
