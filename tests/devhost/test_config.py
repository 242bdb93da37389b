"""Unit tests of host configuration: host.json, local.settings.json and HostConfig."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.config import (
    ConfigError,
    apply_local_settings,
    build_config,
    clear_caches,
    ensure_local_settings,
    read_host_json,
    resolve_setting_refs,
    website_auth_enabled,
)


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def _write(root: Path, name: str, data: object) -> None:
    (root / name).write_text(json.dumps(data))


def test_defaults_without_files(tmp_path: Path) -> None:
    config = build_config(tmp_path, environ={})
    assert config.route_prefix == "api"
    assert config.hub_name == "TestHubName"
    assert config.port == 7071
    assert config.data_dir == tmp_path.resolve() / ".devhost"
    assert config.base_url == "http://127.0.0.1:7071"
    assert config.host_json == {}
    assert build_config(tmp_path, host="0.0.0.0", environ={}).base_url == "http://127.0.0.1:7071"
    assert build_config(tmp_path, host="::", port=1, environ={}).base_url == "http://[::1]:1"


def test_route_prefix_and_hub_name_from_host_json(tmp_path: Path) -> None:
    """Keys are case-insensitive; `%SETTING%` in hubName is resolved from the environment."""
    _write(
        tmp_path,
        "host.json",
        {"Extensions": {"HTTP": {"routePrefix": "/v2/"}, "durableTask": {"hubName": "hub%SUFFIX%"}}},
    )
    config = build_config(tmp_path, environ={"SUFFIX": "Dev"})
    assert config.route_prefix == "v2"
    assert config.hub_name == "hubDev"
    assert config.host_json["Extensions"]["HTTP"]["routePrefix"] == "/v2/"


def test_empty_route_prefix_is_kept(tmp_path: Path) -> None:
    _write(tmp_path, "host.json", {"extensions": {"http": {"routePrefix": ""}}})
    assert build_config(tmp_path, environ={}).route_prefix == ""


def test_unset_setting_reference_is_an_error() -> None:
    with pytest.raises(ConfigError, match="MISSING"):
        resolve_setting_refs("%MISSING%", {})


def test_bad_files_raise_config_error(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text("{oops")
    with pytest.raises(ConfigError, match=r"host\.json"):
        read_host_json(tmp_path)
    clear_caches()
    _write(tmp_path, "host.json", {"extensions": {"http": {"routePrefix": 3}}})
    with pytest.raises(ConfigError, match="routePrefix"):
        build_config(tmp_path, environ={})


def test_local_settings_values_applied_without_overriding(tmp_path: Path) -> None:
    _write(tmp_path, "local.settings.json", {"Values": {"A": "file", "B": "file", "FLAG": True, "N": 3}})
    environ = {"B": "env"}
    applied = apply_local_settings(tmp_path, environ)
    assert environ == {"A": "file", "B": "env", "FLAG": "true", "N": "3"}
    assert applied == {"A": "file", "FLAG": "true", "N": "3"}


def test_local_settings_nested_value_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "local.settings.json", {"Values": {"A": {"nested": 1}}})
    with pytest.raises(ConfigError, match=r"Values\.A"):
        apply_local_settings(tmp_path, {})


def test_local_http_port_and_cors_from_host_section(tmp_path: Path) -> None:
    _write(tmp_path, "local.settings.json", {"Host": {"LocalHttpPort": 7080, "CORS": "*", "CORSCredentials": True}})
    config = build_config(tmp_path, environ={})
    assert config.port == 7080
    assert config.cors_origins == ("*",) and config.cors_credentials
    assert build_config(tmp_path / "none", environ={}).cors_origins == ()
    assert build_config(tmp_path, port=9000, environ={}).port == 9000


def test_ensure_local_settings_copies_example_once(tmp_path: Path) -> None:
    _write(tmp_path, "local.settings.example.json", {"Values": {"X": "1"}})
    created = ensure_local_settings(tmp_path)
    assert created == tmp_path / "local.settings.json"
    assert json.loads(created.read_text()) == {"Values": {"X": "1"}}
    _write(tmp_path, "local.settings.json", {"Values": {"X": "mine"}})
    assert ensure_local_settings(tmp_path) is None
    assert json.loads((tmp_path / "local.settings.json").read_text()) == {"Values": {"X": "mine"}}


def test_azure_functions_job_host_settings_override_host_json(tmp_path: Path) -> None:
    """`AzureFunctionsJobHost__a__b` writes host.json's `a.b`: keys matched case-insensitively (keeping the file's
    spelling), missing objects created, list items by index; the hub name and route prefix come from the result."""
    _write(
        tmp_path,
        "host.json",
        {"version": "2.0", "Extensions": {"http": {"routePrefix": "v1"}}, "watchDirectories": ["a", "b"]},
    )
    environ = {
        "AZUREFUNCTIONSJOBHOST__extensions__HTTP__routePrefix": "v2",
        "AzureFunctionsJobHost__extensions__durableTask__hubName": "Hub%STAGE%",
        "AzureFunctionsJobHost__logging__logLevel__default": "Warning",
        "AzureFunctionsJobHost__watchDirectories__1": "c",
        "AzureFunctionsJobHost__": "ignored",
        "STAGE": "Prod",
    }
    config = build_config(tmp_path, environ=environ)
    assert (config.route_prefix, config.hub_name) == ("v2", "HubProd")
    assert config.host_json == {
        "version": "2.0",
        "Extensions": {"http": {"routePrefix": "v2"}, "durableTask": {"hubName": "Hub%STAGE%"}},
        "watchDirectories": ["a", "c"],
        "logging": {"logLevel": {"default": "Warning"}},
    }
    assert read_host_json(tmp_path)["Extensions"]["http"]["routePrefix"] == "v1"  # the file itself is unchanged


def test_an_unresolved_hub_name_setting_is_kept_as_written(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """As the extension does (it resolves the hub name only if it can), with a warning instead of a stop."""
    _write(tmp_path, "host.json", {"extensions": {"durableTask": {"hubName": "%NOT_SET%"}}})
    with caplog.at_level("WARNING", logger="devhost"):
        config = build_config(tmp_path, environ={})
    assert config.hub_name == "%NOT_SET%"
    assert "NOT_SET" in caplog.text and "keeps the name as written" in caplog.text


@pytest.mark.parametrize(
    ("value", "enabled"),
    [("True", True), ("true", True), (" TRUE ", True), ("false", False), ("", False), ("1", False)],
)
def test_website_auth_enabled_is_true_in_any_case(value: str, enabled: bool) -> None:
    """`WEBSITE_AUTH_ENABLED` turns the Easy Auth emulation on when it says true, whatever its case."""
    assert website_auth_enabled({"WEBSITE_AUTH_ENABLED": value}) is enabled
    assert website_auth_enabled({}) is False


def test_easy_auth_setting_read_from_local_settings_values(tmp_path: Path) -> None:
    """The setting comes from local.settings.json `Values` like any other (the environment wins)."""
    _write(tmp_path, "local.settings.json", {"Values": {"WEBSITE_AUTH_ENABLED": "True"}})
    environ: dict[str, str] = {}
    apply_local_settings(tmp_path, environ)
    assert build_config(tmp_path, environ=environ).easy_auth is True
    environ = {"WEBSITE_AUTH_ENABLED": "false"}
    apply_local_settings(tmp_path, environ)
    assert build_config(tmp_path, environ=environ).easy_auth is False
