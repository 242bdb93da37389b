"""Fixtures for devhost tests: copies of the small apps under `apps/`, served on free ports."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.devhost import DevhostProcess, start_devhost

APPS = Path(__file__).parent / "apps"

ServeApp = Callable[..., DevhostProcess]


def copy_app(
    name: str,
    dest: Path,
    *,
    host_json: dict[str, Any] | None = None,
    local_settings: dict[str, Any] | None = None,
) -> Path:
    """Copy `apps/<name>` to `dest`, optionally replacing host.json and writing local.settings.json."""
    shutil.copytree(APPS / name, dest, ignore=shutil.ignore_patterns("__pycache__", ".devhost"))
    if host_json is not None:
        (dest / "host.json").write_text(json.dumps(host_json))
    if local_settings is not None:
        (dest / "local.settings.json").write_text(json.dumps(local_settings))
    return dest


@pytest.fixture(scope="module")
def serve_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeApp]:
    """Start devhost on a copy of a test app; every process started is stopped after the module."""
    started: list[DevhostProcess] = []

    def serve(
        name: str,
        *,
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
        host_json: dict[str, Any] | None = None,
        local_settings: dict[str, Any] | None = None,
    ) -> DevhostProcess:
        root = tmp_path_factory.mktemp(f"app-{name}")
        script_root = copy_app(name, root / "app", host_json=host_json, local_settings=local_settings)
        process = start_devhost(script_root, data_dir=root / "data", env=env, extra_args=extra_args)
        started.append(process)
        return process

    yield serve
    for process in started:
        process.stop()
