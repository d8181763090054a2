"""The assistant's responses per language, read from and written to the domain files.

A response has one variation per language: English without a condition (Rasa's default), the
others with `condition: [{type: slot, name: language, value: xx}]`. Texts and buttons are
edited per language; a save is refused if the variation changed since the admin opened it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.refusal import Number
from connectors.rasa.studio import yamlio
from connectors.rasa.studio.nlu import Conflict, StudioError, version_of

DEFAULT_LANGUAGE = "en"
MAX_TEXT = 4000
MAX_BUTTONS = 10


@dataclass
class Variation:
    """One language's text and buttons of a response."""

    text: str = ""
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (title, payload)

    def as_value(self) -> dict[str, Any]:
        """What the audit log and versions compare."""
        return {"text": self.text, "buttons": [list(button) for button in self.buttons]}


def _language_of(item: Any) -> str | None:
    """The language a variation is for (None: the default, English)."""
    for condition in item.get("condition") or []:
        if condition.get("name") == "language":
            return str(condition.get("value"))
    return None


def _variation(item: Any) -> Variation:
    buttons = [
        (str(b.get("title", "")), str(b.get("payload", ""))) for b in item.get("buttons") or []
    ]
    return Variation(str(item.get("text") or ""), buttons)


class ResponseStore:
    """The responses of one Rasa project's domain."""

    def __init__(self, project: Path, languages: Sequence[str]) -> None:
        self.project = project
        self.languages = list(languages)

    def _files(self) -> list[Path]:
        return sorted((self.project / "domain").glob("*.yml"))

    def _find(self, name: str, load: Callable[[Path], Any] = yamlio.read) -> tuple[Path, Any]:
        """The domain file holding response `name`, read (or loaded for writing with
        `yamlio.load`)."""
        for path in self._files():
            document = load(path) or {}
            if name in (document.get("responses") or {}):
                return path, document
        raise StudioError("There is no response '%(name)s'.", name=name)

    def names(self) -> list[str]:
        """Every response name, in file order."""
        found: list[str] = []
        for path in self._files():
            found += list((yamlio.read(path) or {}).get("responses") or {})
        return found

    def variations(self, name: str) -> dict[str, Variation]:
        """Language → variation of one response (only the languages it has)."""
        _, document = self._find(name)
        found: dict[str, Variation] = {}
        for item in document["responses"][name]:
            language = _language_of(item) or DEFAULT_LANGUAGE
            found.setdefault(language, _variation(item))
        return found

    def version(self, name: str, language: str) -> str:
        """The version of one language's variation (also when it does not exist yet)."""
        variation = self.variations(name).get(language)
        return version_of(variation.as_value() if variation else None)

    def missing(self) -> dict[str, list[str]]:
        """Response → the languages it has no text in."""
        found: dict[str, list[str]] = {}
        for path in self._files():
            for name, items in ((yamlio.read(path) or {}).get("responses") or {}).items():
                have = {_language_of(item) or DEFAULT_LANGUAGE for item in items}
                gaps = [code for code in self.languages if code not in have]
                if gaps:
                    found[name] = gaps
        return found

    def save(
        self, name: str, language: str, variation: Variation, expected: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Replace (or add) one language's variation; returns (before, after)."""
        if language not in self.languages:
            raise StudioError(
                "'%(language)s' is not a language of the assistant.", language=language
            )
        text = variation.text.strip().replace("\r\n", "\n").replace("\r", "\n")
        if not text:
            raise StudioError("The text is empty.")
        yamlio.check_text(text, "text")
        if len(text) > MAX_TEXT:
            raise StudioError("A text has at most %(max)s characters.", max=Number(MAX_TEXT))
        if len(variation.buttons) > MAX_BUTTONS:
            raise StudioError("At most %(max)d buttons.", max=MAX_BUTTONS)
        for number, (title, payload) in enumerate(variation.buttons, start=1):
            if not title.strip() or not payload.strip():
                raise StudioError('Each button needs a title and a payload: "title | /payload".')
            yamlio.check_text(title + payload, "button", number)
        path, document = self._find(name, yamlio.load)
        items = document["responses"][name]
        current = next(
            (item for item in items if (_language_of(item) or DEFAULT_LANGUAGE) == language), None
        )
        before = _variation(current).as_value() if current is not None else None
        if version_of(before) != expected:
            raise Conflict(
                "Someone else changed the %(language)s text of %(key)s since you opened it. "
                "Nothing was saved: reload the page to see their change, then redo yours.",
                language=language, key=name,
            )  # fmt: skip
        item = current if current is not None else CommentedMap()
        if current is None:
            if language != DEFAULT_LANGUAGE:
                item["condition"] = CommentedSeq(
                    [CommentedMap({"type": "slot", "name": "language", "value": language})]
                )
            items.append(item)
        item["text"] = yamlio.quoted(text)
        if variation.buttons:
            item["buttons"] = CommentedSeq(
                CommentedMap(
                    {"title": yamlio.quoted(t.strip()), "payload": yamlio.quoted(p.strip())}
                )
                for t, p in variation.buttons
            )
        elif "buttons" in item:
            del item["buttons"]
        yamlio.write(path, document)
        after = Variation(text, [(t.strip(), p.strip()) for t, p in variation.buttons]).as_value()
        return before, after


def parse_buttons(text: str) -> list[tuple[str, str]]:
    """Buttons typed one per line as "title | payload"."""
    buttons = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if "|" not in line:
            raise StudioError('Button line %(number)d: write "title | /payload".', number=number)
        title, payload = line.rsplit("|", 1)
        buttons.append((title.strip(), payload.strip()))
    return buttons
