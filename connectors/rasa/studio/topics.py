"""Topic words per language (`config/topics.yml`): what the NLU maps to a topic key (through
the synonyms generated at training) and what the search reads in free text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedSeq

from bot.config import CONFIG_DIR
from bot.text import normalise
from connectors.rasa.studio import yamlio
from connectors.rasa.studio.nlu import Conflict, StudioError, version_of

TOPICS_FILE = CONFIG_DIR / "topics.yml"
MAX_WORD = 60


Words = dict[str, dict[str, list[str]]]  # topic key → language → words


class TopicStore:
    """The topics, their labels and their words in every language."""

    def __init__(self, path: Path, languages: Sequence[str]) -> None:
        self.path = path
        self.languages = list(languages)

    def _document(self) -> Any:
        return yamlio.load(self.path)

    def topics(self) -> Words:
        """Topic key → language → words."""
        return self.overview()[0]

    def overview(
        self, language: str = "en"
    ) -> tuple[dict[str, dict[str, list[str]]], dict[str, str]]:
        """Every topic's words per language and its label, from one reading of the file (each
        reading of the round-trip YAML takes a fifth of a second)."""
        topics = self._document().get("topics") or {}
        words = {
            key: {code: [str(w) for w in (spec.get("synonyms") or {}).get(code) or []]
                  for code in self.languages}
            for key, spec in topics.items()
        }  # fmt: skip
        labels = {
            key: str((spec.get("labels") or {}).get(language) or key)
            for key, spec in topics.items()
        }
        return words, labels

    def label(self, key: str, language: str = "en") -> str:
        """A topic's label."""
        spec = (self._document().get("topics") or {}).get(key) or {}
        return str((spec.get("labels") or {}).get(language) or key)

    def version(self, key: str, language: str) -> str:
        """The version of one topic's words in one language."""
        return version_of(self.topics().get(key, {}).get(language, []))

    def save(
        self, key: str, language: str, words: list[str], expected: str
    ) -> tuple[list[str], list[str]]:
        """Replace one topic's words in one language; a word belongs to one topic only."""
        document = self._document()
        topics = document.get("topics") or {}
        if key not in topics:
            raise StudioError("There is no topic '%(key)s'.", key=key)
        if language not in self.languages:
            raise StudioError(
                "'%(language)s' is not a language of the assistant.", language=language
            )
        before = [str(word) for word in (topics[key].get("synonyms") or {}).get(language) or []]
        if version_of(before) != expected:
            raise Conflict(
                "Someone else changed the %(language)s words of %(key)s since you opened them. "
                "Nothing was saved: reload the page to see their change, then redo yours.",
                language=language, key=key,
            )  # fmt: skip
        others = {
            normalise(str(word)): other
            for other, spec in topics.items()
            if other != key
            for words in (spec.get("synonyms") or {}).values()
            for word in words or []
        }
        after: list[str] = []
        for raw in words:
            word = " ".join(raw.split()).lower()
            if not word or word in after:
                continue
            yamlio.check_text(word, "word")
            if len(word) > MAX_WORD:
                raise StudioError(
                    '"%(start)s…" is longer than %(max)d characters.', start=word[:20], max=MAX_WORD
                )
            if normalise(word) in others:
                raise StudioError(
                    '"%(word)s" is already a word of the topic %(topic)s.',
                    word=word, topic=others[normalise(word)],
                )  # fmt: skip
            after.append(word)
        topics[key].setdefault("synonyms", {})[language] = _flow(after)
        _quote_where_needed(topics)
        yamlio.write(self.path, document)
        return before, after


def _flow(words: list[str]) -> CommentedSeq:
    """A list written on one line, like the file's others: [a, b, c], each word quoted only
    where a reader would take it plain for something else ("yes", "12:30", "? q")."""
    seq = CommentedSeq(yamlio.plain_or_quoted(word) for word in words)
    seq.fa.set_flow_style()
    return seq


def _quote_where_needed(topics: Any) -> None:
    """Quote the words of every list that only ruamel (YAML 1.2) reads as strings: a "yes"
    typed into the file by hand would otherwise make every save fail its read-back check."""
    for spec in topics.values():
        for words in ((spec or {}).get("synonyms") or {}).values():
            for index, word in enumerate(words or []):
                if type(word) is str:  # not already a quoted scalar, nor a number
                    words[index] = yamlio.plain_or_quoted(word)
