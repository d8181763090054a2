"""Understanding a search message: entities first, then topic words and places in the text."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.services.catalogue_csv import import_catalogue
from bot.services.query import understand
from bot.services.vocabulary import vocabulary
from tests.conftest import catalogue_csv, opportunity_row


@pytest.fixture
def places(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    rows = [
        opportunity_row(),
        opportunity_row(title="B", city="Palermo", region="Sicilia", country="IT"),
        opportunity_row(title="C", city="Cluj-Napoca", region="Cluj", country="RO"),
    ]
    with sessions.begin() as session:
        assert import_catalogue(session, catalogue_csv(*rows)).ok
    return sessions


def read(sessions, text: str, topics=(), locations=()):
    with sessions.begin() as session:
        return understand(session, text, list(topics), list(locations))


def test_topic_words_and_place_from_the_text(places) -> None:
    criteria = read(places, "any free IT courses in Split?")
    assert criteria.topics == ["digital"]
    assert criteria.location == "Split"
    assert criteria.free_only and not criteria.online_only
    assert criteria.terms == []


def test_entities_win_and_are_normalised(places) -> None:
    criteria = read(places, "courses", topics=["coding"], locations=["PALERMO"])
    assert criteria.topics == ["digital"] and criteria.location == "Palermo"


def test_it_in_lower_case_is_not_a_topic(places) -> None:
    assert read(places, "is it online").topics == []
    assert read(places, "is it online").online_only


def test_multi_word_place_and_no_accents(places) -> None:
    assert read(places, "jobs in cluj napoca").location == "Cluj-Napoca"


def test_unknown_entity_place_is_kept_to_tell_the_person(places) -> None:
    criteria = read(places, "jobs in Atlantis", locations=["Atlantis"])
    assert criteria.location is None and criteria.unknown_location == "Atlantis"


def test_anywhere_and_anything(places) -> None:
    assert read(places, "anywhere is fine").any_place
    assert read(places, "/inform", topics=["any"]).any_topic


def test_remaining_words_become_search_terms(places) -> None:
    criteria = read(places, "looking for origami courses in palermo")
    assert criteria.terms == ["origami"] and criteria.location == "Palermo"
    assert read(places, "barista courses in palermo").topics == ["tourism_hospitality"]


def test_every_topic_key_is_found_by_its_own_label() -> None:
    vocab = vocabulary()
    for key, info in vocab.topics.items():
        assert vocab.find_topics(info.label("en")) == [key], key


@pytest.mark.parametrize(
    ("language", "message", "topic", "place"),
    [
        ("it", "corsi di informatica a Spalato gratis", "digital", "Split"),
        ("hr", "tečaj programiranja u Splitu", "digital", "Split"),
        ("de", "Kochkurs in Palermo, kostenlos", "tourism_hospitality", "Palermo"),
        ("ro", "caut un curs de programare la Cluj", "digital", "Cluj"),  # the region
        ("fr", "formation en cuisine à Palerme", "tourism_hospitality", "Palermo"),
        ("ar", "دورة برمجة في سبليت مجانا", "digital", "Split"),
    ],
)
def test_topics_places_and_free_in_every_language(places, language, message, topic, place) -> None:
    with places.begin() as session:
        criteria = understand(session, message, [], [], language=language)
    assert criteria.topics == [topic]
    assert criteria.location == place
    assert criteria.terms == []
    if language in ("it", "de", "ar"):
        assert criteria.free_only


@pytest.mark.parametrize(
    "text",
    [
        "مرحبا، أبحث عن دورة مجانية في المهارات الرقمية",  # "digital skills", with the article
        "بالمهارات الرقمية",  # and a particle glued before it
        "مهارات رقمية",  # as the topic words list it
    ],
)
def test_arabic_topic_words_are_found_with_or_without_the_article(text: str) -> None:
    assert vocabulary().find_topics(text, "ar") == ["digital"]
