"""The activity worker process: `python -m devhost.durable.activity_worker --script-root DIR --fd N`.

Started by `devhost.durable.worker.ProcessActivityRunner`: it loads the app from the script root,
then runs each activity work item that arrives on the socket `--fd` with the in-process
`ActivityRunner` (its threads and event loop) and writes each outcome back. It exits when the
host closes its end of the socket (the host stopped, or died) and, on Linux, when its parent
process dies.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from devhost.durable import history as h
from devhost.durable.activities import ActivityRunner
from devhost.durable.engine import functions_by_name
from devhost.durable.store import ActivityRow
from devhost.durable.worker import CLIENT_BINDING_ENV, frame, read_frame
from devhost.loader import FunctionSpec, load_app
from devhost.processes import die_with_parent

__all__ = ["main"]


async def _serve(sock: socket.socket, functions: dict[str, FunctionSpec]) -> None:
    """Run activities as they arrive; exit when the host closes its end."""
    reader, writer = await asyncio.open_connection(sock=sock)

    def done(activity: ActivityRow, event: h.Event) -> None:
        writer.write(frame((activity.id, event)))

    runner = ActivityRunner(functions, done, os.environ.get(CLIENT_BINDING_ENV))
    while True:
        try:
            activity = await read_frame(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            os._exit(0)  # nothing to report results to; activity threads still running are not waited for
        runner.dispatch(activity)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, load the app and serve until the host goes away."""
    parser = argparse.ArgumentParser(prog="python -m devhost.durable.activity_worker")
    parser.add_argument("--script-root", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True, help="the worker's end of the host's socket pair")
    args = parser.parse_args(argv)
    die_with_parent(signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the host stops us
    sock = socket.socket(fileno=args.fd)
    from devhost.cli import configure_logging
    from devhost.config import effective_host_json

    configure_logging(effective_host_json(args.script_root), prefix="(activity worker) ")
    asyncio.run(_serve(sock, functions_by_name(load_app(args.script_root), "activityTrigger")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
