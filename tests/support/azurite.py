"""Azurite (the Azure Storage emulator) as a subprocess on free loopback ports."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from devhost.azurite import AzuriteUnavailable, azurite_argv, find_azurite
from devhost.processes import stop_process
from tests.support.ports import free_port, wait_for_port

__all__ = ["ACCOUNT_KEY", "ACCOUNT_NAME", "Azurite", "AzuriteMissing", "azurite_command", "start_azurite"]

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_NAME = "devstoreaccount1"
"""Azurite's well-known development account."""
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's well-known development account key (public, documented by Microsoft)."""


class AzuriteMissing(RuntimeError):
    """node or `node_modules/.bin/azurite` is not installed."""


def azurite_command(root: Path = REPO_ROOT) -> list[str]:
    """`[node, <root>/node_modules/.bin/azurite]`, or AzuriteMissing saying how to get it."""
    try:
        node, script = find_azurite(root)
    except AzuriteUnavailable as unavailable:
        raise AzuriteMissing(f"{unavailable}; `make test` installs it") from unavailable
    return [node, str(script)]


@dataclass
class Azurite:
    """One running Azurite process (blob, queue and table services)."""

    location: Path
    blob_port: int
    queue_port: int
    table_port: int
    process: subprocess.Popen[bytes] | None = field(default=None)
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.blob_port}/{ACCOUNT_NAME}"

    @property
    def queue_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.queue_port}/{ACCOUNT_NAME}"

    @property
    def table_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.table_port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        """A full connection string (custom ports need one; `UseDevelopmentStorage` won't do)."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};QueueEndpoint={self.queue_endpoint};"
            f"TableEndpoint={self.table_endpoint};"
        )

    def log_text(self) -> str:
        """What Azurite wrote to stdout/stderr."""
        path = self.location / "azurite.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL if it does not exit within 10 s."""
        if self.process is not None:
            stop_process(self.process, 10)
        if self._log is not None:
            self._log.close()
            self._log = None


def start_azurite(location: Path, *, root: Path = REPO_ROOT, timeout: float = 30.0) -> Azurite:
    """Start Azurite with data under `location` on three free ports; wait until all accept."""
    command = azurite_command(root)
    location.mkdir(parents=True, exist_ok=True)
    azurite = Azurite(location=location, blob_port=free_port(), queue_port=free_port(), table_port=free_port())
    azurite._log = open(location / "azurite.out", "ab")
    ports = {"blob": azurite.blob_port, "queue": azurite.queue_port, "table": azurite.table_port}
    azurite.process = subprocess.Popen(
        azurite_argv(command[0], Path(command[1]), location, ports),
        stdin=subprocess.DEVNULL,
        stdout=azurite._log,
        stderr=subprocess.STDOUT,
    )
    for port in (azurite.blob_port, azurite.queue_port, azurite.table_port):
        if not wait_for_port(port, timeout=timeout):
            azurite.stop()
            raise RuntimeError(f"Azurite did not listen on port {port} in time:\n{azurite.log_text()}")
    return azurite
