"""azd's prepackage/postpackage hook: the deployed host.json names the Durable backend itself.

The scale controller reads the durable trigger's configuration from host.json on disk
(azure-functions-host `FunctionsSyncManager`; durable-extension issues #2622, #2803), not from
`AzureFunctionsJobHost__*` app settings, so with the Durable Task Scheduler an app whose
host.json still says Azure Storage may not wake from zero for timers or queued work. So at
package time (`azd up`/`azd deploy`), with `DURABLE_BACKEND=DurableTaskScheduler` in the azd
environment, this writes the scheduler provider into host.json (keeping the repository's copy
aside), and after packaging puts the repository's host.json back.

    python infra/hooks/host_json.py prepare [--root DIR]    # prepackage
    python infra/hooks/host_json.py restore [--root DIR]    # postpackage
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

BACKUP = "host.json.repository"
DTS = "DurableTaskScheduler"
CONNECTION = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"


def for_backend(host: dict[str, Any], backend: str) -> dict[str, Any]:
    """host.json for `backend`: the scheduler (`azureManaged`, hub from `%TASKHUB_NAME%`) or host.json as it is."""
    if backend != DTS:
        return host
    durable = dict(host.get("extensions", {}).get("durableTask", {}))
    durable["hubName"] = "%TASKHUB_NAME%"
    durable["storageProvider"] = {"type": "azureManaged", "connectionStringName": CONNECTION}
    return {**host, "extensions": {**host.get("extensions", {}), "durableTask": durable}}


def prepare(root: Path, backend: str) -> bool:
    """Write host.json for `backend` (the repository's copy kept as `host.json.repository`); whether it changed."""
    path = root / "host.json"
    host = json.loads(path.read_text(encoding="utf-8"))
    wanted = for_backend(host, backend)
    if wanted == host:
        return False
    shutil.copyfile(path, root / BACKUP)
    path.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")
    return True


def restore(root: Path) -> bool:
    """Put the repository's host.json back after packaging; whether there was one to restore."""
    backup = root / BACKUP
    if not backup.exists():
        return False
    shutil.move(backup, root / "host.json")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="host_json.py")
    parser.add_argument("action", choices=["prepare", "restore"])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args(argv)
    if args.action == "prepare":
        backend = os.environ.get("DURABLE_BACKEND", "").strip() or "AzureStorage"
        changed = prepare(args.root, backend)
        print(f"host.json for the {backend} backend" + ("" if changed else " (as in the repository)"))
    else:
        restore(args.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
