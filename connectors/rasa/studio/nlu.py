"""Intents and their training examples per language, read from and written to
`data/nlu/<language>/*.yml` and the domain's `intents:` lists.

Every change is checked against the version the admin saw (a hash of what they edited): if the
files changed in between, the save is refused, never silently overwritten.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.refusal import Words
from bot.text import normalise
from connectors.rasa.studio import yamlio
from connectors.rasa.studio.yamlio import (
    StudioError as StudioError,  # where the stores' callers look
)

MIN_EXAMPLES = 12  # per intent and language, as tests/unit/project/test_translations.py asks
MAX_EXAMPLE = 300
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,60}(/[a-z0-9_]{1,60})?$")
_ENTITY = re.compile(r"\[([^\]]+)\]\((\w+)(?::[^)]*)?\)|\[([^\]]+)\]\{[^}]*\"entity\":\s*\"(\w+)\"")


class Conflict(StudioError):
    """Someone changed the same thing since the admin opened it."""


def version_of(value: Any) -> str:
    """A short hash of what an admin is editing, to detect concurrent changes."""
    return hashlib.sha256(json.dumps(value, ensure_ascii=False).encode()).hexdigest()[:16]


def plain(example: str) -> str:
    """An example without its entity annotations: "[Split](location)" → "Split"."""
    return _ENTITY.sub(lambda match: match.group(1) or match.group(3), example)


def _key(example: str) -> str:
    """What makes two examples the same: case, accents and punctuation aside (but an example
    of emoji or punctuation only is itself)."""
    return normalise(plain(example)) or plain(example).strip()


def _lines(block: Any) -> list[str]:
    return [line[2:].strip() for line in str(block or "").splitlines() if line.startswith("- ")]


@dataclass
class Warning:
    """Something an admin should look at (not an error: the data still trains)."""

    kind: str
    intent: str
    language: str
    words: Words  # translatable (the dashboard shows it with say())

    @property
    def message(self) -> str:
        return str(self.words)


class NluStore:
    """The NLU data and intents of one Rasa project."""

    def __init__(self, project: Path, languages: Sequence[str]) -> None:
        self.project = project
        self.languages = list(languages)

    # --- reading ---------------------------------------------------------------------------

    def _files(self, language: str) -> list[Path]:
        return sorted((self.project / "data" / "nlu" / language).glob("*.yml"))

    def _blocks(self, language: str) -> list[tuple[Path, Any, int]]:
        """(file, loaded document, index) of every intent block of one language."""
        found = []
        for path in self._files(language):
            document = yamlio.load(path) or {}
            for index, item in enumerate(document.get("nlu") or []):
                if isinstance(item, dict) and "intent" in item:
                    found.append((path, document, index))
        return found

    def domain_intents(self) -> list[str]:
        """The intents the domain declares, in file order."""
        names: list[str] = []
        for path in sorted((self.project / "domain").glob("*.yml")):
            for item in (yamlio.read(path) or {}).get("intents") or []:
                name = next(iter(item)) if isinstance(item, dict) else str(item)
                if name not in names:
                    names.append(name)
        return names

    def entities(self) -> set[str]:
        """The entities the domain declares."""
        found: set[str] = set()
        for path in sorted((self.project / "domain").glob("*.yml")):
            for item in (yamlio.read(path) or {}).get("entities") or []:
                found.add(next(iter(item)) if isinstance(item, dict) else str(item))
        return found

    def examples_by_language(self, language: str) -> dict[str, list[str]]:
        """Every intent's examples in one language."""
        found: dict[str, list[str]] = {}
        for path in self._files(language):
            for item in (yamlio.read(path) or {}).get("nlu") or []:
                if isinstance(item, dict) and "intent" in item:
                    found.setdefault(str(item["intent"]), []).extend(_lines(item.get("examples")))
        return found

    def overview(self) -> dict[str, dict[str, int]]:
        """Intent → language → number of examples (domain intents first, then sub-intents)."""
        table: dict[str, dict[str, int]] = {
            name: dict.fromkeys(self.languages, 0) for name in self.domain_intents()
        }
        for language in self.languages:
            for intent, examples in self.examples_by_language(language).items():
                table.setdefault(intent, dict.fromkeys(self.languages, 0))[language] = len(examples)
        return table

    def examples(self, intent: str, language: str) -> list[str]:
        """One intent's examples in one language."""
        return self.examples_by_language(language).get(intent, [])

    def version(self, intent: str, language: str) -> str:
        """The version of one intent's examples in one language."""
        return version_of(self.examples(intent, language))

    def search(self, text: str, language: str | None = None, limit: int = 200) -> list[tuple]:
        """(intent, language, example) whose text contains `text` (accent-insensitive)."""
        wanted = normalise(text)
        found: list[tuple] = []
        for code in [language] if language else self.languages:
            for intent, examples in self.examples_by_language(code).items():
                for example in examples:
                    if wanted and wanted in normalise(plain(example)):
                        found.append((intent, code, example))
                        if len(found) >= limit:
                            return found
        return found

    # --- checking --------------------------------------------------------------------------

    def check_examples(self, examples: list[str]) -> list[str]:
        """The examples cleaned (trimmed, no blanks, no repeats); StudioError on a bad one."""
        entities = self.entities()
        cleaned: list[str] = []
        seen: set[str] = set()
        for number, raw in enumerate(examples, start=1):
            example = " ".join(raw.split())
            if not example:
                continue
            # Where it is: its line in the box, and its start (the box has no line numbers)
            start = yamlio.printable(example[:40])
            yamlio.check_text(example, "example", number)
            if len(example) > MAX_EXAMPLE:
                raise StudioError(
                    'Example %(number)d ("%(start)s") is longer than %(max)d characters.',
                    number=number, start=start, max=MAX_EXAMPLE,
                )  # fmt: skip
            if example.startswith(("- ", "#")):
                raise StudioError(
                    'Example %(number)d ("%(start)s") starts with "%(mark)s": write it bare.',
                    number=number, start=start, mark=example[:2],
                )  # fmt: skip
            for match in _ENTITY.finditer(example):
                entity = match.group(2) or match.group(4)
                if entity not in entities:
                    raise StudioError(
                        'Example %(number)d ("%(start)s"): "%(entity)s" is not an entity of the '
                        "domain (%(entities)s).",
                        number=number, start=start, entity=entity,
                        entities=", ".join(sorted(entities)),
                    )  # fmt: skip
            if example.count("[") != example.count("]"):
                raise StudioError(
                    'Example %(number)d ("%(start)s") has an unclosed [ ] annotation.',
                    number=number, start=start,
                )  # fmt: skip
            key = _key(example)
            if key not in seen:
                seen.add(key)
                cleaned.append(example)
        return cleaned

    def warnings(self) -> list[Warning]:
        """Examples under two intents, intents with too few examples in some language."""
        found: list[Warning] = []
        overview = self.overview()
        for language in self.languages:
            owners: dict[str, str] = {}
            for intent, examples in self.examples_by_language(language).items():
                for example in examples:
                    other = owners.setdefault(_key(example), intent)
                    if other != intent:
                        found.append(Warning(
                            "duplicate", intent, language,
                            Words(
                                '"%(example)s" is an example of both %(other)s and %(intent)s',
                                example=plain(example), other=other, intent=intent,
                            ),
                        ))  # fmt: skip
        for intent, counts in overview.items():
            if intent in ("nlu_fallback", "ask_programme"):
                continue  # Rasa's own; the retrieval intent's examples are its sub-intents'
            for language, count in counts.items():
                if count < MIN_EXAMPLES:
                    found.append(Warning(
                        "few", intent, language,
                        Words(
                            "%(intent)s has %(count)s examples in %(language)s"
                            " (at least %(least)s)",
                            intent=intent, count=count, language=language, least=MIN_EXAMPLES,
                        ),
                    ))  # fmt: skip
        return found

    # --- writing ---------------------------------------------------------------------------

    def save(
        self, intent: str, language: str, examples: list[str], expected: str
    ) -> tuple[list[str], list[str]]:
        """Replace one intent's examples in one language; returns (before, after)."""
        if intent not in self.overview():
            raise StudioError("There is no intent '%(intent)s'.", intent=intent)
        if language not in self.languages:
            raise StudioError(
                "'%(language)s' is not a language of the assistant.", language=language
            )
        before = self.examples(intent, language)
        if version_of(before) != expected:
            raise Conflict(
                "Someone else changed the %(language)s examples of %(intent)s since you opened "
                "them. Nothing was saved: reload the page to see their change, then redo yours.",
                language=language, intent=intent,
            )  # fmt: skip
        after = self.check_examples(examples)
        blocks = [
            (path, document, index)
            for path, document, index in self._blocks(language)
            if document["nlu"][index]["intent"] == intent
        ]
        if blocks:
            path, document, index = blocks[0]
            document["nlu"][index]["examples"] = yamlio.examples_block(after)
            changed = {path: document}
            for extra_path, extra_document, extra_index in reversed(blocks[1:]):
                del extra_document["nlu"][extra_index]  # one document per file: indexes hold
                changed[extra_path] = extra_document
            # All files or none: the examples must not vanish from one file and fail to land in
            # the other.
            yamlio.write_all(list(changed.items()))
        elif after:
            self._append_block(intent, language, after)
        return before, after

    def _append_block(self, intent: str, language: str, examples: list[str]) -> None:
        path = self.project / "data" / "nlu" / language / "studio.yml"
        document = yamlio.load(path) if path.exists() else None
        if not document:
            document = CommentedMap({"version": "3.1", "nlu": CommentedSeq()})
        document["nlu"].append(
            CommentedMap({"intent": intent, "examples": yamlio.examples_block(examples)})
        )
        yamlio.write(path, document)

    def add_intent(self, name: str) -> None:
        """A new intent in the domain (its examples are added per language afterwards)."""
        if not _NAME.match(name) or "/" in name:
            raise StudioError(
                "An intent name is 2 to 60 lower-case letters, digits or _, starting with a letter."
            )
        if name in self.overview():
            raise StudioError("There is already an intent '%(intent)s'.", intent=name)
        path = self.project / "domain" / "studio.yml"
        document = yamlio.load(path) if path.exists() else None
        if not document:
            document = CommentedMap({"version": "3.1", "intents": CommentedSeq()})
        document.setdefault("intents", CommentedSeq()).append(name)
        yamlio.write(path, document)

    def usages(self, name: str) -> list[str]:
        """The rules, stories and conversation tests that mention an intent."""
        found = []
        for folder in ("data/rules", "data/stories", "tests"):
            for path in sorted((self.project / folder).glob("*.yml")):
                if re.search(rf"(intent:\s*{re.escape(name)}\s*$)|(/{re.escape(name)}\b)",
                             path.read_text(encoding="utf-8"), re.MULTILINE):  # fmt: skip
                    found.append(str(path.relative_to(self.project)))
        return found

    def delete_intent(self, name: str) -> dict[str, list[str]]:
        """Remove an intent and its examples everywhere; refused while rules or stories use
        it. Returns the examples removed, by language (for the audit log)."""
        if name not in self.overview():
            raise StudioError("There is no intent '%(intent)s'.", intent=name)
        used = self.usages(name)
        if used:
            raise StudioError(
                "%(intent)s is used in %(files)s: change those first, then delete it.",
                intent=name, files=", ".join(used),
            )  # fmt: skip
        removed: dict[str, list[str]] = {}
        changed = []
        for language in self.languages:
            for path in self._files(language):
                document = yamlio.load(path) or {}
                items = document.get("nlu") or []
                keep = [i for i in items if not (isinstance(i, dict) and i.get("intent") == name)]
                if len(keep) != len(items):
                    removed[language] = self.examples(name, language)
                    document["nlu"] = CommentedSeq(keep)
                    changed.append((path, document))
        yamlio.write_all(changed)
        self._rewrite_domain_intents(lambda intent: None if intent == name else intent)
        return removed

    def rename_intent(self, old: str, new: str) -> None:
        """Rename an intent in the NLU data, the domain, rules, stories and tests."""
        if old not in self.overview():
            raise StudioError("There is no intent '%(intent)s'.", intent=old)
        if not _NAME.match(new) or new in self.overview():
            raise StudioError("'%(name)s' is not a free, valid intent name.", name=new)
        renamed_files = []
        for language in self.languages:
            for path in self._files(language):
                document = yamlio.load(path) or {}
                changed = False
                for item in document.get("nlu") or []:
                    if isinstance(item, dict) and item.get("intent") == old:
                        item["intent"], changed = new, True
                if changed:
                    renamed_files.append((path, document))
        yamlio.write_all(renamed_files)
        self._rewrite_domain_intents(lambda intent: new if intent == old else intent)
        pattern = re.compile(rf"(intent:\s*){re.escape(old)}(\s*$)|(/){re.escape(old)}\b", re.M)
        for folder in ("data/rules", "data/stories", "tests", "domain"):
            for path in sorted((self.project / folder).glob("*.yml")):
                text = path.read_text(encoding="utf-8")
                renamed = pattern.sub(
                    lambda m: (m.group(1) or m.group(3)) + new + (m.group(2) or ""), text
                )
                if renamed != text:
                    yamlio.write_text(path, renamed)

    def _rewrite_domain_intents(self, change: Any) -> None:
        for path in sorted((self.project / "domain").glob("*.yml")):
            document = yamlio.load(path) or {}
            intents = document.get("intents")
            if not intents:
                continue
            updated = CommentedSeq()
            for item in intents:
                name = next(iter(item)) if isinstance(item, dict) else str(item)
                result = change(name)
                if result is not None:
                    updated.append(result if not isinstance(item, dict) else item)
            if list(updated) != list(intents):
                document["intents"] = updated
                yamlio.write(path, document)
