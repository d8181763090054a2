"""Handlers: small async functions, one per kind of update."""

from __future__ import annotations

import contextlib
import logging
import time

from telegram import Update
from telegram.constants import ChatType
from telegram.error import NetworkError, TelegramError

from bot.languages import mark_rtl
from bot.messages import text as message_text
from bot.services.broadcasts import is_link_code
from bot.services.plans import SHOW_PLAN
from bot.services.saved_replies import COACH_CHOICE
from connectors.telegram.bridge import Bridge
from connectors.telegram.context import Context

logger = logging.getLogger(__name__)

# Telegram commands → what Rasa receives (intent payloads, so no NLU guesswork).
COMMAND_PAYLOADS = {
    "start": "/greet",
    "help": "/help",
    "language": "/change_language",
    "register": "/register",
    "profile": "/show_profile",
    "alerts": "/subscribe_alerts",
    "coach": "/request_coach",
    "plan": SHOW_PLAN,  # the channel answers it (bot.services.plans), not Rasa
    "mydata": "/export_data",
    "delete": "/delete_data",
    "stop": "/withdraw_consent",
}


def _bridge(context: Context) -> Bridge:
    return context.bot_data.bridge


def _own_text(context: Context, update: Update, key: str) -> str:
    """One of the connector's own messages, in the person's language."""
    return mark_rtl(message_text(key, _bridge(context).language_of(update.effective_user)))


async def on_text(update: Update, context: Context) -> None:
    """Forward a young person's text message to Rasa and send the replies."""
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if message is None or chat is None or user is None or not message.text:
        return
    await _bridge(context).forward(context.bot, chat, user, message.text)


async def on_command(update: Update, context: Context) -> None:
    """A contract command (/start, /help, ...): forward its intent payload to Rasa."""
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if message is None or chat is None or user is None or not message.text:
        return
    command = message.text.split()[0].lstrip("/").split("@")[0].lower()
    if command == "start" and context.args and is_link_code(context.args[0]):
        # A coach's or admin's own link (the dashboard made it): not a young person's chat.
        await _bridge(context).link_staff(context.bot, chat, context.args[0][:64])
        return
    meta = {"command": command}
    if command == "start" and context.args:
        meta["start_payload"] = context.args[0][:64]
    words = " ".join(context.args or [])  # "/start I want to die": the words are screened
    await _bridge(context).forward(
        context.bot, chat, user, COMMAND_PAYLOADS[command], words=words, **meta
    )


async def on_button(update: Update, context: Context) -> None:
    """A tap on an inline button: acknowledge it, then forward its payload to Rasa."""
    query, chat, user = update.callback_query, update.effective_chat, update.effective_user
    if query is None:
        return
    if chat is None or chat.type != ChatType.PRIVATE:
        # A button under a message in a group (the bot's answers never belong there, a data
        # export least of all): stop the spinner, do nothing.
        with contextlib.suppress(TelegramError):
            await query.answer()
        return
    payload = _bridge(context).payloads.decode(query.data or "")
    # The spinner on the button: a tap handled again after a restart may be too old to answer.
    with contextlib.suppress(TelegramError):
        if payload is None or user is None:
            await query.answer(_own_text(context, update, "button_expired"))
        else:
            await query.answer()
    if payload is None or user is None:
        return
    if payload.startswith(COACH_CHOICE):
        # A button a coach put under their message: the person's answer, in the coach's
        # conversation (it does not end it, as the bot's buttons do); screened like words.
        answer = payload.removeprefix(COACH_CHOICE)
        await _bridge(context).forward(context.bot, chat, user, answer, via="coach_button")
        return
    # A payload is ours, not the person's words: it is not screened for a crisis.
    await _bridge(context).forward(context.bot, chat, user, payload, words="", via="button")


async def on_other_message(update: Update, context: Context) -> None:
    """Stickers, photos, voice, documents, locations…: say that only text is read (a caption
    that signals a crisis gets help instead)."""
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if chat is None:
        return
    if message is not None and message.caption and user is not None:
        bridge = _bridge(context)
        if await bridge.screen(context.bot, chat, user, message.caption, caption=True):
            return
    await context.bot.send_message(chat.id, _own_text(context, update, "non_text"))


async def on_edited(update: Update, context: Context) -> None:
    """An edited message: not sent to Rasa again, but new words that signal a crisis get help."""
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if message is None or chat is None or user is None:
        return
    words = message.text or message.caption
    if words:
        await _bridge(context).screen(context.bot, chat, user, words, edited=True)


async def on_group_message(update: Update, context: Context) -> None:
    """Anything in a group: say once that the bot works in private chats only, then leave (what
    people say there is not private; a young person's answers never belong there)."""
    message, chat = update.effective_message, update.effective_chat
    if chat is None or chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return
    left = context.bot_data.left_groups
    written = message.date.timestamp() if message is not None else time.time()
    if written <= left.get(chat.id, float("-inf")):
        return  # written before the bot left (handled late): the note was given already
    await context.bot.send_message(chat.id, _own_text(context, update, "group_chat"))
    with contextlib.suppress(TelegramError):  # already removed: nothing to leave
        await context.bot.leave_chat(chat.id)  # (the connector's bot: after the note is sent)
    left[chat.id] = time.time()


async def on_error(update: object, context: Context) -> None:
    """Log the error (never the message text) and apologise to the person, if there is one."""
    if isinstance(context.error, NetworkError) and not isinstance(update, Update):
        # Telegram unreachable while polling: PTB retries; one line is enough.
        logger.warning("Telegram is unreachable (%s); retrying", context.error)
        return
    logger.error("Error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(
                update.effective_chat.id, _own_text(context, update, "rasa_down")
            )
        except Exception:  # the error may be Telegram itself being unreachable
            logger.warning("Could not send the apology either", exc_info=True)
