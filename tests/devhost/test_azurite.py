"""Tests of `--azurite`: starting, reusing and stopping Azurite (on free ports here, not the defaults)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devhost.azurite import AzuriteUnavailable, _listening, start_local_azurite
from tests.support.azurite import AzuriteMissing, azurite_command
from tests.support.devhost import REPO_ROOT
from tests.support.ports import free_port


def _ports() -> dict[str, int]:
    return {"blob": free_port(), "queue": free_port(), "table": free_port()}


def test_missing_node_modules_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(AzuriteUnavailable, match="npm install"):
        start_local_azurite(tmp_path, ports=_ports())


def test_starts_with_data_under_script_root_and_stops_by_pid(tmp_path: Path) -> None:
    try:
        azurite_command()
    except AzuriteMissing as missing:
        pytest.skip(f"Azurite is not available: {missing}")
    (tmp_path / "node_modules").symlink_to(REPO_ROOT / "node_modules")
    ports = _ports()
    azurite = start_local_azurite(tmp_path, ports=ports)
    try:
        assert azurite.process is not None and azurite.process.poll() is None
        assert all(_listening(p) for p in ports.values())
        assert azurite.location == tmp_path / ".azurite"
    finally:
        azurite.stop()
    assert azurite.process.returncode is not None
    assert not any(_listening(p) for p in ports.values())
    assert any((tmp_path / ".azurite").iterdir())


def _listeners(count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sockets.append(sock)
    return sockets


def test_running_azurite_is_reused_and_left_alone(tmp_path: Path) -> None:
    listeners = _listeners(3)
    try:
        ports = dict(zip(("blob", "queue", "table"), (s.getsockname()[1] for s in listeners)))
        azurite = start_local_azurite(tmp_path, ports=ports)
        assert azurite.process is None
        azurite.stop()
        assert all(_listening(p) for p in ports.values())
    finally:
        for sock in listeners:
            sock.close()


def test_partly_taken_ports_are_an_error(tmp_path: Path) -> None:
    (taken,) = _listeners(1)
    try:
        ports = {"blob": taken.getsockname()[1], "queue": free_port(), "table": free_port()}
        with pytest.raises(AzuriteUnavailable, match="partly taken"):
            start_local_azurite(tmp_path, ports=ports)
    finally:
        taken.close()
