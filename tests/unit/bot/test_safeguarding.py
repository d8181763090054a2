"""Safeguarding with the real configuration: crisis messages are recognised in every language,
ordinary ones and the NLU training examples are not, and help contacts fit the person."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.services.safeguarding import CATEGORIES, Contacts, Signal, safeguarding
from bot.settings import ROOT

SAMPLES_FILE = ROOT / "tests" / "data" / "safeguarding_samples.yml"
NLU_DIR = ROOT / "rasa_project" / "data" / "nlu"
ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")  # [word](entity) or [word]{...}


def samples(kind: str) -> list[tuple[str, str]]:
    """(language, message) of every sample of `kind` (crisis or ordinary)."""
    document = yaml.safe_load(SAMPLES_FILE.read_text(encoding="utf-8"))
    return [
        (language, message) for language, groups in document.items() for message in groups[kind]
    ]


def nlu_examples() -> list[tuple[str, str]]:
    """(file, example) of every training example, annotations reduced to their words."""
    found = []
    for path in sorted(NLU_DIR.rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in document.get("nlu") or []:
            for line in str(item.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    found.append((str(path.relative_to(NLU_DIR)), ANNOTATION.sub(r"\1", line[2:])))
    return found


def test_the_samples_cover_every_language_with_both_kinds() -> None:
    crisis, ordinary = samples("crisis"), samples("ordinary")
    languages = set(safeguarding().phrases)
    assert {language for language, _ in crisis} == languages
    assert {language for language, _ in ordinary} == languages


@pytest.mark.parametrize(("language", "message"), samples("crisis"))
def test_every_crisis_sample_is_recognised(language: str, message: str) -> None:
    signal = safeguarding().detect(message)
    assert signal is not None, f"missed ({language}): {message}"
    assert signal.category in CATEGORIES


@pytest.mark.parametrize(("language", "message"), samples("ordinary"))
def test_no_ordinary_sample_is_taken_for_a_crisis(language: str, message: str) -> None:
    assert safeguarding().detect(message) is None, f"false alarm ({language}): {message}"


def test_no_nlu_training_example_is_taken_for_a_crisis() -> None:
    examples = nlu_examples()
    assert len(examples) > 1000  # the parsing found the examples
    assert ANNOTATION.sub(r"\1", '[IT]{"entity": "topic"} in [Split](location)?') == "IT in Split?"
    alarms = []
    for path, example in examples:
        signal = safeguarding().detect(example)
        if signal is not None:
            alarms.append((path, example, signal.phrase))
    assert alarms == []


@pytest.mark.parametrize(
    ("message", "signal"),
    [
        ("I feel SUICIDAL lately", Signal("self_harm", "en", "suicid*")),
        ("i want to    die.", Signal("self_harm", "en", "want to die")),
        ("Mi picchia, aiuto", Signal("abuse", "it", "mi picchia")),
        ("hes gonna kill me!!", Signal("violence", "en", "gonna kill me")),
        ("VREAU SA MOR", Signal("self_harm", "ro", "vreau să mor")),  # typed without accents
    ],
)
def test_a_signal_names_its_category_language_and_phrase(message: str, signal: Signal) -> None:
    assert safeguarding().detect(message) == signal


@pytest.mark.parametrize("message", ["", "   ", "?!", "I want to dive", "therapist in Split"])
def test_harmless_or_empty_messages_give_no_signal(message: str) -> None:
    assert safeguarding().detect(message) is None


DEFAULT = Contacts(
    "112",
    (("European child helpline (under 18)", "116 111"), ("Emotional support helpline", "116 123")),
)
CROATIA = Contacts(
    "112",
    (
        ("Hrabri telefon (children and young people)", "116 111"),
        ("Nacionalni pozivni centar za žrtve kaznenih djela (victims of crime)", "116 006"),
    ),
)
ITALY = Contacts(
    "112",
    (
        ("Telefono Azzurro (children and young people)", "19696"),
        ("Numero antiviolenza e stalking (violence, stalking)", "1522"),
    ),
)


@pytest.mark.parametrize(
    ("country", "language", "expected"),
    [
        ("HR", None, CROATIA),
        ("hr", "it", CROATIA),  # the country wins over the language
        (None, "it", ITALY),  # no country: the language suggests one
        ("", "hr", CROATIA),
        (None, "en", DEFAULT),  # English suggests no country
        (None, "ar", DEFAULT),
        ("XX", None, DEFAULT),
        (None, None, DEFAULT),
    ],
)
def test_contacts_by_country_then_language_then_default(
    country: str | None, language: str | None, expected: Contacts
) -> None:
    assert safeguarding().contacts(country, language) == expected


@pytest.mark.parametrize(("country", "emergency"), [("TN", "190 / 197"), ("LB", "112 / 140")])
def test_contacts_where_112_is_not_the_only_number(country: str, emergency: str) -> None:
    found = safeguarding().contacts(country)
    assert found.emergency == emergency
    assert found.lines and found.lines != DEFAULT.lines
