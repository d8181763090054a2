"""Sending the outbox (`bot.services.outbox`) to Telegram: a chat's messages in order; network
errors and 429 (after `retry_after`) retried; 403 (the person blocked the bot) drops what is
queued for them and pauses their alerts; 400 drops that one message."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import weakref

from sqlalchemy.orm import Session, sessionmaker
from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot

from bot.db.session import in_transaction
from bot.services import outbox

logger = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 1.0, 15.0  # seconds between attempts on network errors: doubling
SEND_ATTEMPTS = 20  # tries of one outgoing message on errors other than network / 429


def _seconds(delay: dt.timedelta | float) -> float:
    return delay.total_seconds() if isinstance(delay, dt.timedelta) else float(delay)


class Outbox:
    """Sends queued messages, per chat in order, until Telegram accepts or refuses them."""

    def __init__(self, sessions: sessionmaker[Session], bot: ExtBot) -> None:
        self.sessions = sessions
        self.bot = bot
        # Chats whose queue in the database may hold more than what this process has in hand:
        # left by an earlier run (see `Dispatcher.recover`) or by a flush that did not finish.
        # Only the replica holding the chat's claim sends its outbox (decision 26).
        self.unsure: set[int] = set()
        self._flushing: weakref.WeakValueDictionary[int, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def flush(self, chat_id: int, queued: list[outbox.Outgoing] | None = None) -> None:
        """Send everything queued for `chat_id`, in order; returns when the queue is empty.
        `queued`: the messages just queued for it, which are all its queue holds unless the
        chat is `unsure` or another flush of it is at work (then the queue is read from the
        database once that flush is through: it may have sent some of `queued` already)."""
        lock = self._flushing.get(chat_id)
        if lock is None:
            lock = self._flushing[chat_id] = asyncio.Lock()
        contended = lock.locked()
        async with lock:  # one flush at a time per chat (e.g. after a restart)
            if queued is None or contended or chat_id in self.unsure:
                queued = await asyncio.to_thread(
                    in_transaction, self.sessions, outbox.queued, chat_id
                )
            self.unsure.add(chat_id)  # until this flush is through
            for message in queued:
                if not await self._send(message):
                    break  # the chat is gone (blocked): the rest was dropped
            self.unsure.discard(chat_id)

    def flushing(self, chat_id: int) -> bool:
        """Whether a flush of this chat is at work (it reads the queue again when it is
        through, if asked to)."""
        lock = self._flushing.get(chat_id)
        return lock is not None and lock.locked()

    async def _send(self, message: outbox.Outgoing) -> bool:
        """Send one message, retrying as long as that can help; False when the chat is gone."""
        params = dict(message.params)
        markup = params.pop("reply_markup", None)
        if markup is not None:
            params["reply_markup"] = InlineKeyboardMarkup.de_json(markup, self.bot)
        attempts, delay = message.attempts, RETRY_FIRST
        while True:
            try:
                await self.bot.send_message(**params)
            except RetryAfter as error:
                wait = _seconds(error.retry_after)
                logger.warning("Telegram asked to slow down: retrying in %.1f s", wait)
                await asyncio.sleep(wait)
                continue
            except Forbidden:
                dropped = await asyncio.to_thread(
                    in_transaction, self.sessions, outbox.blocked, message.chat_id
                )
                logger.info("A person blocked the bot: %d queued message(s) dropped", dropped)
                return False
            except BadRequest as error:  # this message can never be sent: drop it alone
                logger.warning("Telegram refused a message (%s); dropped", error.message)
                await asyncio.to_thread(in_transaction, self.sessions, outbox.sent, message.id)
                return True
            except NetworkError as error:  # Telegram unreachable (or timed out): keep trying
                logger.warning("Could not reach Telegram (%s); retrying", type(error).__name__)
            except TelegramError as error:
                attempts += 1
                await asyncio.to_thread(in_transaction, self.sessions, outbox.attempted, message.id)
                if attempts >= SEND_ATTEMPTS:
                    logger.error("Giving up a message after %d attempts (%s)", attempts, error)
                    await asyncio.to_thread(in_transaction, self.sessions, outbox.sent, message.id)
                    return True
            else:
                await asyncio.to_thread(in_transaction, self.sessions, outbox.sent, message.id)
                return True
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
