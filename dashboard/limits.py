"""Limits that hold before any request is parsed, and the sign-in attempts per client address.

A form or an upload is read (multipart files spooled to disk) before a route's checks run, so
an anonymous 300 MB POST to /login used to cost disk, memory and CPU before its 403. Here every
request body is refused above `SMALL` bytes (by Content-Length at once, and while it streams
in), except a CSV import by a signed-in user, which may send up to `LARGE` bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from limits import parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard.i18n import _

logger = logging.getLogger(__name__)
SMALL = 64 * 1024  # bytes: every form of the dashboard fits many times over
LARGE = 21 * 1024 * 1024  # the catalogue import (20 MB of CSV, with the multipart envelope)
LARGE_PATHS = ("/admin/catalogue/import",)


class TooLarge(Exception):  # noqa: N818 - an outcome
    """The body went over the limit while it was being read."""


class BodyLimit:
    """ASGI middleware: 413 for a request body over its limit. Runs inside the session
    middleware, so that only a signed-in user's import may be large."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def _limit(self, scope: Scope) -> int:
        session = scope.get("session") or {}
        signed_in = isinstance(session.get("uid"), int)
        return LARGE if signed_in and scope.get("path") in LARGE_PATHS else SMALL

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send)
            return
        received = 0
        exceeded = False
        answered = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise TooLarge
            return message

        async def tracked(message: Message) -> None:
            # A framework may turn the failed read into an answer of its own (FastAPI: 400):
            # the person is told what happened instead.
            nonlocal answered
            if exceeded:
                if not answered:
                    answered = True
                    await _refuse(send)
                return
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except TooLarge:
            if not answered:
                await _refuse(send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Any) -> None:
    body = _("This request is too large.").encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# Per client address (behind the TLS proxy, uvicorn reads it from X-Forwarded-For), whatever the
# usernames tried: a network guessing many names is slowed down too.
PER_ADDRESS = parse("30/10 minutes")


class SignInLimit:
    """The sign-in attempts of each client address (`limits`, a moving window).

    With a Redis (`LOCK_STORE_URL`, the one Rasa's servers share) the count is shared by every
    dashboard replica: behind a load balancer, N replicas counting apart would allow N times
    the attempts. Without one (a single dashboard), it is counted in this process. Redis keeps
    an HMAC of the address, never the address. Should Redis not answer, this process counts
    alone (logged) rather than refuse every sign-in."""

    def __init__(self, secret: str, shared_url: str = "") -> None:
        self._key = secret.encode()
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared = (
            MovingWindowRateLimiter(
                storage_from_string(shared_url, socket_timeout=2, socket_connect_timeout=2)
            )
            if shared_url
            else None
        )

    def hit(self, address: str) -> bool:
        """Count one attempt from `address`; False when it is over the limit."""
        key = hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()[:32]
        if self._shared is not None:
            try:
                return self._shared.hit(PER_ADDRESS, "login", key)
            except Exception as error:  # any failure of the storage: count here
                logger.warning("Sign-in limits: Redis did not answer (%s)", type(error).__name__)
        return self._local.hit(PER_ADDRESS, "login", key)
