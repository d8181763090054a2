"""Topics and places as people write them: loading `config/topics.yml` and `config/places.yml`,
and finding topic keys and place names in free text."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from bot.config import CONFIG_DIR, read, stamp
from bot.text import bare, normalise


@dataclass(frozen=True)
class TopicInfo:
    """One topic: its key, emoji, label per language and synonyms per language."""

    key: str
    emoji: str
    labels: dict[str, str]
    synonyms: dict[str, list[str]]

    def label(self, language: str) -> str:
        """Label in `language`, falling back to English, then to the key."""
        return self.labels.get(language) or self.labels.get("en") or self.key


@dataclass(frozen=True)
class Vocabulary:
    """Every topic, plus lookup tables from normalised words to topic keys and place names."""

    topics: dict[str, TopicInfo]
    topic_words: dict[str, str]
    country_names: dict[str, str]
    place_aliases: dict[str, str]
    # `topic_words` without the Arabic article ("المهارات الرقمية" finds "مهارات رقمية")
    bare_topic_words: dict[str, str] = field(default_factory=dict)
    stopwords: frozenset[str] = field(default_factory=frozenset)
    free_words: frozenset[str] = field(default_factory=frozenset)
    online_words: frozenset[str] = field(default_factory=frozenset)
    uppercase_only: frozenset[str] = field(default_factory=frozenset)
    any_place_words: frozenset[str] = field(default_factory=frozenset)
    any_topic_words: frozenset[str] = field(default_factory=frozenset)
    training_words: frozenset[str] = field(default_factory=frozenset)  # word starts
    job_words: frozenset[str] = field(default_factory=frozenset)  # word starts
    # Each language's own stopwords: a topic word of one language that is a function word of
    # another ("care", Romanian "which") is no topic in a conversation in that other language.
    stopwords_by_language: dict[str, frozenset[str]] = field(default_factory=dict)

    def topic_for(self, word: str) -> str | None:
        """The topic key a word or synonym means ("coding" → "digital"), if any."""
        normalised = normalise(word)
        if normalised in self.topics:
            return normalised
        return self.topic_words.get(normalised) or self.topic_words.get(
            normalised.replace(" ", "_")
        )

    def find_topics(self, text: str, language: str | None = None) -> list[str]:
        """Topic keys mentioned in `text` (written in `language`, if known), in order of
        appearance, each once."""
        words = normalise(text).split()
        function_words = self.stopwords_by_language.get(language or "", frozenset())
        written = set(re.findall(r"\w+", text))
        found: list[tuple[int, str]] = []
        consumed: set[int] = set()
        for size in range(min(4, len(words)), 0, -1):
            for start in range(len(words) - size + 1):
                span = set(range(start, start + size))
                if span & consumed:
                    continue
                phrase = " ".join(words[start : start + size])
                if phrase in self.uppercase_only:
                    if phrase.upper() not in written:  # "IT" is a topic, "it" is not
                        continue
                elif phrase in function_words:
                    continue
                key = self.topic_words.get(phrase) or self.bare_topic_words.get(bare(phrase))
                if key:
                    consumed |= span
                    found.append((start, key))
        return list(dict.fromkeys(key for _, key in sorted(found)))


def _read_yaml(path: Path) -> dict:
    document: dict = read(path)
    return document


def load_vocabulary(config_dir: Path = CONFIG_DIR) -> Vocabulary:
    """Read topics and places from `config_dir`."""
    topics_doc = _read_yaml(config_dir / "topics.yml")
    places_doc = _read_yaml(config_dir / "places.yml")
    topics: dict[str, TopicInfo] = {}
    topic_words: dict[str, str] = {}
    for key, spec in (topics_doc.get("topics") or {}).items():
        synonyms = {
            lang: [str(word) for word in words] for lang, words in spec.get("synonyms", {}).items()
        }
        labels = {lang: str(label) for lang, label in spec.get("labels", {}).items()}
        topics[key] = TopicInfo(key, str(spec.get("emoji", "")), labels, synonyms)
        topic_words[normalise(key)] = key
        for words in [*synonyms.values(), list(labels.values())]:
            for word in words:
                topic_words.setdefault(normalise(word), key)
    country_names = {
        normalise(name): code
        for code, names in (places_doc.get("countries") or {}).items()
        for name in names
    }
    aliases = {normalise(k): normalise(v) for k, v in (places_doc.get("aliases") or {}).items()}
    search_doc = _read_yaml(config_dir / "search.yml")

    def words_of(section: str) -> frozenset[str]:
        by_language = search_doc.get(section) or {}
        return frozenset(normalise(str(word)) for words in by_language.values() for word in words)

    stopwords_by_language = {
        language: frozenset(normalise(str(word)) for word in words)
        for language, words in (search_doc.get("stopwords") or {}).items()
    }
    bare_topic_words: dict[str, str] = {}
    for phrase, key in topic_words.items():
        bare_topic_words.setdefault(bare(phrase), key)
    return Vocabulary(
        topics,
        topic_words,
        country_names,
        aliases,
        bare_topic_words=bare_topic_words,
        stopwords=frozenset().union(*stopwords_by_language.values()),
        free_words=words_of("free_words"),
        online_words=words_of("online_words"),
        any_place_words=words_of("any_place_words"),
        any_topic_words=words_of("any_topic_words"),
        training_words=words_of("training_words"),
        job_words=words_of("job_words"),
        stopwords_by_language=stopwords_by_language,
        uppercase_only=frozenset(normalise(w) for w in search_doc.get("uppercase_only") or []),
    )


_VOCABULARY_FILES = ("topics.yml", "places.yml", "search.yml")


@lru_cache(maxsize=2)
def _vocabulary(config_dir: Path, files: tuple[tuple[str, int, int], ...]) -> Vocabulary:
    return load_vocabulary(config_dir)


def vocabulary() -> Vocabulary:
    """The vocabulary of this process, read from `config/`, and again when a file changes
    (the studio edits topic words while the action server runs)."""
    return _vocabulary(CONFIG_DIR, stamp([CONFIG_DIR / name for name in _VOCABULARY_FILES]))


vocabulary.cache_clear = _vocabulary.cache_clear  # type: ignore[attr-defined]


def place_names(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Every place name the assistant knows before any import: countries in every language,
    aliases, and the sample catalogue's cities and regions."""
    places = _read_yaml(config_dir / "places.yml")
    names = [str(name) for names in (places.get("countries") or {}).values() for name in names]
    names += [str(alias) for alias in places.get("aliases") or {}]
    with (config_dir / "catalogue.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            names += [row[column] for column in ("city", "region") if row.get(column)]
    return names


@lru_cache(maxsize=1)
def known_names() -> frozenset[str]:
    """Place names and topic words, normalised: words that do not tell a message's language."""
    vocab = vocabulary()
    names = {normalise(name) for name in place_names()} | set(vocab.place_aliases.values())
    names |= set(vocab.topic_words) | set(vocab.topics)
    return frozenset(name for name in names if len(name) >= 2)
