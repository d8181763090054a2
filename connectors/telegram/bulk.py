"""Sending check-ins and broadcasts (`bot.services.bulk`) on the alerts' pace.

Each round (run by `AlertSender.run_forever` before its alerts, so the two never overlap and
together stay within Telegram's 30 messages a second):
1. the check-ins that fell due are queued (`followups.queue_due`), the reminders of plans and
   appointments (`plans.queue_reminders`), and the broadcasts whose time has come
   (`broadcasts.start_due`);
2. what is queued and not in the person's quiet hours goes out: chats side by side, each at
   most one message a second, every request on the shared pace.

A message is marked `sending` before its request leaves and `sent` once Telegram accepted it;
a process stopped in between leaves it `unsure`, never sent again (`bulk.recover` at start).
A 429 pauses everything for Telegram's `retry_after` and the message goes back in the queue;
a 403 marks the person as having blocked the bot: nothing else is queued or sent to them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.db.session import in_transaction
from bot.services import alerts, broadcasts, bulk, followups, plans
from bot.services.people import now
from connectors.telegram.alerts import AlertSender, SendReport
from connectors.telegram.callbacks import PayloadStore
from connectors.telegram.render import keyboard

logger = logging.getLogger(__name__)
BATCH = 100
CHECKINS_EVERY = 60.0  # seconds between two looks for check-ins that fell due
Offered = Callable[[str, list[dict[str, str]]], None]


class BulkSender:
    """Queues due check-ins and sends check-ins and broadcasts on the alerts' pace."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        payloads: PayloadStore,
        pace: AlertSender,
        offered: Offered | None = None,
        clock: Callable[[], dt.datetime] = now,
    ) -> None:
        self.sessions = sessions
        self.payloads = payloads
        self.pace = pace
        self.offered = offered  # tells the channel which buttons a person was offered
        self.clock = clock
        self._recovered = False
        self._next_checkins = 0.0  # loop time of the next look for check-ins due

    async def round(self, bot: Bot) -> SendReport:
        """One round: queue the check-ins due, then send everything due."""
        if not self._recovered:
            left = await asyncio.to_thread(in_transaction, self.sessions, bulk.recover)
            if left:
                logger.warning("%d check-in or broadcast message(s) were on their way at a stop: "
                               "not sent again", left)  # fmt: skip
            self._recovered = True
        moment = self.clock()
        loop_time = asyncio.get_running_loop().time()
        if loop_time >= self._next_checkins:  # at most once a minute: it reads many people
            self._next_checkins = loop_time + CHECKINS_EVERY
            queued = await asyncio.to_thread(
                in_transaction, self.sessions, followups.queue_due, moment
            )
            if queued:
                logger.info("Check-ins queued: %d", queued)
        # Every round (a few rows at most, by index): two hours before is two hours before.
        reminders = await asyncio.to_thread(
            in_transaction, self.sessions, plans.queue_reminders, moment
        )
        if reminders:
            logger.info("Reminders of plans and appointments queued: %d", reminders)
        started = await asyncio.to_thread(
            in_transaction, self.sessions, broadcasts.start_due, moment
        )
        if started:
            logger.info("Broadcast messages queued: %d", started)
        report = await self.send_due(bot)
        await asyncio.to_thread(in_transaction, self.sessions, broadcasts.finish_sent, self.clock())
        if report.sent or report.blocked or report.failed:
            logger.info(
                "Check-ins and broadcasts: %d sent, %d to people who blocked the bot, %d failed",
                report.sent, report.blocked, report.failed,
            )  # fmt: skip
        return report

    async def send_due(self, bot: Bot) -> SendReport:
        """Send every message due now, a batch at a time, until none is left."""
        report = SendReport()
        after = 0
        while True:
            due = await asyncio.to_thread(self._read, after)
            if not due:
                return report
            by_chat: dict[int, list[bulk.DueMessage]] = defaultdict(list)
            for message in due:
                by_chat[message.chat_id].append(message)
            async with asyncio.TaskGroup() as group:
                for chat, messages in by_chat.items():
                    group.create_task(self._send_chat(bot, chat, messages, report))
            if len(due) < BATCH:
                return report
            after = due[-1].id

    def _read(self, after: int) -> list[bulk.DueMessage]:
        with self.sessions.begin() as session:
            return bulk.due(session, self.clock(), self.pace.quiet, limit=BATCH, after=after)

    async def _send_chat(
        self, bot: Bot, chat: int, messages: list[bulk.DueMessage], report: SendReport
    ) -> None:
        for message in messages:
            await self.pace.chat_turn(chat)
            outcome = await self._send_one(bot, message)
            self.pace.chat_done(chat)
            if outcome == "blocked":
                report.blocked += 1
                return
            if outcome == "sent":
                report.sent += 1
            elif outcome == "failed":
                report.failed += 1

    async def _send_one(self, bot: Bot, message: bulk.DueMessage) -> str:
        data = await asyncio.to_thread(
            self.payloads.encode_many, [item["payload"] for item in message.buttons]
        )
        markup = keyboard(message.buttons, data.__getitem__) if message.buttons else None
        try:
            async with self.pace.turn():
                # Claimed only now, just before the request: a stop while messages wait for
                # their turn leaves them queued (sent after the restart), and only one that may
                # have left is `unsure`.
                claimed = await asyncio.to_thread(
                    in_transaction, self.sessions, bulk.claim, message.id
                )
                if claimed:
                    await bot.send_message(
                        message.chat_id,
                        message.text,
                        reply_markup=markup,
                        disable_web_page_preview=True,
                    )
        except Forbidden:
            await asyncio.to_thread(in_transaction, self.sessions, self._blocked, message)
            return "blocked"
        except RetryAfter as error:  # everyone waits; this one goes back in the queue
            self.pace.slow_down(error.retry_after)
            await asyncio.to_thread(in_transaction, self.sessions, bulk.mark_again, message.id)
            return "again"
        except BadRequest:  # e.g. the chat no longer exists: no point retrying
            await asyncio.to_thread(in_transaction, self.sessions, bulk.mark_failed, message.id, 1)
            return "failed"
        except TelegramError:
            await asyncio.to_thread(in_transaction, self.sessions, bulk.mark_failed, message.id)
            return "failed"
        if not claimed:
            return "skipped"  # cancelled (a broadcast) or taken meanwhile
        await asyncio.to_thread(in_transaction, self.sessions, bulk.mark_sent, message.id)
        if self.offered is not None and message.sender_id and message.buttons:
            self.offered(message.sender_id, message.buttons)  # a typed answer taps one
        return "sent"

    @staticmethod
    def _blocked(session: Session, message: bulk.DueMessage) -> None:
        if message.person_id is not None:
            alerts.mark_blocked(session, message.person_id)
            bulk.mark_blocked(session, message.person_id)
