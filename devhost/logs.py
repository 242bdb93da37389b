"""devhost's log format and level, for the host and its worker processes alike."""

from __future__ import annotations

import logging
import sys
import time

__all__ = ["configure_logging"]

_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}


def configure_logging(host_json: dict[str, object], prefix: str = "") -> None:
    """Log to stderr with UTC timestamps (then `prefix`) at host.json's `logging.logLevel.default` level."""
    level_name = "information"
    logging_section = host_json.get("logging")
    if isinstance(logging_section, dict) and isinstance(logging_section.get("logLevel"), dict):
        level_name = str(logging_section["logLevel"].get("default", level_name)).lower()
    formatter = logging.Formatter(
        "[%(asctime)s.%(msecs)03dZ] " + prefix.replace("%", "%%") + "%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(level_name, logging.INFO))
    for noisy in ("azure", "httpx", "httpcore", "httpx2", "httpcore2", "urllib3", "openai"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
