"""The `devhost` command line: `python -m devhost start [...]`.

`start` reads settings, optionally starts Azurite, loads the app, binds the port, builds
the extensions and serves until Ctrl-C / SIGTERM, then stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from devhost.azurite import AzuriteProcess, AzuriteUnavailable, start_local_azurite
from devhost.channel import BASE_URL_ENV
from devhost.config import (
    DEFAULT_PORT,
    ConfigError,
    HostConfig,
    apply_local_settings,
    build_config,
    ensure_local_settings,
)
from devhost.extension import HostExtension
from devhost.keys import load_keys
from devhost.loader import AppLoadError, FunctionIndex, load_app
from devhost.logs import configure_logging
from devhost.server import DEFAULT_GRACEFUL_SECONDS, bind_socket, serve
from devhost.workers import WorkerPool, worker_count, worker_process_enabled

__all__ = ["ExtensionLoader", "build_parser", "main"]

ExtensionLoader = Callable[[HostConfig], Sequence[HostExtension]]
"""Builds the host's extensions for a run (see `devhost.__main__.load_extensions`)."""

log = logging.getLogger("devhost")

WEBSITE_HOSTNAME = "WEBSITE_HOSTNAME"
"""Set for the app to devhost's own address (host:port) unless the environment sets it."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (`start` is the one command)."""
    parser = argparse.ArgumentParser(
        prog="python -m devhost", description="Run an Azure Functions Python v2 app locally, without Core Tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="serve the app in --script-root")
    start.add_argument(
        "--script-root",
        type=Path,
        default=Path.cwd(),
        help="folder holding function_app.py and host.json (default: current folder)",
    )
    start.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    start.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port to listen on (default: local.settings.json Host.LocalHttpPort or {DEFAULT_PORT})",
    )
    start.add_argument(
        "--data-dir", type=Path, default=None, help="local state folder (default: <script-root>/.devhost)"
    )
    start.add_argument(
        "--require-keys",
        action="store_true",
        help="enforce function/admin auth levels (DEVHOST_FUNCTION_KEY, DEVHOST_MASTER_KEY)",
    )
    start.add_argument(
        "--graceful-timeout",
        type=float,
        default=DEFAULT_GRACEFUL_SECONDS,
        metavar="SECONDS",
        help="on Ctrl-C/SIGTERM, how long in-flight calls may finish (default %(default)g)",
    )
    start.add_argument(
        "--azurite", action="store_true", help="also run Azurite from node_modules on its default loopback ports"
    )
    start.add_argument(
        "--verbose",
        action="store_true",
        help="log at debug level and print the effective host.json (with AzureFunctionsJobHost__* overrides)",
    )
    return parser


def _fail(message: str) -> int:
    print(f"devhost: {message}", file=sys.stderr, flush=True)
    return 1


