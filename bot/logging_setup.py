"""Logging for every process: one format, secrets redacted, and the loggers that would print
secrets or personal data quietened."""

from __future__ import annotations

import logging
from collections.abc import Iterable

REDACTED = "[redacted]"


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then replaces every configured secret (exception text included)."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._secrets = [secret for secret in secrets if secret and len(secret) >= 6]

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record with secrets replaced by "[redacted]"."""
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Plain timestamped logs on stderr, with `secrets` (e.g. the bot token) never printed.

    httpx/httpcore stay at WARNING: their request lines carry the bot token in the URL.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)
