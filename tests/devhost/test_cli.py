"""Integration tests of `python -m devhost start` options: settings, route prefix, keys, DFApp, failures."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.devhost.conftest import ServeApp, copy_app
from tests.support.devhost import REPO_ROOT, child_pids, start_devhost
from tests.support.ports import free_port

_HOST_JSON = {"version": "2.0"}


def _get(base_url: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.get(base_url + path, timeout=30, **kwargs)  # type: ignore[arg-type]


def test_local_settings_reach_environ_and_real_env_wins(serve_app: ServeApp) -> None:
    """`Values` become environment variables (a variable already set keeps its value); `Host.CORS` applies."""
    host = serve_app(
        "basic",
        local_settings={
            "IsEncrypted": False,
            "Values": {"FROM_FILE": "file", "BOTH": "file", "NUM": 5},
            "Host": {"CORS": "http://site.example, http://other.example"},
        },
        env={"BOTH": "real-env"},
    )
    data = _get(host.base_url, "/api/settings", params={"names": "FROM_FILE,BOTH,NUM"}).json()
    assert data == {"FROM_FILE": "file", "BOTH": "real-env", "NUM": "5"}
    # Host.CORS is honoured as Core Tools does: allowed origins get CORS headers, others don't.
    allowed = _get(host.base_url, "/api/items/new", headers={"Origin": "http://site.example"})
    assert allowed.headers["access-control-allow-origin"] == "http://site.example"
    assert (
        "access-control-allow-origin"
        not in _get(host.base_url, "/api/items/new", headers={"Origin": "http://evil.example"}).headers
    )
    preflight = httpx.options(
        host.base_url + "/api/items/5",
        timeout=30,
        headers={"Origin": "http://other.example", "Access-Control-Request-Method": "DELETE"},
    )
    assert preflight.status_code == 200


def test_custom_route_prefix(serve_app: ServeApp) -> None:
    """`extensions.http.routePrefix` replaces `api`."""
    host = serve_app("basic", host_json={**_HOST_JSON, "extensions": {"http": {"routePrefix": "v1/x"}}})
    assert _get(host.base_url, "/v1/x/items/3").text == "id 3"
    assert _get(host.base_url, "/api/items/3").status_code == 404
    assert f"{host.base_url}/v1/x/items/{{id:int}}" in host.log_text()


def test_empty_route_prefix(serve_app: ServeApp) -> None:
    """An empty routePrefix serves routes at the root."""
    host = serve_app("basic", host_json={**_HOST_JSON, "extensions": {"http": {"routePrefix": ""}}})
    assert _get(host.base_url, "/items/new").text == "literal new"
    assert _get(host.base_url, "/admin/host/status").json() == {"state": "Running"}


def test_default_route_prefix_without_host_json_setting(serve_app: ServeApp) -> None:
    """No routePrefix in host.json means `api`."""
    host = serve_app("basic", host_json=_HOST_JSON)
    assert _get(host.base_url, "/api/items/new").text == "literal new"


def test_require_keys(serve_app: ServeApp) -> None:
    """With --require-keys: function routes need a function or master key, admin routes the master key."""
    host = serve_app(
        "basic", extra_args=("--require-keys",), env={"DEVHOST_FUNCTION_KEY": "fkey", "DEVHOST_MASTER_KEY": "mkey"}
    )
    base = host.base_url
    assert _get(base, "/api/items/new").text == "literal new"  # anonymous
    assert _get(base, "/api/inherits").status_code == 200  # blueprint route inherits ANONYMOUS
    missing = _get(base, "/api/keys/function")
    assert missing.status_code == 401 and "no key was given" in missing.json()["error"]
    wrong = _get(base, "/api/keys/function", params={"code": "nope"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["error"]
    assert _get(base, "/api/keys/function", params={"code": "fkey"}).text == "function level ok"
    assert _get(base, "/api/keys/function", headers={"x-functions-key": "mkey"}).status_code == 200
    assert _get(base, "/api/keys/admin", params={"code": "fkey"}).status_code == 401
    assert _get(base, "/api/keys/admin", headers={"x-functions-key": "mkey"}).text == "admin level ok"
    assert "Master key: from DEVHOST_MASTER_KEY" in host.log_text() and "mkey" not in host.log_text()


def test_dfapp_with_df_and_func_blueprints(serve_app: ServeApp) -> None:
    """A df.DFApp composing a df.Blueprint and a func.Blueprint serves all their routes."""
    host = serve_app("dfapp")
    assert _get(host.base_url, "/api/df/ping").text == "pong from DFApp"
    assert _get(host.base_url, "/api/dbp/ping").text == "pong from df.Blueprint"
    assert _get(host.base_url, "/api/pbp/ping/9").text == "pong 9 from func.Blueprint"
    assert _get(host.base_url, "/api/pbp/ping/x").status_code == 404
    assert "\torch: orchestrationTrigger" in host.log_text()


def test_sigterm_stops_gracefully(tmp_path: Path) -> None:
    """SIGTERM makes devhost exit 0 after stopping the server."""
    script_root = copy_app("basic", tmp_path / "app")
    host = start_devhost(script_root, data_dir=tmp_path / "data")
    assert host.stop() == 0
    assert "Host stopped" in host.log_text()


def _run_start(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devhost", "start", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )


def test_missing_function_app_fails_clearly(tmp_path: Path) -> None:
    """A script root without function_app.py exits 1 saying so."""
    result = _run_start("--script-root", str(tmp_path), "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 1
    assert "no function_app.py" in result.stderr


def test_port_in_use_fails_clearly(tmp_path: Path) -> None:
    """A taken port exits 1 naming the port instead of a traceback."""
    import socket

    script_root = copy_app("basic", tmp_path / "app")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run_start("--script-root", str(script_root), "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_local_settings_created_from_example(tmp_path: Path) -> None:
    """On first run local.settings.json is created from local.settings.example.json."""
    script_root = copy_app("basic", tmp_path / "app")
    (script_root / "local.settings.example.json").write_text('{"Values": {"FROM_EXAMPLE": "yes"}}')
    host = start_devhost(script_root, data_dir=tmp_path / "data")
    try:
        assert (script_root / "local.settings.json").read_text() == '{"Values": {"FROM_EXAMPLE": "yes"}}'
        assert _get(host.base_url, "/api/settings", params={"names": "FROM_EXAMPLE"}).json() == {"FROM_EXAMPLE": "yes"}
    finally:
        host.stop()


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]"])
def test_bad_host_json_fails_clearly(tmp_path: Path, bad: str) -> None:
    """An unreadable host.json exits 1 naming the file."""
    script_root = copy_app("basic", tmp_path / "app")
    (script_root / "host.json").write_text(bad)
    result = _run_start("--script-root", str(script_root), "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 1
    assert "host.json" in result.stderr


def test_app_import_error_fails_clearly(tmp_path: Path) -> None:
    """An app that raises on import: the traceback is logged and devhost exits 1."""
    script_root = copy_app("basic", tmp_path / "app")
    (script_root / "helpers.py").write_text("raise RuntimeError('broken helper module')\n")
    result = _run_start("--script-root", str(script_root), "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 1
    assert "broken helper module" in result.stderr
    assert "could not load the app" in result.stderr


@pytest.mark.parametrize("route", ["block", "offload"])
def test_stuck_call_does_not_keep_devhost_alive(tmp_path: Path, route: str) -> None:
    """SIGTERM with a call that never returns (a sync function; an async one blocked in asyncio.to_thread): one SIGTERM,
    exit 0, the worker process running it stopped with the host."""
    import threading

    script_root = copy_app("basic", tmp_path / "app")
    host = start_devhost(script_root, data_dir=tmp_path / "data", extra_args=("--graceful-timeout", "0.5"))
    statuses: list[int] = []
    call = threading.Thread(
        target=lambda: statuses.append(
            _get(
                host.base_url,
                f"/api/{route}",
                params={"started": str(tmp_path / "started"), "release": str(tmp_path / "never")},
            ).status_code
        )
    )
    call.start()
    try:
        while not (tmp_path / "started").exists():
            assert call.is_alive()
            time.sleep(0.02)
        workers = child_pids(host.pid, "worker_main") if host.pid else []
        assert host.stop(timeout=15) == 0
        assert "Host stopped" in host.log_text() and workers
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    finally:
        (tmp_path / "never").touch()
        call.join(30)


def test_event_loop_is_uvloop_when_installed_unless_asyncio_is_asked_for(monkeypatch) -> None:
    """uvloop's loop by default when importable; DEVHOST_LOOP=asyncio, or no uvloop, gives asyncio's own."""
    import asyncio

    from devhost.cli import _new_event_loop

    uvloop = pytest.importorskip("uvloop")
    monkeypatch.delenv("DEVHOST_LOOP", raising=False)
    loop = _new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    monkeypatch.setenv("DEVHOST_LOOP", "asyncio")
    loop = _new_event_loop()
    try:
        assert isinstance(loop, asyncio.SelectorEventLoop)
    finally:
        loop.close()
    monkeypatch.delenv("DEVHOST_LOOP")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import fails: the fallback
    loop = _new_event_loop()
    try:
        assert isinstance(loop, asyncio.SelectorEventLoop)
    finally:
        loop.close()


def test_job_host_settings_override_host_json_and_verbose_prints_it(serve_app: ServeApp) -> None:
    """An `AzureFunctionsJobHost__*` environment variable (any case) or local.settings.json value overrides host.json;
    `--verbose` prints the effective host.json."""
    host = serve_app(
        "basic",
        host_json={**_HOST_JSON, "extensions": {"http": {"routePrefix": "v1"}}},
        env={"azurefunctionsjobhost__Extensions__HTTP__routePrefix": "v2"},
        local_settings={"Values": {"AzureFunctionsJobHost__logging__logLevel__default": "Warning"}},
        extra_args=("--verbose",),
    )
    assert _get(host.base_url, "/v2/items/3").text == "id 3"
    assert _get(host.base_url, "/v1/items/3").status_code == 404
    log = host.log_text()
    printed = log[log.index("Effective host.json") :]
    assert '"routePrefix": "v2"' in printed and '"default": "Warning"' in printed


def test_job_host_setting_overrides_the_durable_hub_name(tmp_path: Path) -> None:
    """The hub name the durable extension uses (seen in its status URLs) follows
    `AzureFunctionsJobHost__...__hubName`."""
    import shutil

    app = tmp_path / "app"
    shutil.copytree(
        REPO_ROOT / "tests" / "devhost_durable" / "apps" / "basic",
        app,
        ignore=shutil.ignore_patterns("__pycache__", ".devhost"),
    )
    (app / "host.json").write_text('{"version": "2.0", "extensions": {"durableTask": {"hubName": "FileHub"}}}')
    with start_devhost(
        app, data_dir=tmp_path / "data", env={"AzureFunctionsJobHost__extensions__durableTask__hubName": "EnvHub"}
    ) as host:
        started = httpx.post(f"{host.base_url}/api/start/chain", timeout=30)
        assert started.status_code == 202, started.text
        assert "taskHub=EnvHub" in started.json()["statusQueryGetUri"]
