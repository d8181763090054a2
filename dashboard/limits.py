"""Limits that hold before any request is parsed.

A form or an upload is read (multipart files spooled to disk) before a route's checks run, so
an anonymous 300 MB POST to /login used to cost disk, memory and CPU before its 403. Here every
request body is refused above `SMALL` bytes (by Content-Length at once, and while it streams
in), except a CSV import by a signed-in user, which may send up to `LARGE` bytes.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard.i18n import _

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
