"""A refusal in plain words that a page can show in its reader's language.

The services refuse what they cannot do (an empty step, a date in the past, a country that is
not one) with an exception. Its text is English with named places (`%(name)s`), and the values
apart, so that the dashboard can look the text up in its catalogue of translations
(`dashboard/i18n.py`) and fill in the values afterwards; `str(error)` is the English sentence,
for logs and the command line.

    raise PlanError("A step has at most %(max)d characters; split it into two.", max=200)

The dashboard's message extraction (scripts/dashboard_messages.py) knows the exception classes
by name, so the first argument must be a plain string literal, never an f-string.
"""

from __future__ import annotations

import re
from typing import Any


class Number(int):
    """A number in a refusal's values, written with its thousands grouped: "5,000" in English
    (`str`), and the reader's way where the dashboard shows it ("5.000")."""

    def __str__(self) -> str:
        return f"{int(self):,}"


class Refusal(ValueError):
    """Something a person asked for that cannot be done, said in plain words."""

    def __init__(self, text: str = "", /, **values: Any) -> None:
        self.text = text
        self.values = values
        super().__init__(text % values if values else text)


class Words:
    """Something to show a person that is not a refusal (a warning, what an import row would
    change), translatable the same way: English with named places, and the values apart.
    `str(words)` is the English sentence."""

    __slots__ = ("text", "values")

    def __init__(self, text: str, /, **values: Any) -> None:
        self.text = text
        self.values = values

    def __str__(self) -> str:
        return self.text % self.values if self.values else self.text

    def __repr__(self) -> str:
        return f"Words({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Words) and (self.text, self.values) == (other.text, other.values)

    def __hash__(self) -> int:
        return hash(self.text)


def N_(text: str) -> str:  # noqa: N802 - gettext's name for "marked, translated where shown"
    """Mark a text for the dashboard's catalogue without translating it here."""
    return text


_PLACE = re.compile(r"%\((\w+)\)[sdif]")


def recognise(shown: str, texts: tuple[str, ...]) -> Words | None:
    """Which of `texts` (English with places) `shown` was made from, with its values: for a
    text kept as English (a training job's stage in the database) that a page translates."""
    for text in texts:
        pattern, last = "", 0
        for place in _PLACE.finditer(text):
            pattern += re.escape(text[last : place.start()]) + f"(?P<{place.group(1)}>.+?)"
            last = place.end()
        found = re.fullmatch(pattern + re.escape(text[last:]), shown, re.S)
        if found:
            return Words(text, **found.groupdict())
    return None
