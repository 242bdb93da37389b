"""Fixtures of the durable suite: one devhost per test module, serving the app the module names.

A test module sets `APP = "<folder under tests/durable/apps>"` and uses the `app` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.durable.harness import APPS_DIR, DurableApp
from tests.support.devhost import start_devhost


@pytest.fixture(scope="module")
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DurableApp]:
    """devhost (persistence on, fresh data dir) serving the module's `APP`."""
    name: str = request.module.APP
    root = tmp_path_factory.mktemp(f"durable-{name}")
    state_dir = root / "state"
    state_dir.mkdir()
    host = start_devhost(
        APPS_DIR / name,
        data_dir=root / "data",
        env={"DURABLE_TEST_STATE_DIR": str(state_dir)},
    )
    durable_app = DurableApp(host=host, state_dir=state_dir)
    try:
        yield durable_app
    finally:
        durable_app.close()
        host.stop()
