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


class RedactingFilter(logging.Filter):
    """For handlers set up by others (uvicorn's, rasa-sdk's): the record's message and
    traceback are formatted here, with every secret replaced, before any formatter sees them."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [secret for secret in secrets if secret and len(secret) >= 6]
        self._formatter = logging.Formatter()

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # uvicorn's access formatter reads the request's parts from the arguments
            # (address, method, path, version, status): each is cleaned where it stands.
            record.args = tuple(
                self._clean(part) if isinstance(part, str) else part for part in record.args
            )
        else:
            record.msg, record.args = self._clean(record.getMessage()), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


def redact_everywhere(secrets: Iterable[str]) -> None:
    """Add the redacting filter to every handler there is (the root logger's and those of
    loggers that do not propagate, like uvicorn's or Sanic's)."""
    redacting = RedactingFilter(list(secrets))
    loggers = [logging.getLogger(), *(
        item for item in logging.root.manager.loggerDict.values()
        if isinstance(item, logging.Logger)
    )]  # fmt: skip
    for logger in loggers:
        for handler in logger.handlers:
            for earlier in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(earlier)
            handler.addFilter(redacting)


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
