"""`python -m devhost`: the command line, wired to the host's extensions.

Today the one extension is the durable engine (`devhost.durable.create_extension`), used
when that package is present; without it durable triggers are listed as not supported.
"""
from __future__ import annotations

import importlib
import logging
import sys

from devhost.cli import main
from devhost.config import HostConfig
from devhost.extension import HostExtension

log = logging.getLogger("devhost")


def load_extensions(config: HostConfig) -> list[HostExtension]:
    """The extensions for this run: the durable engine when `devhost.durable` provides one."""
    try:
        durable = importlib.import_module("devhost.durable")
    except ModuleNotFoundError as missing:
        if missing.name != "devhost.durable":
            raise
        log.info("devhost.durable is not installed: durable triggers will be listed as not supported")
        return []
    factory = getattr(durable, "create_extension", None)
    if factory is None:
        log.warning("devhost.durable has no create_extension(config): durable triggers are not served")
        return []
    return [factory(config)]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], load_extensions=load_extensions))
