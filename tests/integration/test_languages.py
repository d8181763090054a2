"""A young person in each of the ten languages, end to end through the fake Bot API, our
connector, the trained Rasa model and the actions: greeting, a training search and its results
in that language; switching by command and by writing; messages that must not switch."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from bot import languages
from bot.db.models import Opportunity
from bot.db.session import session_factory
from bot.messages import text
from bot.services.vocabulary import vocabulary
from tests.conftest import domain_responses, variation_language
from tests.integration.person import Person, buttons, listed_titles, text_of

pytestmark = pytest.mark.integration

# A training search written as young people write it, and the catalogue city it names.
SEARCHES = {
    "en": ("any coding courses in Vilnius pls", "Vilnius"),
    "it": ("ci sono corsi di informatica a Milano?", "Milano"),
    "fr": ("je cherche une formation en informatique à Toulouse", "Toulouse"),
    "es": ("busco cursos de informática en Barcelona", "Barcelona"),
    "de": ("gibt es Informatik Kurse in München?", "München"),
    "ro": ("caut cursuri de programare in Cluj", "Cluj-Napoca"),
    "hr": ("ima li tečajeva informatike u Zagrebu?", "Zagreb"),
    "sl": ("iščem tečaj programiranja v Mariboru", "Maribor"),
    "lt": ("ieškau programavimo kursų Vilniuje", "Vilnius"),
    "ar": ("أبحث عن دورة برمجة في بيروت", "Beirut"),
}


def response(name: str, language: str) -> str:
    """The text of a domain response in `language`, as the domain holds it."""
    variations = domain_responses()[name]
    for variation in variations:
        if variation_language(variation) == language:
            return str(variation["text"])
    return str(next(v["text"] for v in variations if variation_language(v) is None))


def seen(messages: list[dict[str, Any]]) -> str:
    """What the person reads, without the invisible right-to-left marks."""
    return text_of(messages).replace(languages.RLM, "")


def pattern(template: str) -> str:
    """A regular expression matching a message template with any values filled in."""
    parts = re.split(r"\{[a-z_]+\}", template)
    return ".*?".join(re.escape(part) for part in parts)


def digital_trainings(stack, city: str) -> set[str]:
    with session_factory(stack.settings.database_url).begin() as session:
        rows = session.scalars(
            select(Opportunity).where(Opportunity.kind == "training", Opportunity.city == city)
        )
        return {row.title for row in rows if "digital" in row.topic_keys}


@pytest.mark.parametrize("language", list(SEARCHES))
def test_greeting_then_a_training_search_in_each_language(
    language: str, connector, fake_telegram, stack
) -> None:
    person = Person(fake_telegram, language_code=language)
    greeting = seen(person.say("/start", replies=2))
    assert response("utter_greet", language) in greeting
    assert text("consent_accept_button", language) in buttons(person.seen())

    query, city = SEARCHES[language]
    replies = person.say(query)
    shown = seen(replies)
    header = shown.split("\n")[0]
    templates = [
        text(key, language)
        for key in ("results_header", "results_header_all", "results_header_one")
    ]
    assert any(re.match(pattern(t), header) for t in templates), shown
    assert vocabulary().topics["digital"].label(language) in header, shown
    titles = listed_titles(shown)
    assert titles and set(titles) <= digital_trainings(stack, city), shown
    if languages.get(language).rtl:  # every line starts right to left in Telegram
        lines = [line for line in text_of(replies).split("\n") if line.strip()]
        assert all(line.startswith(languages.RLM) for line in lines), lines


def test_commands_are_described_in_every_language(connector, fake_telegram) -> None:
    for language in languages.supported():
        commands = fake_telegram.wait_for(
            lambda language=language: fake_telegram.my_commands(
                language, {"type": "all_private_chats"}
            )
        )
        described = {command["command"]: command["description"] for command in commands}
        assert described["language"] == text("commands.language", language)
        assert described["mydata"] == text("commands.mydata", language)


def test_switching_language_by_command_and_buttons(connector, fake_telegram) -> None:
    person = Person(fake_telegram, language_code="en")
    offer = person.say("/language")
    assert text("language_pick", "en") in seen(offer)
    assert buttons(offer) == [languages.self_name(code) for code in languages.supported()]
    switched = person.tap(offer, "Deutsch")
    assert text("language_changed", "de") in seen(switched)
    assert response("utter_greet", "de") in seen(person.say("/start", replies=2))
    # A short English word does not switch back.
    assert response("utter_you_are_welcome", "de") in seen(person.say("thanks"))


def test_switching_language_by_writing_and_by_naming_it(connector, fake_telegram) -> None:
    person = Person(fake_telegram, language_code="en")
    assert response("utter_greet", "en") in seen(person.say("/start", replies=2))
    answer = seen(person.say("ciao, mi spieghi cos'è la Garanzia Giovani per favore?"))
    assert response("utter_ask_programme/youth_guarantee", "it") in answer
    for short in ("ok", "Zagreb", "👍"):
        reply = seen(person.say(short))
        assert not any(
            response(name, "en") in reply
            for name in ("utter_greet", "utter_default", "utter_ask_rephrase", "utter_out_of_scope")
        ), reply
    assert response("utter_you_are_welcome", "it") in seen(person.say("thanks"))
    # A clear English sentence: asked in English to confirm first (typed, not a button).
    named = seen(person.say("can we speak in french please"))
    assert text("confirm_language", "en", language="Français") in named
    assert text("language_changed", "fr") in seen(person.say("yes please"))


def test_a_mixed_language_message_is_answered_in_its_main_language(
    connector, fake_telegram
) -> None:
    person = Person(fake_telegram, language_code="en")
    shown = seen(person.say("hello, vorrei un corso di informatica a Milano per favore"))
    header = shown.split("\n")[0]
    templates = [
        text(key, "it") for key in ("results_header", "results_header_all", "results_header_one")
    ]
    assert any(re.match(pattern(t), header) for t in templates), shown
    assert "Milano" in header


def test_a_foreign_place_name_never_switches_the_language(connector, fake_telegram) -> None:
    person = Person(fake_telegram, language_code="en")
    answer = seen(person.say("beekeeping job ljubljana"))
    keys = ("results_header", "results_header_all", "results_header_one", "no_results")
    first = answer.split("\n")[0]
    assert any(re.match(pattern(text(key, "en")), first) for key in keys), answer
    assert response("utter_you_are_welcome", "en") in seen(person.say("thanks"))


def test_the_first_message_decides_when_telegram_tells_no_language(
    connector, fake_telegram
) -> None:
    person = Person(fake_telegram, language_code="")
    answer = seen(person.say("hola, estoy buscando un curso gratuito de informática"))
    header = answer.split("\n")[0]
    templates = [
        text(key, "es") for key in ("results_header", "results_header_all", "results_header_one")
    ]
    assert any(re.match(pattern(t), header) for t in templates), answer
    croatian = Person(fake_telegram, language_code="")
    answer = seen(croatian.say("bok, tražim besplatan tečaj informatike"))
    templates = [
        text(key, "hr") for key in ("results_header", "results_header_all", "results_header_one")
    ]
    assert any(re.match(pattern(t), answer.split("\n")[0]) for t in templates), answer
