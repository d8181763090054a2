"""Sending queued alerts: Telegram's limits, quiet hours, blocked bots, and a record of each.

`bot.services.alerts.queue_alerts` queues one delivery per person and new item. This loop, in
the connector (the process that holds the bot), sends what is due:
- at most `ALERT_RATE` messages a second overall (Telegram allows about 30), paced evenly;
- at most one message a second to one chat (Telegram's limit for a private chat);
- nothing during a person's quiet hours (21:00–08:00 in their country's time zone by default):
  those alerts stay queued until morning;
- a 403 (the person blocked the bot) pauses their alerts instead of retrying forever; other
  failures are retried a few times, then given up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot import render
from bot.languages import mark_rtl
from bot.messages import text
from bot.services import alerts
from bot.services.catalogue import get_opportunity
from bot.services.people import now
from bot.settings import Settings
from connectors.telegram.callbacks import PayloadStore
from connectors.telegram.render import keyboard

logger = logging.getLogger(__name__)
ALERT_RATE = 29.0  # messages a second: under Telegram's 30 in any one-second window
PER_CHAT_INTERVAL = 1.0  # seconds between two messages to the same chat


@dataclass
class SendReport:
    """What one round of sending did."""

    sent: int = 0
    blocked: int = 0
    failed: int = 0


class AlertSender:
    """Sends the alerts that are due, respecting Telegram's limits and quiet hours."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        payloads: PayloadStore,
        settings: Settings,
        clock: Callable[[], dt.datetime] = now,
        rate: float = ALERT_RATE,
        per_chat_interval: float = PER_CHAT_INTERVAL,
    ) -> None:
        self.sessions = sessions
        self.payloads = payloads
        self.quiet = (settings.alert_quiet_start, settings.alert_quiet_end)
        self.poll_seconds = settings.alert_poll_seconds
        self.clock = clock
        self.per_chat_interval = per_chat_interval
        # Capacity one, refilled `rate` times a second: an even pace, no initial burst.
        self._limiter = AsyncLimiter(1, 1 / rate)

    async def run_forever(self, bot: Bot) -> None:
        """Send what is due, then look again every `ALERT_POLL_SECONDS`, until cancelled."""
        while True:
            try:
                report = await self.send_due(bot)
                if report.sent or report.blocked or report.failed:
                    logger.info(
                        "Alerts: %d sent, %d to people who blocked the bot, %d failed",
                        report.sent,
                        report.blocked,
                        report.failed,
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Sending alerts failed; trying again later")
            await asyncio.sleep(self.poll_seconds)

    def _due(self) -> list[alerts.DueAlert]:
        with self.sessions.begin() as session:
            return alerts.due_alerts(session, self.clock(), self.quiet)

    async def send_due(self, bot: Bot) -> SendReport:
        """Send every alert due now: chats in parallel, each chat's alerts one a second."""
        report = SendReport()
        by_chat: dict[int, list[alerts.DueAlert]] = defaultdict(list)
        for item in await asyncio.to_thread(self._due):
            by_chat[item.chat_id].append(item)
        await asyncio.gather(*(self._send_chat(bot, items, report) for items in by_chat.values()))
        return report

    async def _send_chat(self, bot: Bot, items: list[alerts.DueAlert], report: SendReport) -> None:
        loop = asyncio.get_running_loop()
        last = -self.per_chat_interval
        for item in items:
            wait = last + self.per_chat_interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._limiter:
                outcome = await self._send_one(bot, item)
            # Counted from the answer, so two messages never reach Telegram less than
            # PER_CHAT_INTERVAL apart, however long the first request took on the way.
            last = loop.time()
            if outcome == "blocked":
                report.blocked += 1
                return  # everything else queued for them is paused too
            if outcome == "sent":
                report.sent += 1
            else:
                report.failed += 1

    def _message(self, item: alerts.DueAlert) -> tuple[str, list[dict[str, str]]] | None:
        with self.sessions.begin() as session:
            view = get_opportunity(session, item.opportunity_id)
            subscription_id = alerts.subscription_of(session, item.delivery_id)
        if view is None:
            return None
        language = item.language
        message = text(
            "alert_message",
            language,
            kind=text(f"kind_singular.{view.kind}", language),
            headline=render.headline(view, language),
        )
        buttons = [
            {
                "title": text("alert_details_button", language),
                "payload": f'/show_details{{"opportunity_id":"{view.id}"}}',
            }
        ]
        if subscription_id is not None:
            buttons.append(
                {
                    "title": text("alert_stop_button", language),
                    "payload": f'/unsubscribe_alerts{{"subscription":"{subscription_id}"}}',
                }
            )
        return mark_rtl(message), buttons

    async def _send_one(self, bot: Bot, item: alerts.DueAlert) -> str:
        content = await asyncio.to_thread(self._message, item)
        if content is None:  # unpublished since it was queued
            await asyncio.to_thread(self._record, alerts.mark_failed, item.delivery_id, "gone", 1)
            return "failed"
        message, buttons = content
        markup = await asyncio.to_thread(keyboard, buttons, self.payloads.encode)
        try:
            await bot.send_message(
                item.chat_id,
                message,
                reply_markup=markup,
                disable_web_page_preview=True,
            )
        except Forbidden:
            await asyncio.to_thread(self._record, alerts.mark_blocked, item.person_id)
            logger.info("Person %d blocked the bot: alerts paused", item.person_id)
            return "blocked"
        except RetryAfter as error:  # left queued; the next round tries again
            delay = error.retry_after
            seconds = delay.total_seconds() if isinstance(delay, dt.timedelta) else float(delay)
            await asyncio.sleep(seconds)
            return "failed"
        except BadRequest as error:  # e.g. the chat no longer exists: no point retrying
            await asyncio.to_thread(
                self._record, alerts.mark_failed, item.delivery_id, str(error), 1
            )
            return "failed"
        except TelegramError as error:
            await asyncio.to_thread(self._record, alerts.mark_failed, item.delivery_id, str(error))
            return "failed"
        await asyncio.to_thread(self._record, alerts.mark_sent, item.delivery_id)
        return "sent"

    def _record(self, change: Callable[..., None], *args: object) -> None:
        with self.sessions.begin() as session:
            change(session, *args)
