"""The conversation language, kept by the channel (Telegram or the console) for each sender.

Before each message the channel decides the language (`bot.languages.follow`) and, when it
changes, sets Rasa's `language` slot through the HTTP API, so that the responses of that very
turn are in the new language. Actions that change the language themselves (/language, the
profile) say so with a `{"neetbot": {"language": code}}` reply, which `after_turn` reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from cachetools import LRUCache

from bot import languages
from connectors.rasa.client import RasaClient, RasaUnavailable

logger = logging.getLogger(__name__)


class LanguageKeeper:
    """Remembers each sender's language; asks Rasa (then the profile) about a sender it has not
    seen since it started."""

    def __init__(
        self,
        rasa: RasaClient,
        fallback: str,
        stored: Callable[[str], str | None] | None = None,
        size: int = 50_000,
    ) -> None:
        self.rasa = rasa
        self.fallback = fallback
        self._stored = stored  # a person's preferred language from their profile (blocking)
        self._known: LRUCache[str, str] = LRUCache(maxsize=size)

    def known(self, sender: str, telegram: str | None = None) -> str:
        """The sender's language as far as known now (for the channel's own messages)."""
        return self._known.get(sender) or languages.supported_code(telegram) or self.fallback

    async def before_turn(self, sender: str, text: str, telegram: str | None = None) -> str:
        """The language to answer `text` in; sets Rasa's `language` slot when it changes."""
        current = self._known.get(sender)
        in_rasa: str | None = current
        stored = None
        new = False
        if current is None:
            try:
                in_rasa, new = await self.rasa.slot(sender, "language")
            except RasaUnavailable:
                in_rasa = None  # sending the message will fail too, and say so
            if in_rasa is None and self._stored is not None:
                stored = await asyncio.to_thread(self._safe_stored, sender)
        language = languages.follow(
            in_rasa, text, stored=stored, telegram=telegram, fallback=self.fallback
        )
        if language != in_rasa:
            try:
                await self.rasa.set_slot(sender, "language", language, new=new)
            except RasaUnavailable:
                logger.warning("Could not set the language of sender %s", sender)
                return language
        self._known[sender] = language
        return language

    def after_turn(self, sender: str, requests: dict[str, Any]) -> None:
        """Take note of a language an action chose, or forget an erased conversation."""
        if requests.get("erase_conversation"):
            self._known.pop(sender, None)
        elif languages.supported_code(requests.get("language")):
            self._known[sender] = str(requests["language"])

    def _safe_stored(self, sender: str) -> str | None:
        assert self._stored is not None
        try:
            return self._stored(sender)
        except Exception:  # a preference is a nicety; never fail a message over it
            logger.warning("Could not read the stored language of sender %s", sender)
            return None
