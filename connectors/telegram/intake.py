"""Where updates come in: our own webhook endpoint or polling loop (decision 18).

Both store an update before Telegram is told it arrived: the webhook answers 200 only once the
update is in the database, and the polling loop moves its offset (which confirms the updates to
Telegram) only after storing them. A replayed update id is stored once and handled once.
The webhook's secret is compared in constant time; a body that is not a plausible update
(not JSON, nested deeper than Telegram ever nests) gets a 400 and is not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

from bot.settings import Settings
from connectors.telegram.delivery import Dispatcher

logger = logging.getLogger(__name__)
POLL_TIMEOUT = 10  # seconds of one long poll (getUpdates)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_BODY = 1_000_000  # bytes: Telegram's updates are far smaller
MAX_DEPTH = 64  # levels of nested objects and arrays: Telegram's updates need about a dozen
WEBHOOK_PATH = "/telegram"


def shallow(payload: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `payload` nests objects and arrays at most `limit` deep (walked without
    recursion: storing and reading a deeper one would overflow Python's stack)."""
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= limit:
                    return False
                stack.append((child, depth + 1))
    return True


def readable(payload: Any) -> bool:
    """An update we can store: a JSON object with an integer update id, not absurdly deep."""
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("update_id"), int)
        and not isinstance(payload.get("update_id"), bool)
        and shallow(payload)
    )


def webhook_app(dispatcher: Dispatcher, secret: str) -> Starlette:
    """The webhook: check the secret, store the update, then answer 200."""
    expected = secret.encode()

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):
            return PlainTextResponse("Forbidden", status_code=403)
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("Too large", status_code=413)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested thousands deep
            return PlainTextResponse("Not an update", status_code=400)
        if not readable(payload):
            return PlainTextResponse("Not an update", status_code=400)
        try:
            fresh = await asyncio.to_thread(dispatcher.store, [payload])
        except Exception as error:  # the database is down: Telegram will deliver it again
            # The type only: a database error's text would carry the update (a message).
            logger.error(
                "Could not store an update (%s); Telegram will retry", type(error).__name__
            )
            return PlainTextResponse("Try again", status_code=503)
        dispatcher.accept(fresh)
        return Response(status_code=200)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, receive, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


async def poll(application: Application, dispatcher: Dispatcher) -> None:
    """Long-poll getUpdates; store each batch before asking for the next (which confirms it)."""
    bot = application.bot
    delay = 1.0
    while True:  # switching from webhook to polling
        try:
            await bot.delete_webhook()
            break
        except InvalidToken:
            raise
        except TelegramError as error:
            logger.warning("Could not reach Telegram (%s); retrying", type(error).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
    offset: int | None = None
    delay = 1.0
    while True:
        try:
            # Raw dicts, not PTB's Update objects: one malformed update must not block the rest.
            raw = await bot.do_api_request(
                "getUpdates",
                api_kwargs={
                    "offset": offset,
                    "timeout": POLL_TIMEOUT,
                    "allowed_updates": list(Update.ALL_TYPES),
                },
                read_timeout=POLL_TIMEOUT + 10,
            )
            items = [item for item in raw or [] if readable(item)]
            if items:
                fresh = await asyncio.to_thread(dispatcher.store, items)
                dispatcher.accept(fresh)
                offset = max(item["update_id"] for item in items) + 1
            delay = 1.0
        except InvalidToken:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as error:  # Telegram or the database unreachable: try again
            logger.warning("Polling failed (%s); retrying in %.0f s", type(error).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def serve(settings: Settings, application: Application) -> None:
    """Run the connector until SIGTERM/SIGINT: intake, dispatcher, alerts and handoff loops."""
    dispatcher = Dispatcher(application)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    upkeep = [
        asyncio.create_task(dispatcher.prune_forever()),
        asyncio.create_task(dispatcher.sweep_forever()),
        asyncio.create_task(dispatcher.claims.renew_forever()),
        asyncio.create_task(dispatcher.erasures_forever()),
    ]
    await dispatcher.recover()
    server: uvicorn.Server | None = None
    if settings.telegram_mode == "webhook":
        assert settings.telegram_webhook_secret is not None
        secret = settings.telegram_webhook_secret.get_secret_value()
        config = uvicorn.Config(
            webhook_app(dispatcher, secret),
            host=settings.telegram_webhook_listen,
            port=settings.telegram_webhook_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        intake = asyncio.create_task(server.serve())
        while not server.started and not intake.done():
            await asyncio.sleep(0.05)
        if not intake.done():  # listening: only now tell Telegram where to deliver
            await application.bot.set_webhook(
                settings.telegram_webhook_url or "",
                secret_token=secret,
                allowed_updates=list(Update.ALL_TYPES),
            )
            logger.info("Webhook listening on %s:%d", config.host, config.port)
    else:
        intake = asyncio.create_task(poll(application, dispatcher))
        logger.info("Polling for updates")
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({intake, stopped}, return_when=asyncio.FIRST_COMPLETED)
    logger.info("Stopping")
    if server is not None:
        server.should_exit = True
    else:
        intake.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await intake
    await dispatcher.stop()
    for task in upkeep:
        task.cancel()
    stopped.cancel()
    if application.post_stop:
        await application.post_stop(application)
    await application.shutdown()
    if application.post_shutdown:
        await application.post_shutdown(application)
    if intake.done() and not intake.cancelled() and intake.exception() is not None:
        raise intake.exception()  # type: ignore[misc]
