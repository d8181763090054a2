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


def test_the_dashboard_s_access_log_is_written_with_the_secrets_redacted() -> None:
    """uvicorn's access lines are formatted from the record's arguments: the filter cleans
    them where they stand instead of emptying them (which broke every access line)."""
    import io

    from uvicorn.logging import AccessFormatter

    from bot.logging_setup import RedactingFilter

    secret = "s3cret-token-value"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    handler.addFilter(RedactingFilter([secret]))
    logger = logging.getLogger("uvicorn.access")
    logger.addHandler(handler)
    try:
        logger.warning(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/x?t={secret}", "1.1", 200
        )
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert '127.0.0.1:5000 - "GET /x?t=' in line and " 200" in line
    assert secret not in line and "Logging error" not in line
