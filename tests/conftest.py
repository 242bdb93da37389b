"""Session-wide fixtures: one Azurite for the whole run (skipped if it is not installed); and the check that every
status code an app route answers during the run is declared in the OpenAPI document (`tests/support/statuses.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import statuses
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


def pytest_configure(config: pytest.Config) -> None:
    """Record every answer of an app route the tests get (httpx and requests clients)."""
    statuses.start_recording()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a route answered a status code its declaration lacks (`make openapi` after declaring it)."""
    undeclared = statuses.undeclared()
    if undeclared:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [
            f"  {method} {path} answered {code} ({count}x): not in its OpenAPI declaration"
            for (method, path, code), count in sorted(undeclared.items())
        ]
        text = "status codes answered by routes that their declarations lack (api/spec.py):\n" + "\n".join(lines)
        if reporter is not None:
            reporter.write_line(text, red=True)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
