"""The languages the assistant speaks (`config/languages.yml`) and how it tells which one a
person writes in: langdetect and lingua restricted to those languages, on the words of a
message that are not names (decision 20).

The rule of the conversation language (`follow`): the language already known (the
conversation's, else the profile's, else the Telegram app's) is a prior that a short, mixed or
name-only message ("ok", "hi", emoji, "beekeeping job ljubljana") never overturns; a long,
clear message in another language does. A new conversation with nothing known starts in the
language of its first message if that is clear enough, else DEFAULT_LANGUAGE. An explicit
choice (/language, the profile) is made by the actions.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import langdetect
from langdetect.detector_factory import DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

from bot.config import CONFIG_DIR, read
from bot.text import normalise

LANGUAGES_FILE = CONFIG_DIR / "languages.yml"
PROFILES_DIR = Path(langdetect.__file__).resolve().parent / "profiles"

RLM = "\u200f"  # RIGHT-TO-LEFT MARK: starts a line right to left even before emoji or digits


@dataclass(frozen=True)
class Language:
    """One supported language."""

    code: str
    name: str  # in itself: "Italiano"
    typed: tuple[str, ...]  # other names people type for it
    rtl: bool
    neighbours: tuple[str, ...] = ()  # languages close enough to be told apart only by detail
    stemmer: str | None = None  # Snowball's algorithm for its words (typed answers to buttons)


@lru_cache
def _registry() -> dict[str, Language]:
    data = read(LANGUAGES_FILE)
    return {
        code: Language(
            code=code,
            name=entry["name"],
            typed=tuple(entry.get("typed") or ()),
            rtl=entry.get("direction") == "rtl",
            neighbours=tuple(entry.get("neighbours") or ()),
            stemmer=entry.get("stemmer"),
        )
        for code, entry in data["languages"].items()
    }


def supported() -> tuple[str, ...]:
    """The supported language codes, in the order of config/languages.yml."""
    return tuple(_registry())


def get(code: str) -> Language:
    """One supported language by its code (KeyError if it is not supported)."""
    return _registry()[code]


def self_name(code: str) -> str:
    """A language's name written in itself ("Hrvatski"), or the code if it is unknown."""
    language = _registry().get(code)
    return language.name if language else code


def names_of(code: str) -> list[str]:
    """Every name of a supported language: its own, and the ones people type for it."""
    language = _registry()[code]
    return [language.name, *language.typed]


def supported_code(code: str | None) -> str | None:
    """A supported code from a locale like Telegram's "pt-br" or "it", else None."""
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in _registry() else None


@lru_cache
def _typed_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for language in _registry().values():
        for name in (language.name, language.code, *language.typed):
            names[normalise(name)] = language.code
    return names


def typed_language(answer: str) -> str | None:
    """The language a whole answer names ("italiano", "Hrvatski", "it"), if any."""
    return _typed_names().get(normalise(answer).strip())


def named_in(message: str) -> str | None:
    """The supported language a message names ("in italiano please" → "it"), if exactly one."""
    names = _typed_names()
    words = normalise(message).split()
    found = {names[word] for word in words if word in names and len(word) > 2}
    # Codes alone ("it", "de") are ordinary words in running text, so they do not count here.
    return found.pop() if len(found) == 1 else None


# --- detection -------------------------------------------------------------------------------

SWITCH_MIN_LETTERS = 15  # a message needs this many letters (and words, below) to switch
SWITCH_MIN_WORDS = 3  # distinct words, once names and repeats are taken out
SWITCH_MIN_SCORE = 0.80  # the new language's combined score (with a close runner-up's)
SWITCH_MIN_BEST = 0.55  # and its own
SWITCH_MAX_CURRENT = 0.10  # and the current language's: clear evidence against it
START_MIN_SCORE = 0.60  # a first message, with nothing else known, decides on less
START_MIN_LETTERS = 8
LINGUA_WEIGHT = 0.7  # lingua's share of the combined score (langdetect: the rest); decision 20
SEED = 0  # langdetect samples n-grams at random: a fixed seed makes it deterministic

