"""Secrets never reach the logs, whatever logs them."""

from __future__ import annotations

import logging

from bot.logging_setup import RedactingFormatter

TOKEN = "123456:AAE-secret-token-value"


def test_secrets_are_redacted_from_messages_and_tracebacks() -> None:
    formatter = RedactingFormatter("%(levelname)s %(message)s", [TOKEN, ""])
    try:
        raise RuntimeError(f"GET https://api.telegram.org/bot{TOKEN}/getMe failed")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "url %s", (TOKEN,), sys.exc_info()
        )
    text = formatter.format(record)
    assert TOKEN not in text
    assert text.count("[redacted]") == 2 and "RuntimeError" in text
