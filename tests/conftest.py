"""Session-wide fixtures: one Azurite for the whole run (skipped if it is not installed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.azurite import Azurite, AzuriteMissing, azurite_command, start_azurite


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """A running Azurite on free ports, with its data in a session temp dir."""
    try:
        azurite_command()
    except AzuriteMissing as missing:
        pytest.skip(f"Azurite is not available: {missing}")
    instance = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield instance
    finally:
        instance.stop()
