"""`devhost start --azurite`: run Azurite (the Azure Storage emulator) beside the host.

Azurite comes from `<script_root>/node_modules/.bin/azurite` (installed by `npm install`),
listens on loopback on its default ports (blob 10000, queue 10001, table 10002, which is what
`UseDevelopmentStorage=true` points at) with data under `<script_root>/.azurite/` and
telemetry off. devhost stops it by PID when it exits. If Azurite is already listening on
all three ports it is reused and left running.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devhost.processes import die_with_parent, stop_process

__all__ = [
    "AZURITE_PORTS",
    "AzuriteProcess",
    "AzuriteUnavailable",
    "azurite_argv",
    "find_azurite",
    "start_local_azurite",
]

AZURITE_PORTS = {"blob": 10000, "queue": 10001, "table": 10002}
"""Azurite's default ports, the ones `UseDevelopmentStorage=true` means."""
_START_TIMEOUT = 30.0


class AzuriteUnavailable(RuntimeError):
    """Azurite cannot be started; the message says what to do."""


@dataclass
class AzuriteProcess:
    """Azurite as devhost runs it (or found it running)."""

    location: Path
    """Its data folder."""
    process: subprocess.Popen[bytes] | None
    """The process devhost started, or None when an already running Azurite is reused."""

    def stop(self) -> None:
        """SIGTERM by PID and wait (SIGKILL after 10 s); nothing if devhost did not start it."""
        if self.process is not None:
            stop_process(self.process, 10)


def find_azurite(script_root: Path) -> tuple[str, Path]:
    """`node` and `<script_root>/node_modules/.bin/azurite`, or AzuriteUnavailable saying how to get them."""
    node = shutil.which("node")
    script = script_root / "node_modules" / ".bin" / "azurite"
    if node is None:
        raise AzuriteUnavailable("Node.js is not installed; Azurite needs Node.js 18+ (or run without --azurite)")
    if not script.exists():
        raise AzuriteUnavailable(
            f"{script} is missing: run `npm install --no-audit --no-fund` in {script_root} (`make run` does it)"
        )
    return node, script


def azurite_argv(node: str, script: Path, location: Path, ports: Mapping[str, int]) -> list[str]:
    """The command line running Azurite on loopback `ports` (`blob`, `queue`, `table`), data in `location`, telemetry
    off."""
    return [
        node,
        str(script),
        "--silent",
        "--location",
        str(location),
        "--blobHost",
        "127.0.0.1",
        "--queueHost",
        "127.0.0.1",
        "--tableHost",
        "127.0.0.1",
        "--blobPort",
        str(ports["blob"]),
        "--queuePort",
        str(ports["queue"]),
        "--tablePort",
        str(ports["table"]),
        "--disableTelemetry",
        "--skipApiVersionCheck",
    ]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def start_local_azurite(
    script_root: Path,
    *,
    ports: Mapping[str, int] = AZURITE_PORTS,
    timeout: float = _START_TIMEOUT,
) -> AzuriteProcess:
    """Start Azurite for `script_root` and wait until its three ports (`blob`, `queue`, `table`) accept."""
    location = script_root / ".azurite"
    busy = [name for name, port in ports.items() if _listening(port)]
    if len(busy) == len(ports):
        return AzuriteProcess(location=location, process=None)
    if busy:
        taken = ", ".join(f"{n} {ports[n]}" for n in busy)
        raise AzuriteUnavailable(f"Azurite's ports are partly taken ({taken}); free them or run without --azurite")
    node, script = find_azurite(script_root)
    location.mkdir(parents=True, exist_ok=True)
    with open(location / "azurite.log", "ab") as log_file:
        process = subprocess.Popen(
            azurite_argv(node, script, location, ports),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C reaches devhost, which stops Azurite last, after in-flight calls.
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,  # SIGTERM if devhost dies unstopped
        )
    azurite = AzuriteProcess(location=location, process=process)
    deadline = time.monotonic() + timeout
    while not all(_listening(p) for p in ports.values()):
        if process.poll() is not None or time.monotonic() > deadline:
            azurite.stop()
            tail = (location / "azurite.log").read_text(errors="replace")[-2000:]
            raise AzuriteUnavailable(f"Azurite did not start (see {location / 'azurite.log'}):\n{tail}")
        time.sleep(0.1)
    return azurite
