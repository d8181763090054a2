"""Text normalisation shared by search, matching and storage: case- and accent-insensitive."""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalise(text: str) -> str:
    """Lower-case, strip accents and punctuation, collapse spaces: "Iași-Nord!" → "iasi nord"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", stripped).replace("_", " ").split())


def ngrams(words: list[str], max_len: int = 4) -> list[str]:
    """Every run of 1..max_len consecutive words, longest first (so "web design" beats "web")."""
    found: list[str] = []
    for size in range(min(max_len, len(words)), 0, -1):
        found.extend(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))
    return found
