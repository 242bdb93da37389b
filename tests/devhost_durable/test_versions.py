"""Orchestration versioning: `defaultVersion`, `start_new(version=)`, sub-orchestration versions, `context.version`,
the match and failure strategies, and versions kept across restarts (a real devhost serving the versioning app)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.durable.versions import VersionPolicy, compare_versions, version_policy
from tests.support.devhost import REPO_ROOT, DevhostProcess, start_devhost

APP = REPO_ROOT / "tests" / "devhost_durable" / "apps" / "versioning"


@pytest.mark.parametrize(
    ("a", "b", "order"),
    [
        ("", "", 0),
        (None, "1.0", -1),
        ("1.0", "", 1),
        ("1.0", "1.0", 0),
        ("0.9", "1.0", -1),
        ("1.10", "1.9", 1),
        ("1.0", "1.0.0", -1),
        ("2.0.0.1", "2.0.0", 1),
        ("1", "2", -1),
        ("v1.0-release", "V1.0-RELEASE", 0),
        ("2025-01-01", "2024-12-31", 1),
        ("10", "9", -1),  # "10" is not a System.Version: compared as text
    ],
)
def test_versions_compare_as_the_extension_compares_them(a: str | None, b: str, order: int) -> None:
    assert compare_versions(a, b) == order


def test_policy_from_host_json_and_what_it_refuses() -> None:
    """CurrentOrOlder (the default) refuses newer versions, Strict any other, None nothing; bad values are errors."""
    policy = version_policy({"DefaultVersion": "1.0"})
    assert policy == VersionPolicy("1.0", "CurrentOrOlder", "Reject")
    assert policy.refusal("0.9") is None and policy.refusal("") is None and "newer" in (policy.refusal("2.0") or "")
    strict = version_policy(
        {"defaultVersion": "1.0", "versionMatchStrategy": "strict", "versionFailureStrategy": "FAIL"}
    )
    assert strict.failure == "Fail" and strict.refusal("0.9") and strict.refusal("1.0") is None
    assert version_policy({"defaultVersion": "1.0", "versionMatchStrategy": "None"}).refusal("9.0") is None
    assert version_policy(None).refusal("5.0") is None  # no defaultVersion: everything runs
    with pytest.raises(ValueError, match="versionMatchStrategy must be"):
        version_policy({"versionMatchStrategy": "Newest"})


def serve(tmp_path: Path, env: dict[str, str] | None = None, name: str = "app") -> DevhostProcess:
    app = tmp_path / name
    if not app.exists():
        shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", ".devhost"))
    return start_devhost(app, data_dir=tmp_path / "data", env=env)


def start(host: DevhostProcess, version: str | None = None, wait: bool = False) -> dict[str, Any]:
    params = {"version": version} if version is not None else {}
    response = httpx.post(
        f"{host.base_url}/api/start/versioned",
        params=params,
        content=b'"wait"' if wait else b"",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()


def status_of(
    host: DevhostProcess, payload: dict[str, Any], until: tuple[str, ...], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(f"{host.base_url}/runtime/webhooks/durabletask/instances/{payload['id']}", timeout=10).json()
        if status["runtimeStatus"] in until:
            return status
        time.sleep(0.05)
    raise AssertionError(f"{payload['id']} never reached {until}: {status}")


def test_the_sdk_versioning_flow(tmp_path: Path) -> None:
    """Default version 1.0 from host.json; an explicit older version; sub-orchestrations at the default and at 0.9."""
    with serve(tmp_path) as host:
        default = status_of(host, start(host), ("Completed", "Failed"))
        assert default["output"] == {"version": "1.0", "path": "old path", "defaultChild": "1.0", "pinnedChild": "0.9"}
        older = status_of(host, start(host, "0.5"), ("Completed", "Failed"))
        assert older["output"]["version"] == "0.5" and older["output"]["defaultChild"] == "1.0"


def test_a_newer_version_waits_for_a_host_of_its_version_and_keeps_it(tmp_path: Path) -> None:
    """CurrentOrOlder + Reject: a 2.0 instance on a 1.0 host is not run; restarted as a 2.0 host (the
    AzureFunctionsJobHost__ override), it runs as 2.0; a 1.0 instance waiting across the restart keeps 1.0."""
    host = serve(tmp_path)
    try:
        newer = start(host, "2.0")
        waiting = start(host, wait=True)
        status_of(host, waiting, ("Running",))
        time.sleep(0.5)
        assert status_of(host, newer, ("Pending", "Running"))["runtimeStatus"] == "Pending"
        assert "is newer than this host's version '1.0'" in host.log_text()
        host.stop()
        upgraded = serve(tmp_path, {"AzureFunctionsJobHost__extensions__durableTask__defaultVersion": "2.0"})
        with upgraded:
            done = status_of(upgraded, newer, ("Completed", "Failed"))
            assert done["output"] == {"version": "2.0", "path": "new path", "defaultChild": "2.0", "pinnedChild": "0.9"}
            raised = httpx.post(
                f"{upgraded.base_url}/runtime/webhooks/durabletask/instances/{waiting['id']}/raiseEvent/go",
                json=True,
                timeout=10,
            )
            assert raised.status_code == 202
            kept = status_of(upgraded, waiting, ("Completed", "Failed"))
            assert kept["output"]["version"] == "1.0" and kept["output"]["path"] == "old path"
            assert kept["output"]["defaultChild"] == "2.0"  # a child started now gets the host's default
    finally:
        host.stop()


def test_strict_with_fail_fails_an_instance_of_another_version(tmp_path: Path) -> None:
    """Strict + Fail: an instance whose version is not the host's fails, saying why."""
    env = {
        "AzureFunctionsJobHost__extensions__durableTask__versionMatchStrategy": "Strict",
        "AzureFunctionsJobHost__extensions__durableTask__versionFailureStrategy": "Fail",
    }
    with serve(tmp_path, env) as host:
        failed = status_of(host, start(host, "0.9"), ("Completed", "Failed"))
        assert failed["runtimeStatus"] == "Failed"
        assert "does not match this host's version '1.0'" in json.dumps(failed["output"])
        assert status_of(host, start(host), ("Completed", "Failed"))["runtimeStatus"] == "Failed"  # its 0.9 child fails
