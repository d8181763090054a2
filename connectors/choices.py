"""The buttons each person was last offered, so that a typed answer can tap one.

A channel (Telegram or the console) notes the buttons of each turn's replies; when the person
types instead of tapping and the words name exactly one of those buttons (`bot.choices`),
the button's payload goes to Rasa instead of the words: "in English" answers the language
question, "yes pls" the question to confirm, in every language. The buttons are kept in
memory (a restart forgets them: the typed words then go to the NLU, as before).
"""

from __future__ import annotations

from typing import Any

from cachetools import LRUCache

from bot.choices import aliases_for, closest_choice, typed_choice
from bot.services.followups import is_reach_payload


class OfferedChoices:
    """The buttons of each sender's last turn, by title and payload."""

    def __init__(self, size: int = 50_000) -> None:
        self._offered: LRUCache[str, list[tuple[str, str]]] = LRUCache(maxsize=size)

    def remember(self, sender: str, replies: list[dict[str, Any]]) -> None:
        """Note the buttons of a turn's replies (a turn without any clears them)."""
        buttons = [
            (str(button.get("title") or ""), str(button.get("payload") or ""))
            for reply in replies
            for button in reply.get("buttons") or []
            if button.get("payload") and not str(button.get("payload")).startswith("http")
        ]
        if buttons:
            self._offered[sender] = buttons
        else:
            self._offered.pop(sender, None)

    def forget(self, sender: str) -> None:
        """The person moved on (a command, a button) or was erased."""
        self._offered.pop(sender, None)

    def resolve(self, sender: str, typed: str, language: str | None) -> str | None:
        """The payload of the one offered button the typed words name, if any."""
        offered = self._offered.get(sender)
        if not offered or typed.startswith("/"):
            return None
        titles = [title for title, _ in offered]
        aliases = [aliases_for(payload) for _, payload in offered]
        chosen = typed_choice(typed, titles, language, aliases)
        if chosen is None and all(is_reach_payload(payload) for _, payload in offered):
            # A check-in's question expects words: the closest answer counts.
            chosen = closest_choice(typed, titles, language)
        return None if chosen is None else offered[chosen][1]
