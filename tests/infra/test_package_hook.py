"""azd's package hook (infra/hooks/host_json.py) and what the package holds (.funcignore).

The hook rewrites host.json in place for the Durable Task Scheduler; these tests hold it to never leaving the
repository's host.json modified or lost (a failed package, a run killed mid-write, a backend switched between
runs), to refusing when the azd environment does not say the backend, and azure.yaml to running it where azd
needs it. The hook runs for real: on a copy of the repository's host.json, as a module and as the command azd
runs.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.infra.bicep_model import INFRA, REPO, template

HOOK = INFRA / "hooks" / "host_json.py"
DTS = "DurableTaskScheduler"
ENDPOINT = "DURABLE_TASK_SCHEDULER_ENDPOINT"
PROVISIONED_DTS = {"DURABLE_BACKEND": DTS, ENDPOINT: "https://dts-x.westus2.durabletask.io"}
PROVISIONED_STORAGE = {"DURABLE_BACKEND": "AzureStorage", ENDPOINT: ""}


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("host_json_hook", HOOK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _hook()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A folder holding a copy of the repository's host.json (the hook's --root)."""
    (tmp_path / "host.json").write_bytes((REPO / "host.json").read_bytes())
    return tmp_path


def original() -> bytes:
    return (REPO / "host.json").read_bytes()


def provider(root: Path) -> dict[str, Any]:
    return json.loads((root / "host.json").read_text(encoding="utf-8"))["extensions"]["durableTask"].get(
        "storageProvider", {}
    )


def run_hook(root: Path, action: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command azd runs (`python infra/hooks/host_json.py <action>`), with `env` as the azd environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_")}
    return subprocess.run(
        [sys.executable, str(HOOK), action, "--root", str(root)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prepare_keeps_the_repository_copy_and_restore_puts_it_back(root: Path) -> None:
    """DTS: host.json names the scheduler, the repository's bytes wait beside it; restore brings them back."""
    assert hook.prepare(root, DTS) is True
    assert provider(root)["type"] == "azureManaged"
    assert (root / hook.BACKUP).read_bytes() == original()
    assert hook.restore(root) is True
    assert (root / "host.json").read_bytes() == original()
    assert not (root / hook.BACKUP).exists()
    assert hook.restore(root) is False, "nothing left to restore"


@pytest.mark.parametrize(
    ("next_step", "env"),
    [
        ("prepare", PROVISIONED_STORAGE),  # the next package, after switching back to Azure Storage
        ("prepare", PROVISIONED_DTS),  # the next package, same backend
        ("restore", {}),  # predeploy / postprovision
    ],
)
def test_a_failed_package_is_undone_by_the_next_hook(root: Path, next_step: str, env: dict[str, str]) -> None:
    """prepare ran, packaging failed (azd skips postpackage): whatever hook runs next puts the repository's
    host.json back first, so the backup is never a prepared copy and Azure Storage never ships the scheduler."""
    assert run_hook(root, "prepare", PROVISIONED_DTS).returncode == 0
    assert provider(root)["type"] == "azureManaged"  # ... and no postpackage

    result = run_hook(root, next_step, env)
    assert result.returncode == 0, result.stderr
    if env.get("DURABLE_BACKEND") == DTS:
        assert provider(root)["type"] == "azureManaged"
        assert (root / hook.BACKUP).read_bytes() == original(), "the backup is the repository's copy"
        assert run_hook(root, "restore", {}).returncode == 0
    assert (root / "host.json").read_bytes() == original()
    assert not (root / hook.BACKUP).exists()


def test_a_run_killed_mid_write_leaves_a_state_restore_recovers(root: Path) -> None:
    """Killed while writing the backup, or after it while writing host.json: either way one of the two files is
    the repository's, and restore leaves exactly it, with no temporary file behind."""
    (root / f"{hook.BACKUP}.tmp").write_text('{"version": "2.', encoding="utf-8")  # backup half-written
    assert hook.restore(root) is False
    assert (root / "host.json").read_bytes() == original()
    assert sorted(p.name for p in root.iterdir()) == ["host.json"]

    (root / hook.BACKUP).write_bytes(original())  # backup done ...
    (root / "host.json.tmp").write_text('{"version": "2.0", "ext', encoding="utf-8")  # ... host.json half-written
    assert hook.restore(root) is True
    assert (root / "host.json").read_bytes() == original()
    assert sorted(p.name for p in root.iterdir()) == ["host.json"]


def test_without_durable_backend_the_package_stops_and_host_json_stays(root: Path) -> None:
    """No DURABLE_BACKEND in the azd environment: exit 1 with what to do; host.json not touched (and a prepared
    copy an earlier failed package left is put back), never a guess of the backend."""
    hook.prepare(root, DTS)  # an earlier failed package's leftover
    result = run_hook(root, "prepare", {})
    assert result.returncode == 1
    assert "DURABLE_BACKEND is not in the azd environment" in result.stderr and "azd provision" in result.stderr
    assert (root / "host.json").read_bytes() == original()
    assert not (root / hook.BACKUP).exists()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"DURABLE_BACKEND": "Cosmos"}, "is not one of AzureStorage, DurableTaskScheduler"),
        ({"DURABLE_BACKEND": DTS}, "deployed no scheduler"),  # set with `azd env set`, never provisioned
        ({"DURABLE_BACKEND": DTS, ENDPOINT: ""}, "deployed no scheduler"),
    ],
)
def test_a_backend_the_last_provision_did_not_deploy_is_refused(root: Path, env: dict[str, str], says: str) -> None:
    """An unknown backend, or the scheduler where the last provision deployed none (host.json would name a
    scheduler the app has no connection to): refused with the reason, host.json as in the repository."""
    result = run_hook(root, "prepare", env)
    assert result.returncode == 1 and says in result.stderr, result.stderr
    assert (root / "host.json").read_bytes() == original()


