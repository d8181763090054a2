"""Which offered button a typed answer names: "in English", "Deutsch please", "yes pls", "high
school" — in every question that offers buttons, in every language.

A typed answer names an option when every word it says (once the words that carry no choice
are taken out: "please", "I want", "in", "the"... per language, `config/choices.yml`) is a
word of that option's title (or of another name of it: a language button is also named by
"German", "tedesco", "njemački"…), and of no other option. Words are compared as people
type them: without accents, a typo or a repeated letter forgiven ("englsh", "jaaa"), and by
their stem in the conversation's language (Snowball: "registration" is "registering",
"salto" is "saltar"). A filler that is itself a word of a button ("please" in "Yes, please")
is kept, but a thank-you or a please alone names nothing ("thanks" is not "No thanks";
`polite` in the same file). An answer that says more than an option ("a job in Split") names
none: it goes to the NLU, which keeps the place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Any

import snowballstemmer

from bot import languages
from bot.config import CONFIG_DIR, read
from bot.text import normalise, without_article

CHOICES_FILE = CONFIG_DIR / "choices.yml"
TYPO_FROM = 5  # letters: from this length on, a word may differ from the title's by a typo
TYPO_RATIO = 0.8
PREFIX_FROM = 4  # "wait" names "waiting", "mar" does not name "martes"
_REPEATS = re.compile(r"(\w)\1+")
_ARABIC_FORMS = str.maketrans({"ى": "ي", "ة": "ه", "ـ": None, "ء": None})
_PAYLOAD_ENTITIES = re.compile(r"^/\w+(\{.*\})$")


@lru_cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = read(CHOICES_FILE)
    return document


@lru_cache
def _lists(section: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Language (or "any") → the phrases of a section (`fillers`, `polite`) as word tuples."""
    found: dict[str, tuple[tuple[str, ...], ...]] = {}
    for language, phrases in (_document().get(section) or {}).items():
        found[str(language)] = tuple({tuple(_words(str(p))) for p in phrases or []} - {()})
    return found


def _phrases(section: str, language: str | None) -> list[tuple[str, ...]]:
    """The phrases of `section` for `language` and for any language, longest first."""
    lists = _lists(section)
    return sorted((*lists.get(language or "", ()), *lists.get("any", ())), key=len, reverse=True)


@lru_cache
def _forms() -> dict[str, dict[str, str]]:
    """Language → word forms a stemmer cannot relate to a button's word ("sigo" → "seguir")."""
    return {
        str(language): {
            " ".join(_words(str(k))): " ".join(_words(str(v))) for k, v in forms.items()
        }
        for language, forms in (_document().get("forms") or {}).items()
    }


@lru_cache(maxsize=16)
def _stemmer(language: str | None) -> Any:
    name = languages.get(language).stemmer if language in languages.supported() else None
    return snowballstemmer.stemmer(name) if name else None


def _words(text: str) -> list[str]:
    return [without_article(word) for word in normalise(text).translate(_ARABIC_FORMS).split()]


def _without_fillers(words: list[str], language: str | None, keep: set[str]) -> list[str]:
    return _without_phrases(words, _phrases("fillers", language), keep)


def _without_phrases(words: list[str], phrases: list[tuple[str, ...]], keep: set[str]) -> list[str]:
    """`words` without the `phrases` in them, except one-word phrases in `keep`."""
    kept: list[str] = []
    position = 0
    while position < len(words):
        for phrase in phrases:
            if len(phrase) == 1 and phrase[0] in keep:
                continue  # "yes" says which button when a button says "Yes"
            if tuple(words[position : position + len(phrase)]) == phrase:
                position += len(phrase)
                break
        else:
            kept.append(words[position])
            position += 1
    return kept


def _same(typed: str, word: str, stemmer: Any) -> bool:
    if typed == word or _REPEATS.sub(r"\1", typed) == _REPEATS.sub(r"\1", word):
        return True
    if stemmer is not None and min(len(typed), len(word)) >= 3:
        ours, theirs = sorted((stemmer.stemWord(typed), stemmer.stemWord(word)), key=len)
        # The same stem, or one a longer form of the other ("nastav", "nastavlja")
        if ours == theirs or (len(ours) >= TYPO_FROM and theirs.startswith(ours)):
            return True
    if len(typed) >= PREFIX_FROM and word.startswith(typed):
        return True
    if min(len(typed), len(word)) < TYPO_FROM or abs(len(typed) - len(word)) > 2:
        return False  # a typo, not another word that contains this one
    return SequenceMatcher(None, typed, word).ratio() >= TYPO_RATIO


def typed_choice(
    typed: str,
    titles: Sequence[str],
    language: str | None = None,
    aliases: Sequence[Sequence[str]] | None = None,
) -> int | None:
    """The index of the one title (with its `aliases`: other names of the same option) that a
    typed answer names, or None."""
    said = _words(typed)
    if not said or not titles:
        return None
    names = [
        [_words(name) for name in [title, *(aliases[index] if aliases else ())]]
        for index, title in enumerate(titles)
    ]
    exact = [index for index, own in enumerate(names) if said in own]
    if len(exact) == 1:
        return exact[0]
    keep = {word for own in names for name in own for word in name}
    forms = _forms().get(language or "", {})
    said = [word if word in keep else forms.get(word, word) for word in said]
    meant = _without_fillers(said, language, keep)
    if not _without_phrases(meant, _phrases("polite", language), set()):
        return None  # a thank-you or a please alone chooses nothing: "thanks" is not "No thanks"
    stemmer = _stemmer(language)
    named = [
        index
        for index, own in enumerate(names)
        if any(
            all(any(_same(word, mine, stemmer) for mine in name) for word in meant)
            for name in own
            if name
        )
    ]
    return named[0] if len(named) == 1 else None


def closest_choice(typed: str, titles: Sequence[str], language: str | None = None) -> int | None:
    """For a question that expects an answer in words ("What are you doing now?"): the title
    that shares the most words with the typed answer ("lavoro in un hotel" → "💼 Lavoro"), if
    exactly one shares the most; None when no title shares a word, or two share as many."""
    said = _words(typed)
    if not said or not titles:
        return None
    names = [_words(title) for title in titles]
    forms = _forms().get(language or "", {})
    # Small words ("a", "un", "in") and fillers count for nothing here, even inside a title.
    meant = [forms.get(word, word) for word in _without_fillers(said, language, set())]
    meant = [word for word in meant if len(word) > 2]
    stemmer = _stemmer(language)
    scores = [
        sum(1 for word in meant if any(_same(word, mine, stemmer) for mine in name))
        for name in names
    ]
    best = max(scores)
    if best == 0 or scores.count(best) > 1:
        return None
    return scores.index(best)


def aliases_for(payload: str) -> list[str]:
    """Other names of a button, from its payload: a language button (`{"language": "de"}` or
    `{"choice": "de"}`) is also named by that language's names in every language."""
    match = _PAYLOAD_ENTITIES.match(payload)
    if not match:
        return []
    try:
        entities = json.loads(match[1])
    except ValueError:
        return []
    if not isinstance(entities, dict):
        return []
    for value in (entities.get("language"), entities.get("choice")):
        code = languages.supported_code(str(value)) if isinstance(value, str) else None
        if code is not None and value == code:
            return languages.names_of(code)
    return []
