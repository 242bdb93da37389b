"""Orchestration versioning as the Durable extension documents it (`extensions.durableTask` in host.json).

- `defaultVersion`: the version of a new instance started without one (by a client or as a sub-orchestration).
  An instance keeps the version it started with (its `ExecutionStarted` event carries it; `context.version` reads it).
- `versionMatchStrategy`: which instances this host runs: `None` (all), `Strict` (only `defaultVersion`),
  `CurrentOrOlder` (the default: up to `defaultVersion`).
- `versionFailureStrategy`: what happens to one it may not run: `Reject` (the default: it is left waiting, for a
  host whose version fits) or `Fail` (it fails, saying why).

Versions compare as the extension compares them: two empty ones are equal, an empty one is older than any
other, two that parse as .NET's `System.Version` (2 to 4 numeric parts) compare part by part, anything else
compares as case-insensitive text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["VersionPolicy", "compare_versions", "version_policy"]

_DOTNET_VERSION = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$")
_STRATEGIES = {"none": "None", "strict": "Strict", "currentorolder": "CurrentOrOlder"}
_FAILURES = {"reject": "Reject", "fail": "Fail"}


def _parts(version: str) -> tuple[int, ...] | None:
    match = _DOTNET_VERSION.match(version)
    if match is None:
        return None
    # An absent part is -1 in System.Version, so 1.0 < 1.0.0.
    return tuple(int(p) if p is not None else -1 for p in match.groups())


def compare_versions(a: str | None, b: str | None) -> int:
    """-1, 0 or 1 as `a` is older than, the same as or newer than `b`."""
    a, b = a or "", b or ""
    if not a or not b:
        return (a != "") - (b != "")
    pa, pb = _parts(a), _parts(b)
    if pa is not None and pb is not None:
        return (pa > pb) - (pa < pb)
    la, lb = a.lower(), b.lower()
    return (la > lb) - (la < lb)


@dataclass(frozen=True)
class VersionPolicy:
    """This host's versioning settings."""

    default_version: str = ""
    match: str = "CurrentOrOlder"
    failure: str = "Reject"

    def refusal(self, version: str | None) -> str | None:
        """Why this host may not run an instance of `version` (None: it may)."""
        if self.match == "None" or not self.default_version:
            return None
        order = compare_versions(version, self.default_version)
        if self.match == "Strict" and order != 0:
            return (
                f"The orchestration version '{version or ''}' does not match this host's version "
                f"'{self.default_version}' (versionMatchStrategy Strict)."
            )
        if self.match == "CurrentOrOlder" and order > 0:
            return (
                f"The orchestration version '{version}' is newer than this host's version "
                f"'{self.default_version}' (versionMatchStrategy CurrentOrOlder)."
            )
        return None


def version_policy(durable_task: Mapping[str, Any] | None) -> VersionPolicy:
    """The policy of host.json's `extensions.durableTask` section (keys and values case-insensitive)."""
    section = {str(k).lower(): v for k, v in (durable_task or {}).items()} if isinstance(durable_task, Mapping) else {}
    match = str(section.get("versionmatchstrategy") or "CurrentOrOlder")
    failure = str(section.get("versionfailurestrategy") or "Reject")
    if match.lower() not in _STRATEGIES:
        raise ValueError(
            "host.json extensions.durableTask.versionMatchStrategy must be None, Strict or CurrentOrOlder, "
            f"not {match!r}"
        )
    if failure.lower() not in _FAILURES:
        raise ValueError(
            f"host.json extensions.durableTask.versionFailureStrategy must be Reject or Fail, not {failure!r}"
        )
    return VersionPolicy(
        str(section.get("defaultversion") or ""), _STRATEGIES[match.lower()], _FAILURES[failure.lower()]
    )
