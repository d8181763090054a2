"""Routing requests for a coach: to an available coach who covers the person's language (and
country), fewest open conversations first, then round robin; urgent ones to everyone; a coach
who goes away hands their untaken requests on; a transfer passes a conversation with a note."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Handoff
from bot.services import handoff, outbox, people, routing
from bot.services.handoff import HandoffError
from bot.settings import get_settings
from tests.conftest import account


@pytest.fixture
def db(console_db: sessionmaker[Session]) -> sessionmaker[Session]:
    """The console database of tests/conftest.py (coaches marta and luca, admin ana)."""
    return console_db


coach = account  # the accounts here are coaches


def ask(session: Session, sender: str, language: str, country: str | None = None) -> Handoff:
    if country is not None:
        people.give_consent(session, sender).country = country
    made, created = handoff.request(session, sender, language)
    assert created
    return made


def assignee(made: Handoff) -> str | None:
    return made.assignee.username if made.assignee else None


def test_a_request_goes_to_an_available_coach_who_covers_the_language(
    db: sessionmaker[Session],
) -> None:
    with db.begin() as session:
        routing.set_coverage(session, coach(session, "marta"), "available", ["it", "en"], [])
        routing.set_coverage(session, coach(session, "luca"), "available", ["hr"], [])
        assert assignee(ask(session, "tg-it-1", "it")) == "marta"
        assert assignee(ask(session, "tg-hr-1", "hr")) == "luca"
        # nobody covers Arabic: anyone may take it
        assert assignee(ask(session, "tg-ar-1", "ar")) is None


def test_fewest_open_conversations_first_then_round_robin(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        for name in ("marta", "luca"):
            routing.set_coverage(session, coach(session, name), "available", ["it"], [])
        firsts = [assignee(ask(session, f"tg-it-{number}", "it")) for number in range(4)]
        assert sorted(str(name) for name in firsts[:2]) == ["luca", "marta"]  # one each
        assert firsts[2:] == firsts[:2]  # then round again, in the same order
        # Luca hands his back: now he has fewer open ones, so the next one is his
        for made in session.scalars(
            select(Handoff).where(Handoff.assigned_to == coach(session, "luca").id)
        ):
            handoff.take(session, made.id, coach(session, "luca"))
            handoff.hand_back(session, made.id, coach(session, "luca"))
        assert assignee(ask(session, "tg-it-9", "it")) == "luca"


def test_away_coaches_and_other_countries_get_nothing_and_urgent_is_everyones(
    db: sessionmaker[Session],
) -> None:
    with db.begin() as session:
        routing.set_coverage(session, coach(session, "marta"), "away", ["it"], [])
        routing.set_coverage(session, coach(session, "luca"), "available", ["it"], ["MT"])
        assert assignee(ask(session, "tg-it-1", "it", "IT")) is None  # Luca covers Malta only
        assert assignee(ask(session, "tg-it-2", "it", "MT")) == "luca"
        made = ask(session, "tg-it-3", "it", "MT")
        assert assignee(made) == "luca"
        handoff.request(session, "tg-it-3", "it", "crisis", "self_harm")
        assert made.urgent and made.assigned_to is None  # everyone sees it, first


def test_going_away_hands_untaken_requests_on(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        marta, luca = coach(session, "marta"), coach(session, "luca")
        routing.set_coverage(session, marta, "available", ["it"], [])
        first = ask(session, "tg-it-1", "it")
        taken = ask(session, "tg-it-2", "it")
        handoff.take(session, taken.id, marta)
        assert assignee(first) == "marta"
        routing.set_coverage(session, luca, "available", ["it"], [])
        routing.set_coverage(session, marta, "away", ["it"], [])
        assert assignee(first) == "luca"
        assert taken.taken_by == marta.id and taken.status == "active"  # what she holds stays


def test_coverage_is_checked_in_plain_words(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        marta = coach(session, "marta")
        with pytest.raises(ValueError, match="Not a language of the assistant: xx"):
            routing.set_coverage(session, marta, "available", ["it", "xx"], [])
        with pytest.raises(ValueError, match="two-letter codes such as IT or HR, not: ITA"):
            routing.set_coverage(session, marta, "available", ["it"], ["ITA"])
        with pytest.raises(ValueError, match="available or away"):
            routing.set_coverage(session, marta, "gone", ["it"], [])
        saved = routing.set_coverage(session, marta, "available", ["it", "ar"], [" mt", "it", "mt"])
        assert saved == routing.Coverage("available", ("it", "ar"), ("MT", "IT"))


def test_a_transfer_passes_the_conversation_with_a_note(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        marta, luca, ana = coach(session, "marta"), coach(session, "luca"), coach(session, "ana")
        made = ask(session, "tg-it-1", "it")
        handoff.take(session, made.id, marta)
        with pytest.raises(HandoffError, match="Another coach"):
            handoff.transfer(session, made.id, luca, ana, "")
        with pytest.raises(HandoffError, match="Choose another coach"):
            handoff.transfer(session, made.id, marta, marta, "")
        handoff.transfer(session, made.id, marta, luca, "  wants a welding course in Bari ")
        assert (made.status, made.taken_by, assignee(made)) == ("waiting", None, "luca")
        assert made.transfer_note == f"{marta.display_name}: wants a welding course in Bari"
        assert handoff.take(session, made.id, luca).status == "active"
        assert made.is_open


def test_a_coach_with_a_linked_telegram_chat_is_told_of_a_request_for_them(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHBOARD_PUBLIC_URL", "https://coach.example.org/")
    get_settings.cache_clear()
    with db.begin() as session:
        marta, luca = coach(session, "marta"), coach(session, "luca")
        routing.set_coverage(session, marta, "available", ["it"], [])
        routing.set_coverage(session, luca, "available", ["hr"], [])
        marta.telegram_chat_id, luca.telegram_chat_id = 7001, 7002
        people.give_consent(session, "tg-it-1").name = "Gennaro"
        made = ask(session, "tg-it-1", "it")
        (told,) = outbox.queued(session, 7001)
        assert outbox.queued(session, 7002) == []  # not Luca's language
        assert told.params["text"] == (
            "🔔 A new request for a coach is waiting for you (language: it).\n"
            "https://coach.example.org/conversations/tg-it-1"
        )
        assert "Gennaro" not in told.params["text"]  # nothing of the person
        handoff.request(session, made.sender_id, "it", "crisis", "self_harm")
        assert [len(outbox.queued(session, chat)) for chat in (7001, 7002)] == [2, 1]
        assert outbox.queued(session, 7002)[0].params["text"].startswith("🚨 An URGENT request")


def test_a_crisis_in_a_conversation_a_coach_already_has_stays_with_that_coach(
    db: sessionmaker[Session],
) -> None:
    with db.begin() as session:
        marta = coach(session, "marta")
        routing.set_coverage(session, marta, "available", ["it"], [])
        made = ask(session, "tg-it-1", "it")
        handoff.take(session, made.id, marta)
        handoff.request(session, "tg-it-1", "it", "crisis", "self_harm")
        assert (made.status, made.urgent, assignee(made)) == ("active", True, "marta")
