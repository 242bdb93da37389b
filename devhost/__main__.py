"""`python -m devhost`: the command line, wired to the host's extensions.

The extensions are the durable engine (`devhost.durable.create_extension`), used when that
package is present (without it durable triggers are listed as not supported), and the timer
triggers (`devhost.timers`), which get their other input bindings (a durable client) from it.
"""

from __future__ import annotations

import importlib
import logging
import sys

from devhost.cli import main
from devhost.config import HostConfig
from devhost.extension import HostExtension
from devhost.timers import TimerExtension

log = logging.getLogger("devhost")


def _durable_extensions(config: HostConfig) -> list[HostExtension]:
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


def load_extensions(config: HostConfig) -> list[HostExtension]:
    """The extensions for this run: the durable engine when `devhost.durable` provides one, and timers."""
    extensions = _durable_extensions(config)
    keys = config.keys if config.require_keys else None
    timers = TimerExtension(config.data_dir, others=extensions, keys=keys)
    return [*extensions, timers]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], load_extensions=load_extensions))
