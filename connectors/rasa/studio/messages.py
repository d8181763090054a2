"""The texts the actions and the connector write, per language (`config/messages/<code>.yml`),
edited in the studio next to Rasa's responses: with both, an admin can change every text a
young person sees.

A message is a leaf of the English file, named by its dotted key ("reg_ask.reg_name"). Each
language's text is saved on its own. A save is refused when:
- the text changed since the admin opened it;
- it names other `{fields}` than the English text (the code fills exactly those);
- it holds a character YAML cannot.

The processes read the files again when they change (`bot.messages`).
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from bot.refusal import Number
from connectors.rasa.studio import yamlio
from connectors.rasa.studio.nlu import Conflict, StudioError, version_of

DEFAULT_LANGUAGE = "en"
MAX_TEXT = 4000


def _leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _leaves(value, f"{name}.")
        elif isinstance(value, str):
            yield name, value


def fields_of(text: str) -> set[str]:
    """The `{fields}` a text names; StudioError if its braces do not pair."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        raise StudioError(
            "A brace does not pair: write {field} for a value the assistant fills in, "
            "and {{ or }} for a brace itself."
        ) from None


class MessageStore:
    """The message files in `folder`, one per language."""

    def __init__(self, folder: Path, languages: Sequence[str]) -> None:
        self.folder = folder
        self.languages = list(languages)

    def _path(self, language: str) -> Path:
        return self.folder / f"{language}.yml"

    def texts_in(self, language: str) -> dict[str, str]:
        """Key → text of every message one language has."""
        path = self._path(language)
        return dict(_leaves(yamlio.read(path) or {})) if path.exists() else {}

    def names(self) -> list[str]:
        """Every message's key, in the order of the English file."""
        return list(self.texts_in(DEFAULT_LANGUAGE))

    def texts(self, key: str) -> dict[str, str]:
        """Language → text of one message (only the languages that have it)."""
        if key not in self.texts_in(DEFAULT_LANGUAGE):
            raise StudioError("There is no message '%(key)s'.", key=key)
        found = {code: self.texts_in(code).get(key) for code in self.languages}
        return {code: text for code, text in found.items() if text is not None}

    def version(self, key: str, language: str) -> str:
        """The version of one language's text (also when it does not exist yet)."""
        return version_of(self.texts(key).get(language))

    def missing(self) -> dict[str, list[str]]:
        """Message → the languages it has no text in (English is shown instead)."""
        english = self.texts_in(DEFAULT_LANGUAGE)
        have = {code: self.texts_in(code) for code in self.languages}
        found: dict[str, list[str]] = {}
        for key in english:
            gaps = [code for code in self.languages if key not in have[code]]
            if gaps:
                found[key] = gaps
        return found

    def save(self, key: str, language: str, text: str, expected: str) -> tuple[Any, Any]:
        """Replace (or add) one language's text of message `key`; returns (before, after)."""
        if language not in self.languages:
            raise StudioError(
                "'%(language)s' is not a language of the assistant.", language=language
            )
        english = self.texts(key).get(DEFAULT_LANGUAGE)  # StudioError for an unknown key
        text = text.strip().replace("\r\n", "\n").replace("\r", "\n")
        if not text:
            raise StudioError("The text is empty.")
        yamlio.check_text(text, "text")
        if len(text) > MAX_TEXT:
            raise StudioError("A text has at most %(max)s characters.", max=Number(MAX_TEXT))
        wanted = fields_of(english or "")
        named = fields_of(text)
        if named != wanted:
            if not wanted:
                raise StudioError(
                    "The text must name the same fields as the English one (none): the "
                    "assistant fills in exactly those. Nothing was saved."
                )
            raise StudioError(
                "The text must name the same fields as the English one (%(fields)s): the "
                "assistant fills in exactly those. Nothing was saved.",
                fields=", ".join(f"{{{name}}}" for name in sorted(wanted)),
            )
        path = self._path(language)
        document = (yamlio.load(path) if path.exists() else None) or CommentedMap()
        node = document
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = CommentedMap()
            node = child
        before = node.get(leaf) if isinstance(node.get(leaf), str) else None
        if version_of(before) != expected:
            raise Conflict(
                "Someone else changed the %(language)s text of %(key)s since you opened it. "
                "Nothing was saved: reload the page to see their change, then redo yours.",
                language=language, key=key,
            )  # fmt: skip
        node[leaf] = yamlio.quoted(text)
        yamlio.write(path, document)
        return before, text
