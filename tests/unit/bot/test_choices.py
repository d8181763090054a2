"""Typed answers to questions with buttons: "in English", "Deutsch please", "yes pls" tap the
button they name, in every language (tests/data/typed_choices, written apart from the code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import languages
from bot.choices import aliases_for, closest_choice, typed_choice
from bot.messages import text
from connectors.choices import OfferedChoices
from tests.conftest import domain_responses, variation_language

CASES = Path(__file__).parents[2] / "data" / "typed_choices"
TWO = {
    "consent": (("accept", "consent_accept_button"), ("decline", "consent_decline_button")),
    "reg_guardian": (("yes", "reg_guardian_yes"), ("no", "reg_guardian_no")),
    "skip_stop": (("skip", "reg_skip_button"), ("stop", "reg_stop_button")),
    "confirm": (("yes", "confirm_yes_button"), ("no", "confirm_no_button")),
    "delete": (("yes", "delete_yes_button"), ("no", "delete_no_button")),
    "handoff_timeout": (
        ("bot", "handoff_timeout_bot_button"), ("again", "handoff_timeout_again_button"),
    ),
    "waiting": (("wait", "handoff_keep_waiting_button"), ("back", "handoff_back_button")),
}  # fmt: skip
EDUCATION = ("none", "primary", "lower_secondary", "upper_secondary", "vocational", "university")
SITUATIONS = ("work", "training", "both", "unsure")


def options(question: str, language: str) -> list[tuple[str, str]]:
    """(key, button title) of a question's buttons, as the bot shows them in `language`."""
    if question in TWO:
        return [(key, text(message, language)) for key, message in TWO[question]]
    if question == "reg_education":
        return [(key, text(f"education.{key}", language)) for key in EDUCATION]
    if question == "reg_situation":
        return [(key, text(f"situation.{key}", language)) for key in SITUATIONS]
    if question == "reg_language":
        return [(code, languages.self_name(code)) for code in languages.supported()]
    assert question == "greet"
    (greeting,) = [
        variation
        for variation in domain_responses()["utter_greet"]
        if (variation_language(variation) or "en") == language
    ]
    keys = ("training", "job", "help")
    return list(zip(keys, [b["title"] for b in greeting["buttons"]], strict=True))


def aliases(question: str) -> list[list[str]] | None:
    """Language buttons are named by every name of their language (their payload says which)."""
    if question != "reg_language":
        return None
    return [aliases_for(f'/inform{{"choice":"{code}"}}') for code in languages.supported()]


def _cases(language: str) -> dict[str, Any]:
    return yaml.safe_load((CASES / f"{language}.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("language", languages.supported())
def test_a_typed_answer_taps_the_button_it_names(language: str) -> None:
    wrong = []
    for question, entries in _cases(language).items():
        if question == "none":
            continue
        offered = options(question, language)
        for entry in entries:
            found = typed_choice(
                entry["typed"], [title for _, title in offered], language, aliases(question)
            )
            got = None if found is None else offered[found][0]
            if got != entry["expect"]:
                wrong.append(f"{question}: {entry['typed']!r} → {got} (not {entry['expect']})")
    assert wrong == []


@pytest.mark.parametrize("language", languages.supported())
def test_words_that_say_more_or_name_two_buttons_tap_none(language: str) -> None:
    for entry in _cases(language)["none"]:
        offered = options(entry["question"], language)
        titles = [title for _, title in offered]
        assert typed_choice(entry["typed"], titles, language, aliases(entry["question"])) is None


def test_a_channel_remembers_the_last_buttons_offered() -> None:
    choices = OfferedChoices()
    replies = [
        {"text": "Which language?", "buttons": [
            {"title": "English", "payload": '/change_language{"language":"en"}'},
            {"title": "Deutsch", "payload": '/change_language{"language":"de"}'},
        ]},
        {"text": "Open the website", "buttons": [{"title": "Site", "payload": "https://x.eu"}]},
    ]  # fmt: skip
    choices.remember("p1", replies)
    assert choices.resolve("p1", "Deutsch please", "en") == '/change_language{"language":"de"}'
    assert choices.resolve("p1", "a job in Split", "en") is None
    assert choices.resolve("p2", "Deutsch", "en") is None  # another person was offered nothing
    choices.remember("p1", [{"text": "Here you are."}])  # a turn without buttons
    assert choices.resolve("p1", "Deutsch", "en") is None


THANKS = {"en": "thanks", "it": "grazie", "fr": "merci", "es": "gracias", "de": "danke",
          "ro": "mersi", "hr": "hvala", "sl": "hvala", "lt": "ačiū", "ar": "شكرا"}  # fmt: skip


@pytest.mark.parametrize("language", languages.supported())
def test_a_thank_you_alone_is_not_the_no_thanks_button(language: str) -> None:
    """ "thanks" after the data notice is a thank-you for the NLU, not "No thanks" (seen on a
    running stack: it declined the notice)."""
    titles = [title for _, title in options("consent", language)]
    assert typed_choice(THANKS[language], titles, language) is None
    assert typed_choice(f"{THANKS[language]}!!", titles, language) is None
    # The whole title, or its deciding word with the thanks, still taps it
    assert typed_choice(titles[1], titles, language) == 1


CHECKIN_KEYS = ("working", "training", "education", "looking", "prefer_not")


@pytest.mark.parametrize(
    ("language", "typed", "meant"),
    [
        ("it", "lavoro in un hotel", "working"),
        ("it", "sto ancora cercando lavoro", "looking"),
        ("it", "faccio un corso di cucina", "training"),
        ("en", "I got a job at a bakery", "working"),
        ("en", "still looking for work", "looking"),
        ("en", "back at school", "education"),
        ("en", "i'd rather not say", "prefer_not"),
        ("fr", "je travaille", "working"),
        ("fr", "je cherche encore", "looking"),
        ("es", "estoy trabajando en un bar", "working"),
        ("de", "mache eine ausbildung", "training"),
        ("hr", "radim u hotelu", "working"),
        ("ro", "lucrez", "working"),
        ("sl", "delam", "working"),
        ("lt", "dirbu", "working"),
        ("ar", "أعمل الآن", "working"),
        ("en", "banana", None),
        ("en", "asdfgh", None),
        ("en", "in a", None),  # small words name nothing
    ],
)
def test_the_closest_answer_to_a_check_in(language: str, typed: str, meant: str | None) -> None:
    titles = [text(f"checkin_answer.{key}", language) for key in CHECKIN_KEYS]
    found = closest_choice(typed, titles, language)
    assert (None if found is None else CHECKIN_KEYS[found]) == meant