_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_NOISE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+|/\w+|[@#]\w+")


def clean(message: str) -> str:
    """The words of a message that say something about its language: no links, commands,
    mentions, digits, emoji or punctuation."""
    message = _NOISE.sub(" ", message)
    kept = [
        char if unicodedata.category(char)[0] == "L" or char in "'’-" else " " for char in message
    ]
    return " ".join("".join(kept).split())


@dataclass(frozen=True)
class Detection:
    """What a message says about its language: the best supported language, its combined
    score, every language's score, and how much evidence there was (letters and distinct
    words left once names and repeats are taken out)."""

    code: str
    probability: float
    letters: int
    words: int
    scores: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def confident(self) -> bool:
        """Long and clear enough to change the conversation's language."""
        if self.code == "ar":  # the script is unambiguous among the supported languages
            return self.letters >= 2
        # Close languages (Croatian and Slovenian: `neighbours` in languages.yml) share the
        # evidence: a message that is clearly one of them is clear evidence, and the likelier
        # of them is chosen.
        family = self.probability + sum(
            self.scores.get(code, 0.0) for code in _registry()[self.code].neighbours
        )
        return (
            self.letters >= SWITCH_MIN_LETTERS
            and self.words >= SWITCH_MIN_WORDS
            and self.probability >= SWITCH_MIN_BEST
            and family >= SWITCH_MIN_SCORE
        )


class Detector:
    """langdetect and lingua together, on the words of a message that are not names.

    Place names, topic words ("informatica", "IT") and other names say nothing about the
    language a person writes in ("beekeeping job ljubljana"), so they are taken out first, as
    are repeats ("no no no no" is one word of evidence). langdetect's probabilities are close
    to 0 or 1 even on three letters; lingua's are calibrated and it tells Croatian from
    Slovenian far better, so the score is a weighted mean with lingua's the larger share.
    """

    def __init__(
        self,
        names: frozenset[str] = frozenset(),
        use_lingua: bool = True,
        lingua_weight: float = LINGUA_WEIGHT,
    ) -> None:
        self.names = names
        self._longest = max((len(name.split()) for name in names), default=1)
        self.use_lingua = use_lingua
        self.lingua_weight = lingua_weight

    def evidence(self, message: str) -> list[str]:
        """The words of `message` that speak for its language, each once, in order."""
        words = clean(message).split()
        keys = [normalise(word) for word in words]
        kept: list[str] = []
        position = 0
        while position < len(words):
            for size in range(min(self._longest, len(words) - position), 0, -1):
                if " ".join(keys[position : position + size]) in self.names:
                    position += size
                    break
            else:
                kept.append(words[position])
                position += 1
        return list({word.casefold(): word for word in reversed(kept)}.values())[::-1]

    def detect(self, message: str) -> Detection | None:
        """The most likely supported language of a message, or None when it has no words."""
        words = self.evidence(message)
        text = " ".join(words)
        letters = sum(1 for char in text if char.isalpha())
        if not letters:
            return None
        arabic = len(_ARABIC.findall(text))
        # No other supported language is written in Arabic script: Latin words among Arabic
        # ones are loanwords and names ("نحب نعمل stage في Bruxelles").
        if arabic >= 2 and arabic * 3 >= letters and "ar" in _registry():
            return Detection("ar", 1.0, arabic, len(words), {"ar": 1.0})
        scores = _langdetect_scores(text)
        if self.use_lingua:
            second = _lingua_scores(text)
            scores = {
                code: (1 - self.lingua_weight) * scores.get(code, 0.0)
                + self.lingua_weight * second.get(code, 0.0)
                for code in supported()
            }
        if not scores or max(scores.values()) <= 0:
            return None
        best = max(scores, key=lambda code: scores[code])
        return Detection(best, scores[best], letters, len(words), scores)

    def follow(
        self,
        current: str | None,
        message: str,
        *,
        stored: str | None = None,
        telegram: str | None = None,
        fallback: str = "en",
    ) -> str:
        """The conversation's language after `message`.

        `current` is the language so far (None for a new conversation), `stored` the person's
        preference from their profile, `telegram` their Telegram app's language code,
        `fallback` the default language. The language already known (the current one, else
        the profile's, else Telegram's) changes only on clear evidence against it: a long
        enough message that reads as another language and not as this one.
        """
        known = current if current in _registry() else None
        known = known or supported_code(stored) or supported_code(telegram)
        detection = self.detect(message) if message and not message.startswith("/") else None
        if detection is None:
            return known or fallback
        if known is None:
            opening = detection.letters >= START_MIN_LETTERS or detection.code == "ar"
            if opening and detection.probability >= START_MIN_SCORE:
                return detection.code
            return fallback
        against = detection.scores.get(known, 0.0) <= SWITCH_MAX_CURRENT
        if detection.code != known and detection.confident and against:
            return detection.code
        return known


def _langdetect_scores(text: str) -> dict[str, float]:
    detector = _langdetect_factory().create()
    detector.append(text)
    try:
        ranked = detector.get_probabilities()
    except LangDetectException:
        return {}
    return {item.lang: float(item.prob) for item in ranked}


@lru_cache
def _langdetect_factory() -> DetectorFactory:
    factory = DetectorFactory()
    # A language langdetect has no profile for can still be chosen, just not detected.
    profiles = [
        (PROFILES_DIR / code).read_text(encoding="utf-8")
        for code in supported()
        if (PROFILES_DIR / code).is_file()
    ]
    factory.load_json_profile(profiles)
    factory.seed = SEED
    return factory


def _lingua_scores(text: str) -> dict[str, float]:
    return {
        value.language.iso_code_639_1.name.lower(): float(value.value)
        for value in _lingua().compute_language_confidence_values(text)
    }


@lru_cache
def _lingua() -> Any:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [IsoCode639_1.from_str(code) for code in supported()]
    # The models of the ten languages are loaded once (about 300 MB): a first message must not
    # wait for them.
    return (
        LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        .with_preloaded_language_models()
        .build()
    )


@lru_cache
def detector() -> Detector:
    """The detector of this process: the names of `config/` (places, topic words) left out."""
    from bot.services.vocabulary import known_names  # the vocabulary needs the settings

    return Detector(known_names())


def detect(message: str) -> Detection | None:
    """The most likely supported language of a message (see `Detector.detect`)."""
    return detector().detect(message)


def follow(
    current: str | None,
    message: str,
    *,
    stored: str | None = None,
    telegram: str | None = None,
    fallback: str = "en",
) -> str:
    """The conversation's language after `message` (see `Detector.follow`)."""
    return detector().follow(current, message, stored=stored, telegram=telegram, fallback=fallback)


# --- right to left ---------------------------------------------------------------------------


def is_rtl_text(message: str) -> bool:
    """Whether a text is mostly in a right-to-left script."""
    letters = sum(1 for char in message if char.isalpha())
    return letters > 0 and len(_ARABIC.findall(message)) * 2 > letters


def mark_rtl(message: str) -> str:
    """Start every line of a right-to-left text with a RIGHT-TO-LEFT MARK, so that Telegram lays
    each line out right to left even when it begins with an emoji, a digit or a Latin name."""
    if not is_rtl_text(message):
        return message
    return "\n".join(
        line if not line or line.startswith(RLM) else RLM + line for line in message.split("\n")
    )