def _start(args: argparse.Namespace, load_extensions: ExtensionLoader) -> int:
    script_root: Path = args.script_root.resolve()
    if not (script_root / "function_app.py").is_file():
        return _fail(f"no function_app.py in {script_root} (use --script-root)")
    azurite: AzuriteProcess | None = None
    try:
        created = ensure_local_settings(script_root)
        apply_local_settings(script_root)
        config = build_config(
            script_root, host=args.host, port=args.port, data_dir=args.data_dir, require_keys=args.require_keys
        )
        configure_logging(config.host_json)
        if args.verbose:
            logging.getLogger().setLevel(logging.DEBUG)
            print(
                "Effective host.json (host.json with AzureFunctionsJobHost__* settings applied):\n"
                + json.dumps(config.host_json, indent=2, sort_keys=True),
                flush=True,
            )
        if created is not None:
            log.info("Created %s from local.settings.example.json", created.name)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        if args.azurite:
            azurite = start_local_azurite(script_root)
            log.info(
                "Azurite %s on 127.0.0.1:10000-10002 (data in %s)",
                "reused" if azurite.process is None else "started",
                azurite.location,
            )
        workers = worker_process_enabled()
        index: FunctionIndex | WorkerPool
        if workers:
            index = WorkerPool(script_root, worker_count())  # the app loads in the workers, never here
        else:
            try:
                index = load_app(script_root)
            except AppLoadError:
                raise
            except Exception:
                log.exception("function_app.py failed to import")
                return _fail(f"could not load the app in {script_root} (traceback above)")
        try:
            sock = bind_socket(config.host, config.port)
        except OSError as error:
            return _fail(
                f"cannot listen on {config.host}:{config.port} ({error.strerror}); is another host running? Use --port"
            )
        keys, keys_path = load_keys(config.data_dir)
        config = replace(config, port=int(sock.getsockname()[1]), keys=keys)
        # The app's own host name, as App Service (and Core Tools) set it: apps build their public URLs from it.
        os.environ.setdefault(WEBSITE_HOSTNAME, config.base_url.split("://", 1)[1])
        if isinstance(index, WorkerPool):
            index.env[BASE_URL_ENV] = config.base_url
            index.env[WEBSITE_HOSTNAME] = os.environ[WEBSITE_HOSTNAME]
        extensions = list(load_extensions(config))
        if config.require_keys:
            origin = (
                f"kept in {keys_path}; set DEVHOST_MASTER_KEY to choose it"
                if keys.generated_master
                else "from DEVHOST_MASTER_KEY"
            )
            print(
                f"Keys are required (--require-keys). Master key: {origin}; the Durable webhooks' system key "
                f"'durabletask_extension' is in {keys_path}",
                flush=True,
            )
        run_bounded(
            serve(config, index, extensions, keys, sock, graceful_seconds=args.graceful_timeout), args.graceful_timeout
        )
        return 0
    except (ConfigError, AppLoadError, AzuriteUnavailable) as error:
        return _fail(str(error))
    finally:
        if azurite is not None:
            azurite.stop()


def _new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop when it is installed (faster sockets and callbacks), else asyncio's.

    `DEVHOST_LOOP=asyncio` chooses asyncio's loop even when uvloop is there.
    """
    if os.environ.get("DEVHOST_LOOP", "auto").strip().lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_bounded(main: Coroutine[Any, Any, None], grace_seconds: float) -> None:
    """`asyncio.run(main)`, except that the loop's default executor gets `grace_seconds` to finish.

    `asyncio.run` waits, without limit, for every thread of the loop's default executor: an app's
    `asyncio.to_thread(...)` call still blocked when the host stops (a storage call retrying
    against an Azurite that is gone, a slow model call) kept the process alive after "Host
    stopped", so the first SIGTERM seemed ignored and only a second one (by then the default
    action) ended it. Python 3.11's `shutdown_default_executor` cannot be bounded (cancelling it
    still joins its thread), so the loop gets an executor of ours, shut down here without waiting
    past the grace; threads still busy after it are left to `_exit_past_stuck_calls`.
    """
    loop = _new_event_loop()
    executor = ThreadPoolExecutor(thread_name_prefix="asyncio-to-thread")
    loop.set_default_executor(executor)
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()  # shuts the executor down without waiting
            _wait_for_executor(executor, grace_seconds)


def _wait_for_executor(executor: ThreadPoolExecutor, grace_seconds: float) -> None:
    finished = threading.Event()
    threading.Thread(target=lambda: (executor.shutdown(wait=True), finished.set()), daemon=True).start()
    if not finished.wait(max(grace_seconds, 0.1)):
        log.warning("asyncio.to_thread call(s) still running %gs after shutdown; not waiting for them", grace_seconds)


def _exit_past_stuck_calls(code: int) -> int:
    """Exit now if sync function calls still hold worker threads after shutdown.

    Python waits for non-daemon threads at exit, so one function stuck in a loop would keep
    devhost alive after Ctrl-C; the host and its extensions have already stopped by now.
    """
    stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if stuck:
        log.warning("%d function call(s) still running after shutdown; exiting without waiting", len(stuck))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def main(argv: Sequence[str] | None = None, *, load_extensions: ExtensionLoader = lambda config: []) -> int:
    """Run the command line; the process exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "start":
        os.environ.setdefault("FUNCTIONS_WORKER_RUNTIME", "python")
        return _exit_past_stuck_calls(_start(args, load_extensions))
    return _fail(f"unknown command {args.command!r}")
