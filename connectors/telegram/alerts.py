"""Sending queued alerts: Telegram's limits, quiet hours, blocked bots, and a record of each.

`bot.services.alerts.queue_alerts` queues one delivery per person and new item. This loop, in
the connector (the process that holds the bot), sends what is due:
- at most `ALERT_RATE` messages a second overall (Telegram allows about 30), paced evenly at the
  moment each request leaves: alerts are read and rendered in batches beforehand, so time spent
  in the database never bunches requests together;
- at most one message a second to one chat (Telegram's limit for a private chat);
- a long queue goes out without pauses: the next batch of `BATCH` is read while the last one is
  still being sent;
- and never more than `WINDOW` requests in any one second as Telegram counts them: a request
  is counted from its turn until Telegram answered it, so requests delayed on their way (a busy
  machine, a slow network) cannot arrive bunched together;
- a 429 pauses every alert for Telegram's `retry_after`; then the pace resumes evenly (no burst)
  and the alert is tried again;
- nothing during a person's quiet hours (21:00–08:00 in their country's time zone by default):
  those alerts stay queued until morning;
- a 403 (the person blocked the bot) pauses their alerts instead of retrying forever; other
  failures are retried a few times, in later rounds, then given up.

Alerts go out through a bot of their own (`alert_bot`), without python-telegram-bot's rate
limiter: that limiter retries a 429 itself and then lets every request it held back go at once,
which earns the next 429. Replies to people keep the application's bot and its limiter.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot import render
from bot.db.session import in_transaction
from bot.languages import mark_rtl
from bot.messages import text
from bot.payloads import button, payload
from bot.services import alerts
from bot.services.catalogue import OpportunityView, get_opportunity
from bot.services.people import now
from bot.settings import Settings
from connectors.telegram.callbacks import PayloadStore
from connectors.telegram.render import keyboard

logger = logging.getLogger(__name__)
Followed = Callable[[Bot], Awaitable[object]]
Gate = Callable[[], Awaitable[bool]]  # whether this replica does a scheduled round
ALERT_RATE = 28.6  # messages a second, on average (95% of Telegram's 30 is 28.5)
# What the pace lets through at once: enough to make up for a late wake-up of the event loop
# (which otherwise loses about 1 ms a message), and ALERT_BURST + ALERT_RATE stays within
# Telegram's 30 in any one second (29.8: some room for requests that travel unevenly).
ALERT_BURST = 1.2
# At most this many requests on their way or answered within the last second. Telegram counts
# a message when it arrives, some time between its turn and its answer: so any one second of
# arrivals holds at most WINDOW, however unevenly the requests travel (the even pace alone let
# a busy machine bunch 31 into one second).
WINDOW = 30
PER_CHAT_INTERVAL = 1.0  # seconds between two messages to the same chat
# Alerts read and rendered at once: small batches, as rendering holds the interpreter lock,
# which delays the pace (500 at once earned a 429 at every batch in the fan-out benchmark).
BATCH = 100
READ_ON_BELOW = 60  # read the next batch once fewer chats than this have alerts waiting
MAX_429 = 5  # 429s for one alert before it is left to the next round


def alert_bot(settings: Settings) -> Bot:
    """The bot alerts go out through: `AlertSender` paces it, so it has no PTB rate limiter."""
    assert settings.telegram_bot_token is not None
    return Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=settings.telegram_api_base_url,
        request=HTTPXRequest(connection_pool_size=64, pool_timeout=30),
    )


@dataclass(frozen=True)
class Ready:
    """A due alert, read and rendered (`message` None: the item was unpublished since)."""

    alert: alerts.DueAlert
    message: str | None
    markup: InlineKeyboardMarkup | None


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
        # A leaky bucket of ALERT_BURST messages, `rate` a second: an even pace, no burst.
        self._limiter = AsyncLimiter(ALERT_BURST, ALERT_BURST / rate)
        self._resume_at = 0.0  # loop time before which nothing is sent (Telegram's 429)
        self._travelling = 0  # requests that had their turn and have no answer yet
        self._answered: deque[float] = deque()  # loop times of answers within the last second
        self._last_to_chat: dict[int, float] = {}  # loop time of each chat's last answer

    async def run_forever(
        self, bot: Bot, then: Followed | None = None, gate: Gate | None = None
    ) -> None:
        """Send what is due, then look again every `ALERT_POLL_SECONDS`, until cancelled.
        `then`: more paced work after each round (check-ins and broadcasts), on the same pace:
        one round after the other, so together they never go beyond Telegram's limit.
        `gate`: whether this replica does the round (one replica does: decision 26)."""
        while True:
            if gate is not None and not await gate():
                await asyncio.sleep(self.poll_seconds)
                continue
            if then is not None:
                try:
                    await then(bot)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("Sending check-ins and broadcasts failed; trying again later")
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

    async def send_due(self, bot: Bot) -> SendReport:
        """Send every alert due now: chats side by side, each chat's alerts one a second and in
        order, all of them on one even pace; reads on, a batch at a time, until none is due."""
        report = SendReport()
        moment = asyncio.get_running_loop().time()
        self._last_to_chat = {
            chat: last
            for chat, last in self._last_to_chat.items()
            if moment - last < self.per_chat_interval
        }
        waiting: dict[int, deque[Ready]] = {}  # chat → its alerts not yet sent
        blocked: set[int] = set()
        after = 0
        async with asyncio.TaskGroup() as group:
            while True:
                batch = await asyncio.to_thread(self._prepare, after)
                for ready in batch:
                    chat = ready.alert.chat_id
                    if chat in blocked:
                        continue
                    if chat in waiting:  # its sender is still at work: it takes this one too
                        waiting[chat].append(ready)
                    else:
                        waiting[chat] = deque([ready])
                        group.create_task(self._send_chat(bot, chat, waiting, blocked, report))
                if len(batch) < BATCH:
                    break
                after = batch[-1].alert.delivery_id
                while len(waiting) >= READ_ON_BELOW:
                    await asyncio.sleep(0.1)
        return report

    def _prepare(self, after: int) -> list[Ready]:
        """The next batch of due alerts (numbered above `after`), with their texts and buttons,
        read in one transaction; long button payloads stored in one more."""
        with self.sessions.begin() as session:
            due = alerts.due_alerts(session, self.clock(), self.quiet, limit=BATCH, after=after)
            subscriptions = alerts.subscriptions_of(session, [item.delivery_id for item in due])
            views = {key: get_opportunity(session, key) for key in {d.opportunity_id for d in due}}
        contents: dict[int, tuple[str, list[dict[str, str]]]] = {}
        headlines: dict[tuple[int, str], str] = {}
        for item in due:
            view = views[item.opportunity_id]
            if view is not None:
                key = (view.id, item.language)
                if key not in headlines:
                    headlines[key] = self._text(view, item.language)
                buttons = self._buttons(view, item, subscriptions.get(item.delivery_id))
                contents[item.delivery_id] = (headlines[key], buttons)
        data = self.payloads.encode_many(
            button["payload"] for _, buttons in contents.values() for button in buttons
        )
        batch = []
        for item in due:
            if item.delivery_id not in contents:
                batch.append(Ready(item, None, None))
                continue
            message, buttons = contents[item.delivery_id]
            batch.append(Ready(item, message, keyboard(buttons, data.__getitem__)))
        return batch

    @staticmethod
    def _text(view: OpportunityView, language: str) -> str:
        message = text(
            "alert_message",
            language,
            kind=text(f"kind_singular.{view.kind}", language),
            headline=render.headline(view, language),
        )
        return mark_rtl(message)

    @staticmethod
    def _buttons(
        view: OpportunityView, item: alerts.DueAlert, subscription_id: int | None
    ) -> list[dict[str, str]]:
        buttons = [
            button(
                text("alert_details_button", item.language),
                payload("show_details", opportunity_id=str(view.id)),
            )
        ]
        if subscription_id is not None:
            buttons.append(
                button(
                    text("alert_stop_button", item.language),
                    payload("unsubscribe_alerts", subscription=str(subscription_id)),
                )
            )
        return buttons

    async def _send_chat(
        self,
        bot: Bot,
        chat: int,
        waiting: dict[int, deque[Ready]],
        blocked: set[int],
        report: SendReport,
    ) -> None:
        """Send one chat's alerts in order, at most one a second, until none is left."""
        queue = waiting[chat]
        loop = asyncio.get_running_loop()
        refused = 0  # 429s for the alert at the head of the queue
        while queue:
            last = self._last_to_chat.get(chat, -self.per_chat_interval)
            wait = last + self.per_chat_interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            outcome = await self._send_one(bot, queue[0])
            # Counted from the answer, so two messages never reach Telegram less than
            # PER_CHAT_INTERVAL apart, however long the first request took on the way; kept
            # beyond this task, for the chat's alerts in a later batch.
            self._last_to_chat[chat] = loop.time()
            if outcome == "again":
                refused += 1
                if refused < MAX_429:
                    continue
                outcome = "failed"  # still queued: the next round tries again
            queue.popleft()
            refused = 0
            if outcome == "blocked":
                report.blocked += 1
                blocked.add(chat)  # everything else queued for them is paused too
                break
            if outcome == "sent":
                report.sent += 1
            else:
                report.failed += 1
        del waiting[chat]

    def slow_down(self, delay: dt.timedelta | float) -> None:
        """Telegram answered 429: every paced message waits `delay` (alerts and bulk alike)."""
        seconds = delay.total_seconds() if isinstance(delay, dt.timedelta) else float(delay)
        self._resume_at = max(self._resume_at, asyncio.get_running_loop().time() + seconds)

    async def chat_turn(self, chat: int) -> None:
        """Wait until `chat` may get its next message (one a second)."""
        last = self._last_to_chat.get(chat, -self.per_chat_interval)
        wait = last + self.per_chat_interval - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)

    def chat_done(self, chat: int) -> None:
        """`chat` just got an answer from Telegram (the next one waits a second from now)."""
        self._last_to_chat[chat] = asyncio.get_running_loop().time()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a request's turn on the pace, and count it until its answer has come back
        (around the request; for the bulk sender too)."""
        await self._paced()
        self._travelling += 1  # no await since the window was checked: no other turn between
        try:
            yield
        finally:
            self._travelling -= 1
            self._answered.append(asyncio.get_running_loop().time())

    async def _paced(self) -> None:
        """Wait for this request's turn: after any pause Telegram asked for, on the pace, and
        within the window."""
        loop = asyncio.get_running_loop()
        while True:
            pause = self._resume_at - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            await self._limiter.acquire()
            while (wait := self._window_wait(loop.time())) > 0:
                await asyncio.sleep(wait)
            if self._resume_at <= loop.time():  # no 429 came in while waiting for the turn
                return

    def _window_wait(self, moment: float) -> float:
        """Seconds until one more request fits in the window (0: it fits now)."""
        while self._answered and self._answered[0] <= moment - 1.0:
            self._answered.popleft()
        if self._travelling + len(self._answered) < WINDOW:
            return 0.0
        if self._answered:  # the oldest answer leaves the window
            return self._answered[0] + 1.0 - moment
        return 0.005  # all of them still travelling: look again in a moment

    async def _send_one(self, bot: Bot, ready: Ready) -> str:
        item = ready.alert
        if ready.message is None:  # unpublished since it was queued
            await asyncio.to_thread(
                in_transaction, self.sessions, alerts.mark_failed, item.delivery_id, "gone", 1
            )
            return "failed"
        try:
            async with self.turn():
                await bot.send_message(
                    item.chat_id,
                    ready.message,
                    reply_markup=ready.markup,
                    disable_web_page_preview=True,
                )
        except Forbidden:
            await asyncio.to_thread(
                in_transaction, self.sessions, alerts.mark_blocked, item.person_id
            )
            logger.info("Person %d blocked the bot: alerts paused", item.person_id)
            return "blocked"
        except RetryAfter as error:  # everyone waits; then this alert is tried again
            self.slow_down(error.retry_after)
            return "again"
        except BadRequest as error:  # e.g. the chat no longer exists: no point retrying
            await asyncio.to_thread(
                in_transaction, self.sessions, alerts.mark_failed, item.delivery_id, str(error), 1
            )
            return "failed"
        except TelegramError as error:
            await asyncio.to_thread(
                in_transaction, self.sessions, alerts.mark_failed, item.delivery_id, str(error)
            )
            return "failed"
        await asyncio.to_thread(in_transaction, self.sessions, alerts.mark_sent, item.delivery_id)
        return "sent"
