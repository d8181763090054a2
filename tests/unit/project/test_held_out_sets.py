"""The sets that measure understanding are never trained on, and are big enough to measure."""

from __future__ import annotations

import re

import pytest
import yaml

from bot import languages
from bot.settings import ROOT
from bot.text import normalise
from connectors.rasa.studio.evaluation import held_out

NLU_DIR = ROOT / "rasa_project" / "data" / "nlu"
NONSENSE_DIR = ROOT / "tests" / "data" / "nonsense"
ANNOTATION = re.compile(r"\[([^\]]+)\](\{[^}]*\}|\([^)]*\))")


def _trained() -> dict[str, str]:
    """Every training example (normalised) → where it is."""
    found: dict[str, str] = {}
    for path in sorted(NLU_DIR.glob("*/*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            for line in (block.get("examples") or "").splitlines():
                if line.strip().startswith("- "):
                    text = ANNOTATION.sub(r"\1", line.strip()[2:])
                    found.setdefault(normalise(text), f"{path.relative_to(NLU_DIR)}")
    return found


def _nonsense() -> dict[str, list[str]]:
    return {
        path.stem: [str(m) for messages in yaml.safe_load(path.read_text("utf-8")).values()
                    for m in messages]
        for path in sorted(NONSENSE_DIR.glob("*.yml"))
    }  # fmt: skip


def test_no_measuring_message_is_in_the_training_data() -> None:
    trained = _trained()
    measured = [
        (f"{folder.name}/{language}", message)
        for folder in (ROOT / "eval" / "intents", ROOT / "eval" / "holdout")
        for language, items in held_out(folder).items()
        for message, _ in items
    ]
    measured += [
        (f"nonsense/{language}", message)
        for language, messages in _nonsense().items()
        for message in messages
    ]
    leaks = [
        f"{where}: {message!r} is trained on in {trained[normalise(message)]}"
        for where, message in measured
        if normalise(message) and normalise(message) in trained
    ]
    assert leaks == []


@pytest.mark.parametrize("language", languages.supported())
def test_every_language_has_a_robustness_set_of_nonsense(language: str) -> None:
    document = yaml.safe_load((NONSENSE_DIR / f"{language}.yml").read_text(encoding="utf-8"))
    assert set(document) == {"mash", "flood", "emoji", "numbers", "off_topic"}
    assert sum(len(messages) for messages in document.values()) >= 40
    assert all(isinstance(m, str) and m.strip() for ms in document.values() for m in ms)
