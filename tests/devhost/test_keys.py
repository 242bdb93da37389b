"""Unit tests of auth levels and key checks."""

from __future__ import annotations

from pathlib import Path

import azure.functions as func
import pytest

from devhost.keys import AuthLevel, HostKeys, KeyCheck, check_key, kept_secret, keys_from_env, load_keys

KEYS = HostKeys(master_key="master", function_keys=("fn",))


def test_auth_level_parsing() -> None:
    assert AuthLevel.of("ANONYMOUS") is AuthLevel.ANONYMOUS
    assert AuthLevel.of(func.AuthLevel.ADMIN) is AuthLevel.ADMIN
    assert AuthLevel.of(None) is AuthLevel.FUNCTION
    with pytest.raises(ValueError):
        AuthLevel.of("system")


@pytest.mark.parametrize(
    ("level", "query", "headers", "expected"),
    [
        (AuthLevel.ANONYMOUS, {}, {}, KeyCheck.ALLOWED),
        (AuthLevel.FUNCTION, {}, {}, KeyCheck.MISSING),
        (AuthLevel.FUNCTION, {"code": "fn"}, {}, KeyCheck.ALLOWED),
        (AuthLevel.FUNCTION, {}, {"x-functions-key": "master"}, KeyCheck.ALLOWED),
        (AuthLevel.FUNCTION, {"code": "bad"}, {}, KeyCheck.WRONG),
        (AuthLevel.ADMIN, {"code": "fn"}, {}, KeyCheck.WRONG),
        (AuthLevel.ADMIN, {"code": "master"}, {}, KeyCheck.ALLOWED),
        (AuthLevel.FUNCTION, {"code": "bad"}, {"x-functions-key": "fn"}, KeyCheck.ALLOWED),
    ],
)
def test_check_key(level: AuthLevel, query: dict[str, str], headers: dict[str, str], expected: KeyCheck) -> None:
    assert check_key(level, KEYS, query=query, headers=headers) is expected


def test_keys_from_env() -> None:
    keys = keys_from_env({"DEVHOST_MASTER_KEY": "m", "DEVHOST_FUNCTION_KEY": "f"})
    assert keys == HostKeys(master_key="m", function_keys=("f",), generated_master=False)


def test_missing_master_key_is_generated_randomly() -> None:
    """Empty counts as unset; each run gets a different long random key."""
    first, second = keys_from_env({"DEVHOST_MASTER_KEY": ""}), keys_from_env({})
    assert first.generated_master and second.generated_master
    assert first.master_key != second.master_key and len(first.master_key) >= 32
    assert first.function_keys == ()


def test_generated_keys_are_kept_private_and_reused(tmp_path: Path) -> None:
    """The generated master and system keys go to keys.json (mode 600) and come back on the next start."""
    first, path = load_keys(tmp_path, {})
    assert path == tmp_path / "keys.json" and (path.stat().st_mode & 0o777) == 0o600
    second, _ = load_keys(tmp_path, {})
    assert (second.master_key, second.durabletask_key) == (first.master_key, first.durabletask_key)
    assert first.durabletask_key != first.master_key
    chosen, _ = load_keys(tmp_path, {"DEVHOST_MASTER_KEY": "mine"})
    assert chosen.master_key == "mine" and chosen.durabletask_key == first.durabletask_key
    assert "mine" not in path.read_text()


def test_other_host_secrets_are_kept_beside_the_keys(tmp_path: Path) -> None:
    """A secret made by `kept_secret` stays in keys.json (mode 600) across `load_keys`, also when the master key
    moves to the environment, and comes back unchanged."""
    load_keys(tmp_path, {})
    secret = kept_secret(tmp_path, "someSecret")
    assert len(secret) >= 32 and ((tmp_path / "keys.json").stat().st_mode & 0o777) == 0o600
    load_keys(tmp_path, {"DEVHOST_MASTER_KEY": "mine"})
    load_keys(tmp_path, {})
    assert kept_secret(tmp_path, "someSecret") == secret
    assert kept_secret(tmp_path, "another") != secret
    assert not list(tmp_path.glob(".keys.json.*"))


def test_system_level_takes_the_master_or_the_durabletask_key_only() -> None:
    """The Durable webhooks' level: master or system key; a function key is refused."""
    keys = HostKeys(master_key="m", function_keys=("f",), system_keys={"durabletask_extension": "s"})
    assert check_key(AuthLevel.SYSTEM, keys, query={"code": "s"}, headers={}) is KeyCheck.ALLOWED
    assert check_key(AuthLevel.SYSTEM, keys, query={}, headers={"x-functions-key": "m"}) is KeyCheck.ALLOWED
    assert check_key(AuthLevel.SYSTEM, keys, query={"code": "f"}, headers={}) is KeyCheck.WRONG
    assert check_key(AuthLevel.SYSTEM, keys, query={}, headers={}) is KeyCheck.MISSING
