"""The languages the assistant speaks (`config/languages.yml`) and how it tells which one a
person writes in: langdetect restricted to those languages, with a fixed seed.

The rule of the conversation language (`follow`): a short or unclear message (“ok”, “hi”,
emoji, a place name) never changes it; a confident detection on a longer message does. A new
conversation starts in the person's stored preference, else their Telegram app's language,
else DEFAULT_LANGUAGE. An explicit choice (/language, the profile) is made by the actions.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import langdetect
import yaml
from langdetect.detector_factory import DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

from bot.text import normalise

LANGUAGES_FILE = Path(__file__).resolve().parent.parent / "config" / "languages.yml"
PROFILES_DIR = Path(langdetect.__file__).resolve().parent / "profiles"

SWITCH_MIN_LETTERS = 15  # a message needs this many letters (and words, below) to switch
SWITCH_MIN_WORDS = 3
SWITCH_MIN_PROBABILITY = 0.90
SEED = 0  # langdetect samples n-grams at random: a fixed seed makes it deterministic

RLM = "\u200f"  # RIGHT-TO-LEFT MARK: starts a line right to left even before emoji or digits
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_NOISE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+|/\w+|[@#]\w+")


@dataclass(frozen=True)
class Language:
    """One supported language."""

    code: str
    name: str  # in itself: "Italiano"
    typed: tuple[str, ...]  # other names people type for it
    rtl: bool


@lru_cache
def _registry() -> dict[str, Language]:
    with LANGUAGES_FILE.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return {
        code: Language(
            code=code,
            name=entry["name"],
            typed=tuple(entry.get("typed") or ()),
            rtl=entry.get("direction") == "rtl",
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


@lru_cache
def _factory() -> DetectorFactory:
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
    """langdetect's best supported language for a message, with what the decision needs."""

    code: str
    probability: float
    letters: int
    words: int

    @property
    def confident(self) -> bool:
        """Long and clear enough to change the conversation's language."""
        if self.code == "ar":  # the script is unambiguous among the supported languages
            return self.letters >= 2
        return (
            self.letters >= SWITCH_MIN_LETTERS
            and self.words >= SWITCH_MIN_WORDS
            and self.probability >= SWITCH_MIN_PROBABILITY
        )


def detect(message: str) -> Detection | None:
    """The most likely supported language of a message, or None when it has no words."""
    words = clean(message)
    letters = sum(1 for char in words if char.isalpha())
    if not letters:
        return None
    arabic = len(_ARABIC.findall(words))
    if arabic * 2 > letters and "ar" in _registry():
        return Detection("ar", 1.0, arabic, len(words.split()))
    detector = _factory().create()
    detector.append(words)
    try:
        ranked = detector.get_probabilities()
    except LangDetectException:
        return None
    best = ranked[0] if ranked else None
    if best is None:
        return None
    return Detection(best.lang, best.prob, letters, len(words.split()))


def follow(
    current: str | None,
    message: str,
    *,
    stored: str | None = None,
    telegram: str | None = None,
    fallback: str = "en",
) -> str:
    """The conversation's language after `message`.

    `current` is the language so far (None for a new conversation), `stored` the person's
    preference from their profile, `telegram` their Telegram app's language code, `fallback`
    the default language.
    """
    detection = detect(message) if message and not message.startswith("/") else None
    if detection is not None and detection.confident:
        return detection.code
    if current in _registry():
        return current
    return supported_code(stored) or supported_code(telegram) or fallback


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