@pytest.mark.parametrize(
    ("env", "scheduler"),
    [
        (PROVISIONED_STORAGE, False),
        ({"DURABLE_BACKEND": "AzureStorage"}, False),  # set before the first provision
        ({"DURABLE_BACKEND": "AzureStorage", ENDPOINT: "https://dts-x.durabletask.io"}, False),  # a stale endpoint
        (PROVISIONED_DTS, True),
    ],
)
def test_a_provisioned_backend_is_packaged(root: Path, env: dict[str, str], scheduler: bool) -> None:
    """What the provision deployed is what host.json names."""
    result = run_hook(root, "prepare", env)
    assert result.returncode == 0, result.stderr
    assert (provider(root).get("type") == "azureManaged") is scheduler
    assert ((root / "host.json").read_bytes() == original()) is not scheduler


def test_the_hook_knows_the_infras_backends_and_reads_its_outputs() -> None:
    """The values the hook accepts are main.bicep's @allowed durableBackend, and main.bicep outputs both
    variables the hook reads (azd keeps outputs in the environment it gives hooks)."""
    main = template(INFRA / "main.bicep")
    (allowed,) = [d["argument"] for d in main.parameters["durableBackend"]["decorators"] if d["type"] == "allowed"]
    assert set(hook.BACKENDS) == set(allowed)
    assert str(main.outputs["DURABLE_BACKEND"]["value"]) == "durableBackend"
    assert ENDPOINT in main.outputs


def _commands(hooks: dict[str, Any], event: str) -> set[str]:
    return {spec["run"] for spec in hooks[event].values()}


