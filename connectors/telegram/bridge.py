"""The bridge between one Telegram chat and the Rasa server: pseudonymise, forward, render."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import Bot, Chat, User
from telegram.constants import ChatAction, ParseMode

from bot.messages import text as message_text
from bot.pseudonym import pseudonym
from bot.rasa_client import RasaClient, RasaUnavailable
from connectors.telegram.callbacks import PayloadStore
from connectors.telegram.render import render_replies

logger = logging.getLogger(__name__)
MAX_INPUT = 1000  # characters of one message passed to the NLU
TYPING_AFTER = 1.0  # seconds: show "typing…" only when Rasa is not answering at once
TYPING_EVERY = 4.5  # Telegram shows the indicator for about 5 seconds


def telegram_language(user: User | None) -> str:
    """The base language of a Telegram user's app ("pt-br" → "pt"), English if unknown."""
    return ((user.language_code if user else None) or "en").split("-")[0]


class Bridge:
    """Forwards a person's messages to Rasa and sends Rasa's replies back."""

    def __init__(self, rasa: RasaClient, payloads: PayloadStore, secret_key: str) -> None:
        self.rasa = rasa
        self.payloads = payloads
        self._secret_key = secret_key

    def sender_id(self, user: User) -> str:
        """The pseudonym Rasa knows this person by."""
        return pseudonym(self._secret_key, "tg", user.id)

    async def forward(self, bot: Bot, chat: Chat, user: User, text: str, **meta: Any) -> None:
        """Send `text` to Rasa as this person and deliver the replies to the chat."""
        language = telegram_language(user)
        if len(text) > MAX_INPUT:
            await self.say(bot, chat.id, message_text("too_long", language, limit=MAX_INPUT))
            text = text[:MAX_INPUT]
        metadata = {"language_code": user.language_code, "chat_type": chat.type, **meta}
        sender = self.sender_id(user)
        request = asyncio.ensure_future(self.rasa.send_message(sender, text, metadata))
        typing = asyncio.ensure_future(self._typing(bot, chat.id, request))
        try:
            replies = await request
        except RasaUnavailable as error:
            logger.warning("Rasa did not answer (%s) for sender %s", error, sender)
            await self.say(bot, chat.id, message_text("rasa_down", language))
            return
        finally:
            typing.cancel()
        if not replies:
            # Rasa answers 200 with nothing when an action failed (e.g. the action server is
            # down): never leave the person in silence.
            logger.warning("Rasa sent no reply for sender %s", sender)
            await self.say(bot, chat.id, message_text("rasa_down", language))
            return
        await self.deliver(bot, chat.id, replies)

    async def deliver(self, bot: Bot, chat_id: int, replies: list[dict[str, Any]]) -> None:
        """Send Rasa's replies to a chat, in order."""
        for message in render_replies(replies, self.payloads.encode):
            await bot.send_message(
                chat_id,
                message.text,
                parse_mode=ParseMode.HTML,
                reply_markup=message.keyboard,
                disable_web_page_preview=True,
            )

    async def say(self, bot: Bot, chat_id: int, text: str) -> None:
        """Send one plain message of ours (not from Rasa)."""
        await bot.send_message(chat_id, text)

    async def _typing(self, bot: Bot, chat_id: int, request: asyncio.Future[Any]) -> None:
        """Show "typing…" while Rasa works, unless it answers within TYPING_AFTER seconds."""
        await asyncio.wait({request}, timeout=TYPING_AFTER)
        while not request.done():
            with contextlib.suppress(Exception):
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.wait({request}, timeout=TYPING_EVERY)
