"""Unit tests of auth levels and key checks."""
from __future__ import annotations

import azure.functions as func
import pytest

from devhost.keys import AuthLevel, HostKeys, KeyCheck, check_key, keys_from_env

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