def test_azure_yaml_runs_the_hook_where_azd_needs_it() -> None:
    """prepackage prepares; postpackage, predeploy and postprovision restore (posix and Windows); `azd up`
    provisions before it packages, so DURABLE_BACKEND is in the environment when prepackage runs."""
    config = yaml.safe_load((REPO / "azure.yaml").read_text(encoding="utf-8"))
    service = config["services"]["api"]["hooks"]
    assert _commands(service, "prepackage") == {
        "python3 infra/hooks/host_json.py prepare",
        "python infra/hooks/host_json.py prepare",
    }
    restore = {"python3 infra/hooks/host_json.py restore", "python infra/hooks/host_json.py restore"}
    for event in ("postpackage", "predeploy"):
        assert _commands(service, event) == restore, event
    assert _commands(config["hooks"], "postprovision") == restore
    steps = [step["azd"].split()[0] for step in config["workflows"]["up"]["steps"]]
    assert steps.index("provision") < steps.index("package") < steps.index("deploy")


def test_the_repository_host_json_is_not_a_prepared_copy() -> None:
    """No backup beside it (a failed package here left one: `python infra/hooks/host_json.py restore`), and it
    names no scheduler."""
    assert not (REPO / hook.BACKUP).exists(), "run: python infra/hooks/host_json.py restore"
    assert json.loads(original())["extensions"]["durableTask"]["storageProvider"].get("type") is None


# .funcignore ----------------------------------------------------------------------------------------------------

CREATED_AT_RUN_TIME = {
    ".azure/": "azd's environments (`azd init`, `azd env new`): there before any package",
    ".azurite/": "Azurite's data (`make run`, devhost --azurite)",
    ".devhost/": "devhost's default data directory",
    ".test-output/": "the UI tests' screenshots",
    "host.json.repository": "this hook, while a prepared host.json is in place",
    "__pycache__/": "Python's bytecode cache",
    ".pytest_cache/": "pytest's cache (`make test`)",
    ".ruff_cache/": "ruff's cache (`make test`)",
}
"""Patterns for paths the project's tools create, so a fresh clone's tree does not hold them."""
MUST_NOT_SHIP = ("devhost/", "tests/", "bench/", "infra/", "local.settings.json", "host.json.repository")
MUST_SHIP = ("function_app.py", "host.json", "requirements.txt", "openapi.json", "web/index.html")


def funcignore() -> list[str]:
    lines = (REPO / ".funcignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def tree() -> list[str]:
    """The repository's tracked files and every entry of its top folder."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    return tracked + [p.name + ("/" if p.is_dir() else "") for p in REPO.iterdir()]


def matches(pattern: str, path: str) -> bool:
    """gitignore-style, for the shapes .funcignore uses: `dir/`, `name`, globs, at the top or any depth."""
    parts = path.rstrip("/").split("/")
    if pattern.endswith("/"):
        folders = parts[:-1] + ([parts[-1]] if path.endswith("/") else [])
        return any(fnmatch.fnmatch(folder, pattern[:-1]) for folder in folders)
    if "/" in pattern:
        return fnmatch.fnmatch(path.rstrip("/"), pattern)
    return any(fnmatch.fnmatch(part, pattern) for part in parts)


def test_every_funcignore_pattern_matches_something() -> None:
    """Each pattern matches a path of the tree, or a path the project's own tools create (listed with who);
    a pattern matching neither is dead and goes."""
    paths = tree()
    dead = [p for p in funcignore() if p not in CREATED_AT_RUN_TIME and not any(matches(p, path) for path in paths)]
    assert not dead, f"{dead} match nothing in the tree"
    assert set(CREATED_AT_RUN_TIME) <= set(funcignore()), "a run-time entry no longer in .funcignore"


def test_the_package_leaves_out_the_host_tests_infra_and_the_hooks_backup() -> None:
    """devhost, tests, benchmarks, infra, local settings and the hook's backup never ship; the app does."""
    patterns = funcignore()
    for path in MUST_NOT_SHIP:
        assert any(matches(p, path) for p in patterns), path
    for path in MUST_SHIP:
        assert not any(matches(p, path) for p in patterns), path
    assert all(not any(matches(p, path) for p in patterns) for path in tree() if path.startswith("assistant/"))
