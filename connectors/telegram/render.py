"""Rasa's replies as Telegram messages: escaped HTML text split under Telegram's limit, and
buttons as inline keyboards whose callback data fits in 64 bytes."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot.languages import mark_rtl

MAX_MESSAGE = 4096
MAX_CALLBACK_DATA = 64
MAX_BUTTON_TEXT = 64


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to send: HTML text and an optional inline keyboard."""

    text: str
    keyboard: InlineKeyboardMarkup | None = None


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split plain `text` into chunks whose HTML-escaped length fits `limit`, preferring to
    break between paragraphs, then lines, then words."""
    chunks: list[str] = []
    rest = text
    while len(html.escape(rest)) > limit:
        cut = _cut_point(rest, limit)
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest.strip() or not chunks:
        chunks.append(rest)
    return chunks


def _cut_point(text: str, limit: int) -> int:
    # Longest prefix whose escaped form fits (escaping can only lengthen text).
    low, high = 1, min(len(text), limit)
    while low < high:
        middle = (low + high + 1) // 2
        if len(html.escape(text[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    for separator in ("\n\n", "\n", " "):
        position = text.rfind(separator, 0, low)
        if position > low // 2:
            return position + len(separator)
    return low


def keyboard(
    buttons: list[dict[str, Any]], callback_data: Callable[[str], str]
) -> InlineKeyboardMarkup | None:
    """An inline keyboard, one button per row; `callback_data` maps a payload to <= 64 bytes."""
    rows = []
    for item in buttons:
        title = str(item.get("title") or item.get("payload") or "")[:MAX_BUTTON_TEXT]
        payload = str(item.get("payload") or title)
        if not title:
            continue
        if str(item.get("type")) == "web_url" or payload.startswith(("https://", "http://")):
            rows.append([InlineKeyboardButton(title, url=payload)])
        else:
            rows.append([InlineKeyboardButton(title, callback_data=callback_data(payload))])
    return InlineKeyboardMarkup(rows) if rows else None


def render_replies(
    replies: list[dict[str, Any]], callback_data: Callable[[str], str]
) -> list[OutgoingMessage]:
    """Rasa REST replies → Telegram messages. A reply's buttons go under its last chunk."""
    messages: list[OutgoingMessage] = []
    for reply in replies:
        text = mark_rtl(str(reply.get("text") or ""))  # Arabic lines start right to left
        markup = keyboard(reply.get("buttons") or [], callback_data)
        if not text.strip():
            if markup is None:
                continue  # images and custom payloads: nothing we can show yet
            text = "👇"
        chunks = split_text(text)
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            messages.append(OutgoingMessage(html.escape(chunk), markup if last else None))
    return messages


async def say(bot: Bot, chat_id: int, text: str) -> None:
    """Send one plain message of ours (not from Rasa), right to left where the script is."""
    await bot.send_message(chat_id, mark_rtl(text))
