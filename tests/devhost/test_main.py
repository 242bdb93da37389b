"""Tests of `python -m devhost`'s extension loading (the durable engine when present, and timers)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from devhost.__main__ import load_extensions
from devhost.config import HostConfig
from devhost.timers import TimerExtension

CONFIG = HostConfig(
    script_root=Path("/app"),
    host="127.0.0.1",
    port=7071,
    data_dir=Path("/app/.devhost"),
    route_prefix="api",
    hub_name="hub",
)


def test_uses_create_extension_with_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[HostConfig] = []
    fake = types.ModuleType("devhost.durable")
    fake.create_extension = lambda config: received.append(config) or "the-extension"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "devhost.durable", fake)
    extensions = load_extensions(CONFIG)
    assert extensions[0] == "the-extension" and isinstance(extensions[1], TimerExtension)
    assert extensions[1].others == ["the-extension"]
    assert received == [CONFIG]


def test_module_without_factory_gives_no_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "devhost.durable", types.ModuleType("devhost.durable"))
    assert [type(e) for e in load_extensions(CONFIG)] == [TimerExtension]


def test_absent_module_gives_no_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "devhost.durable", None)
    assert [type(e) for e in load_extensions(CONFIG)] == [TimerExtension]
