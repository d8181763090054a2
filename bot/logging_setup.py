"""Logging for every process: one format, and the loggers that would print secrets quietened."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    """Plain timestamped logs on stderr; httpx/httpcore at WARNING (their request lines carry
    the Telegram bot token in the URL)."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in ("httpx", "httpcore", "telegram.ext.Updater", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)
