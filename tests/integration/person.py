"""A simulated young person on Telegram: sends messages and taps buttons through the fake Bot
API, and reads what the bot sent back, as they would see it."""

from __future__ import annotations

import html
import itertools
import re
import time
from typing import Any

from tests.fakes.telegram_api import FakeTelegramAPI

_ids = itertools.count(7_000_001)
SETTLE = 0.4  # seconds to wait for further messages of the same turn


class Person:
    """One person in a private chat with the bot."""

    def __init__(self, api: FakeTelegramAPI, language_code: str = "en", first_name: str = "Alex"):
        self.api = api
        self.user_id = next(_ids)
        self.language_code = language_code
        self.first_name = first_name

    def seen(self) -> list[dict[str, Any]]:
        """Every message the bot sent to this person."""
        return self.api.sent_messages(self.user_id)

    def _await_replies(self, before: int, replies: int, timeout: float) -> list[dict[str, Any]]:
        self.api.wait_for_messages(self.user_id, before + replies, timeout=timeout)
        count = len(self.seen())
        while True:  # let the rest of this turn arrive
            time.sleep(SETTLE)
            if len(self.seen()) == count:
                break
            count = len(self.seen())
        return self.seen()[before:]

    def say(self, text: str, replies: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        """Send a text and return the bot's replies to it."""
        before = len(self.seen())
        self.api.push_update(
            self.api.make_text_update(
                self.user_id, text, first_name=self.first_name, language_code=self.language_code
            )
        )
        return self._await_replies(before, replies, timeout)

    def send(
        self, update: dict[str, Any], replies: int = 1, timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Push any update from this person and return the replies."""
        before = len(self.seen())
        self.api.push_update(update)
        return self._await_replies(before, replies, timeout)

    def tap(
        self, replies_so_far: list[dict[str, Any]], title: str, replies: int = 1
    ) -> list[dict[str, Any]]:
        """Tap the button whose text starts with `title` in the latest keyboard that has one."""
        for message in reversed(replies_so_far):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if button["text"].startswith(title):
                        update = self.api.make_callback_update(
                            self.user_id, button["callback_data"], language_code=self.language_code
                        )
                        return self.send(update, replies)
        raise AssertionError(f"no button starting with {title!r} in {buttons(replies_so_far)}")


def text_of(messages: list[dict[str, Any]]) -> str:
    """What the person reads: the texts, unescaped, joined."""
    return "\n".join(html.unescape(str(message.get("text", ""))) for message in messages)


def buttons(messages: list[dict[str, Any]]) -> list[str]:
    """The button labels the person sees, in order."""
    return [
        button["text"]
        for message in messages
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
        for button in row
    ]


def listed_titles(text: str) -> list[str]:
    """The titles in a numbered result list ("1. Title · Provider, City (free)")."""
    return [match.group(1) for match in re.finditer(r"^\d+\. (.+?) · ", text, re.MULTILINE)]
