"""Building the python-telegram-bot Application: the bot, handlers, rate limits, background
loops. Updates reach it through our own intake (`intake.py`), not PTB's Updater."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from telegram import BotCommand, BotCommandScopeAllPrivateChats
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.db.session import in_transaction, session_factory
from bot.messages import text, translations
from bot.services.campaigns import remember_bot_username
from bot.services.people import now
from bot.settings import SUPPORTED_LANGUAGES, Settings
from connectors.rasa.client import RasaClient
from connectors.rasa.events import RasaEvents
from connectors.records import Records
from connectors.telegram import handlers
from connectors.telegram.alerts import AlertSender, alert_bot
from connectors.telegram.bridge import Bridge
from connectors.telegram.bulk import BulkSender
from connectors.telegram.callbacks import PayloadStore
from connectors.telegram.claims import Claims
from connectors.telegram.coaching import Coaching
from connectors.telegram.context import CONTEXT_TYPES, ConnectorApplication
from connectors.telegram.intake import POLL_TIMEOUT, serve
from connectors.telegram.turn import ConnectorBot

logger = logging.getLogger(__name__)


async def register_commands(application: Application) -> None:
    """`setMyCommands` in every language that has command descriptions (and a default)."""
    described = {
        language
        for name in handlers.COMMAND_PAYLOADS
        for language in translations(f"commands.{name}")
    }
    for language in (None, *SUPPORTED_LANGUAGES):
        if language and language not in described:
            continue
        commands = [
            BotCommand(name, text(f"commands.{name}", language or "en"))
            for name in handlers.COMMAND_PAYLOADS
        ]
        await application.bot.set_my_commands(
            commands, scope=BotCommandScopeAllPrivateChats(), language_code=language
        )


def build_application(settings: Settings, rasa: RasaClient | None = None) -> ConnectorApplication:
    """The connector: one shared Rasa client, handlers, per-chat ordering, rate limiting."""
    assert settings.telegram_bot_token is not None and settings.pseudonym_key is not None
    assert settings.rasa_token is not None
    rasa = rasa or RasaClient(
        settings.rasa_url, settings.rasa_token.get_secret_value(), settings.rasa_timeout_seconds
    )
    sessions = session_factory(settings.database_url)
    claims = Claims(sessions)
    payloads = PayloadStore(sessions)
    coaching = Coaching(
        rasa,
        sessions,
        payloads,
        settings.handoff_timeout_seconds,
        settings.handoff_poll_seconds,
    )
    bridge = Bridge(
        rasa,
        payloads,
        settings.pseudonym_key.get_secret_value(),
        Records(
            sessions,
            RasaEvents(settings.tracker_store_url),
            settings.secret_key.get_secret_value() if settings.secret_key else None,
        ),
        settings.default_language,
        coaching,
    )
    ahead = dt.timedelta(days=settings.clock_offset_days)  # tests and demonstrations only
    alerts = AlertSender(sessions, bridge.payloads, settings, clock=lambda: now() + ahead)
    checkins = BulkSender(
        sessions,
        bridge.payloads,
        alerts,
        offered=lambda sender, buttons: bridge.choices.remember(sender, [{"buttons": buttons}]),
        clock=lambda: now() + ahead,
    )

    async def post_init(application: ConnectorApplication) -> None:
        try:
            await register_commands(application)
        except TelegramError as error:  # cosmetic: the commands menu; never stop for it
            logger.warning("Could not register the commands menu (%s)", type(error).__name__)
        try:  # for the campaigns' deep links (the dashboard shows them)
            username = application.bot.username
            await asyncio.to_thread(in_transaction, sessions, remember_bot_username, username)
        except Exception:  # getMe's answer missing: the links wait for the next start
            logger.warning("Could not keep the bot's username for the campaign links")
        sender = application.bot_data.alert_bot = alert_bot(settings)
        with contextlib.suppress(TelegramError):  # its get_me; sending does not need it
            await sender.initialize()
        application.bot_data.tasks = [
            # Scheduled rounds: by one replica at a time, the one holding their claim
            asyncio.create_task(
                alerts.run_forever(sender, then=checkins.round, gate=claims.leading)
            ),
            asyncio.create_task(coaching.run_forever(gate=claims.leading)),
        ]

    async def post_stop(application: ConnectorApplication) -> None:
        shared = application.bot_data
        tasks, shared.tasks = shared.tasks, []
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if shared.alert_bot is not None:
            sender, shared.alert_bot = shared.alert_bot, None
            await sender.shutdown()

    async def post_shutdown(application: ConnectorApplication) -> None:
        await rasa.close()

    limiter: AIORateLimiter | None = None
    if settings.telegram_rate_limit > 0:
        limiter = AIORateLimiter(overall_max_rate=settings.telegram_rate_limit, max_retries=3)
    bot = ConnectorBot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.telegram_api_base_url.replace("/bot", "/file/bot"),
        request=HTTPXRequest(connection_pool_size=128, pool_timeout=30),
        get_updates_request=HTTPXRequest(connection_pool_size=2, read_timeout=POLL_TIMEOUT + 10),
        rate_limiter=limiter,
    )
    builder = (
        Application.builder()
        .bot(bot)
        .updater(None)  # updates come from our own intake (connectors/telegram/intake.py)
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .context_types(CONTEXT_TYPES)
    )
    application = builder.build()
    application.bot_data.bridge_ = bridge
    application.bot_data.sessions_ = sessions
    application.bot_data.claims_ = claims

    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE  # edits: `on_edited`
    application.add_handler(
        CommandHandler(list(handlers.COMMAND_PAYLOADS), handlers.on_command, filters=private)
    )
    application.add_handler(
        MessageHandler(private & filters.TEXT & ~filters.COMMAND, handlers.on_text)
    )
    application.add_handler(CallbackQueryHandler(handlers.on_button))  # private chats only
    application.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & filters.UpdateType.EDITED_MESSAGE, handlers.on_edited
        )
    )  # screened for a crisis, not sent to Rasa again
    application.add_handler(
        MessageHandler(
            filters.ChatType.GROUPS & filters.UpdateType.MESSAGE, handlers.on_group_message
        )
    )
    application.add_handler(MessageHandler(private & ~filters.TEXT, handlers.on_other_message))
    application.add_handler(
        MessageHandler(private & filters.COMMAND, handlers.on_text)
    )  # an unknown /command goes to Rasa like any text
    application.add_error_handler(handlers.on_error)
    return application


def run(settings: Settings) -> None:
    """Run the connector until stopped, by polling or as a webhook server."""
    if settings.telegram_mode == "webhook" and (
        not settings.telegram_webhook_url or settings.telegram_webhook_secret is None
    ):
        raise SystemExit("Webhook mode needs TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET.")
    asyncio.run(serve(settings, build_application(settings)))
