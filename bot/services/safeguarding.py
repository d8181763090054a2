"""Safeguarding: recognise messages that signal a crisis (self-harm, abuse, violence) in every
supported language, and the help contacts to give, per country.

Phrases and contacts are data (`config/safeguarding.yml`). Matching is deliberately simple and
errs on the side of caution: a phrase matches on word boundaries, case- and accent-insensitively,
and a trailing `*` matches any word ending ("suicid*" → suicide, suicidal, suicidio). A false
alarm costs a coach a look; a missed crisis costs far more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bot.config import CONFIG_DIR, read
from bot.text import normalise

SAFEGUARDING_FILE = CONFIG_DIR / "safeguarding.yml"
CATEGORIES = ("self_harm", "abuse", "violence")


@dataclass(frozen=True)
class Signal:
    """What a message signalled: the category, and the language whose phrase matched."""

    category: str
    language: str
    phrase: str


@dataclass(frozen=True)
class Contacts:
    """Where a person in one country can get help now."""

    emergency: str
    lines: tuple[tuple[str, str], ...]  # (name, number or address)


def _pattern(phrase: str) -> str:
    words = []
    for word in normalise(phrase.replace("*", " WILDCARD ")).split():
        words.append(r"\w*" if word == "wildcard" else re.escape(word))
    body = r"\s+".join(words).replace(r"\s+\w*", r"\w*")
    return rf"(?<!\w){body}(?!\w)"


class Safeguarding:
    """The crisis phrases of every language and the help contacts of every country."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.phrases: dict[str, dict[str, list[str]]] = config.get("phrases") or {}
        self._patterns: list[tuple[re.Pattern[str], Signal]] = []
        for language, categories in self.phrases.items():
            for category, phrases in (categories or {}).items():
                for phrase in phrases or []:
                    signal = Signal(category, language, phrase)
                    self._patterns.append((re.compile(_pattern(phrase)), signal))
        self._contacts: dict[str, Any] = config.get("contacts") or {}
        self._by_language: dict[str, str] = config.get("country_of_language") or {}

    def detect(self, text: str) -> Signal | None:
        """The crisis a message signals, in any language, or None."""
        normalised = normalise(text)
        if not normalised:
            return None
        for pattern, signal in self._patterns:
            if pattern.search(normalised):
                return signal
        return None

    def contacts(self, country: str | None, language: str | None = None) -> Contacts:
        """Help contacts for `country`; without one, for the country the language suggests;
        else the default (which always names the European emergency number)."""
        guess = country or self._by_language.get(language or "")
        entry = self._contacts.get((guess or "").upper()) or self._contacts["default"]
        lines = tuple((str(line["name"]), str(line["number"])) for line in entry.get("lines", []))
        return Contacts(str(entry.get("emergency", "112")), lines)


@lru_cache
def safeguarding() -> Safeguarding:
    """The configuration of this installation (read once)."""
    return Safeguarding(read(SAFEGUARDING_FILE))
