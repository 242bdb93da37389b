"""Shared test helpers: free ports, a devhost subprocess, an Azurite subprocess.

Every helper starts real processes on free loopback ports and stops them by PID, so
several test runs (and several engineers) can run side by side on one machine.
"""

from __future__ import annotations

from tests.support.azurite import Azurite, AzuriteMissing, azurite_command, start_azurite
from tests.support.devhost import DevhostProcess, DevhostStartError, start_devhost
from tests.support.ports import free_port, wait_for_port

__all__ = [
    "Azurite",
    "AzuriteMissing",
    "DevhostProcess",
    "DevhostStartError",
    "azurite_command",
    "free_port",
    "start_azurite",
    "start_devhost",
    "wait_for_port",
]
