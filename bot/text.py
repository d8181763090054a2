"""Text shared by search, matching and storage: case- and accent-insensitive normalisation,
and ids read from text (payloads, forms)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


@lru_cache(maxsize=2048)
def normalise(text: str) -> str:
    """Lower-case, strip accents and punctuation, collapse spaces: "Iași-Nord!" → "iasi nord".
    Remembered: one search reads the same message in several places."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", stripped).replace("_", " ").split())


# The Arabic article and the particles glued before it ("للمساعد", "بالمهارات" → "مساعد", "مهارات")
ARABIC_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال")


def without_article(word: str) -> str:
    """An Arabic word without its article and the particles glued before it; other words as
    they are (at least three letters stay)."""
    for prefix in ARABIC_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 3:
            return word[len(prefix) :]
    return word


def bare(phrase: str) -> str:
    """A normalised phrase with every word `without_article`."""
    return " ".join(without_article(word) for word in phrase.split())


def ngrams(words: list[str], max_len: int = 4) -> list[str]:
    """Every run of 1..max_len consecutive words, longest first (so "web design" beats "web")."""
    found: list[str] = []
    for size in range(min(max_len, len(words)), 0, -1):
        found.extend(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))
    return found


_ID = re.compile(r"[0-9]{1,9}")


def parse_id(value: object) -> int | None:
    """A database id from a button payload, a slot or a form field, or None when it is not one.

    Only ASCII digits, at most nine: `str.isdigit` also accepts "²" (which `int` refuses) and
    "١٢" (which `int` reads as 12), and a very long number overflows the database's integer.
    """
    if not isinstance(value, str) or not _ID.fullmatch(value):
        return None
    return int(value)
