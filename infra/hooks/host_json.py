"""azd's package hooks: the deployed host.json names the Durable backend itself.

The scale controller reads the durable trigger's configuration from host.json on disk
(azure-functions-host `FunctionsSyncManager`; durable-extension issues #2622, #2803), not from
`AzureFunctionsJobHost__*` app settings, so with the Durable Task Scheduler an app whose
host.json still says Azure Storage may not wake from zero for timers or queued work. So at
package time, with `DURABLE_BACKEND=DurableTaskScheduler` in the azd environment (the infra's
`DURABLE_BACKEND` output puts it there), this writes the scheduler provider into host.json,
keeping the repository's copy beside it, and afterwards puts the repository's host.json back.

    python infra/hooks/host_json.py prepare [--root DIR]   # prepackage
    python infra/hooks/host_json.py restore [--root DIR]   # postpackage, predeploy, postprovision

The repository's host.json is never lost and never stays modified for long:

- `prepare` writes the backup (`host.json.repository`, never shipped: `.funcignore`) before it
  touches host.json, and replaces each file atomically (a temporary file renamed over it): at
  every moment either host.json or the backup is the repository's own;
- azd runs `postpackage` only when packaging succeeded, so a failed package leaves the prepared
  host.json behind: `restore` also runs on `predeploy` and `postprovision`, and every `prepare`
  first restores what an earlier run left, so the backup is always the repository's copy, never a
  prepared one (a backend switched between two runs cannot ship the other backend's host.json);
- `DURABLE_BACKEND` missing or unknown, or naming the scheduler when the last `azd provision` deployed
  none (`DURABLE_TASK_SCHEDULER_ENDPOINT` empty: host.json would name a scheduler the app has no
  connection to), stops the package with what to do: never silently the other backend.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BACKUP = "host.json.repository"
"""The repository's host.json while a prepared one is in its place."""
AZURE_STORAGE = "AzureStorage"
DTS = "DurableTaskScheduler"
BACKENDS = (AZURE_STORAGE, DTS)
"""`main.bicep`'s `durableBackend` @allowed values."""
CONNECTION = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
ENDPOINT = "DURABLE_TASK_SCHEDULER_ENDPOINT"
"""The infra's output: the scheduler's endpoint, empty when the last provision deployed Azure Storage."""


class Refused(Exception):
    """The hook will not package: the message says why and what to do."""


def for_backend(host: dict[str, Any], backend: str) -> dict[str, Any]:
    """host.json for `backend`: the scheduler (`azureManaged`, hub from `%TASKHUB_NAME%`) or host.json as it is."""
    if backend != DTS:
        return host
    durable = dict(host.get("extensions", {}).get("durableTask", {}))
    durable["hubName"] = "%TASKHUB_NAME%"
    durable["storageProvider"] = {"type": "azureManaged", "connectionStringName": CONNECTION}
    return {**host, "extensions": {**host.get("extensions", {}), "durableTask": durable}}


def backend_from(environ: Mapping[str, str]) -> str:
    """The backend the azd environment names (the scheduler only where the last provision deployed one); else
    Refused."""
    backend = environ.get("DURABLE_BACKEND", "").strip()
    if not backend:
        raise Refused(
            "DURABLE_BACKEND is not in the azd environment, so the backend this package's host.json must name is "
            "unknown. Run `azd provision` first (the infra's DURABLE_BACKEND output puts it there; `azd up` "
            f"provisions before it packages), or `azd env set DURABLE_BACKEND {AZURE_STORAGE}` "
            f"(or {DTS}) and then `azd provision`."
        )
    if backend not in BACKENDS:
        raise Refused(f"DURABLE_BACKEND={backend!r} is not one of {', '.join(BACKENDS)}: fix it with `azd env set`.")
    endpoint = environ.get(ENDPOINT)
    if backend == DTS and not (endpoint or "").strip():
        raise Refused(
            f"DURABLE_BACKEND={DTS} but the last provision deployed no scheduler ({ENDPOINT} is empty): "
            "run `azd provision` (or `azd up`) before packaging, or the app would name a scheduler it has no "
            "connection to."
        )
    # Not the other way round: an Azure Storage host.json works whatever else was provisioned, and a stale
    # endpoint left in the environment must not block it.
    return backend


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` through a temporary file renamed over it (no half-written host.json)."""
    temporary = path.with_name(f"{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _copy_atomically(source: Path, target: Path) -> None:
    temporary = target.with_name(f"{target.name}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def restore(root: Path) -> bool:
    """Put the repository's host.json back if a prepared one is in its place; whether there was one."""
    backup = root / BACKUP
    for stale in (root / "host.json.tmp", root / f"{BACKUP}.tmp"):
        stale.unlink(missing_ok=True)  # left by a run killed mid-write; host.json or the backup is whole
    if not backup.exists():
        return False
    os.replace(backup, root / "host.json")
    return True


def prepare(root: Path, backend: str) -> bool:
    """Write host.json for `backend` (the repository's copy kept as `host.json.repository`); whether it changed.

    An earlier run's prepared host.json is first put back, so it is the repository's copy that is prepared
    and kept."""
    restore(root)
    path = root / "host.json"
    host = json.loads(path.read_text(encoding="utf-8"))
    wanted = for_backend(host, backend)
    if wanted == host:
        return False
    _copy_atomically(path, root / BACKUP)
    _write_atomically(path, json.dumps(wanted, indent=2) + "\n")
    return True


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="host_json.py")
    parser.add_argument("action", choices=["prepare", "restore"])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args(argv)
    if args.action == "restore":
        if restore(args.root):
            print("host.json: the repository's copy is back")
        return 0
    try:
        backend = backend_from(os.environ if environ is None else environ)
    except Refused as refused:
        restore(args.root)
        print(f"host.json hook: {refused}", file=sys.stderr)
        return 1
    changed = prepare(args.root, backend)
    print(f"host.json for the {backend} backend" + ("" if changed else " (as in the repository)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
