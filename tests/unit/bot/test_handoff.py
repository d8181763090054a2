"""Handing a conversation to a coach: requests, crises, taking, holding, closing, timeouts."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Handoff
from bot.services import handoff
from bot.services.handoff import Expired, HandoffError, State
from tests.conftest import account

ANA = "tg-a1a1a1a1a1a1a1a1a1a1a1a1"
BEN = "tg-b2b2b2b2b2b2b2b2b2b2b2b2"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(console_db: sessionmaker[Session]) -> sessionmaker[Session]:
    """The console database of tests/conftest.py (coaches marta and luca, admin ana)."""
    return console_db


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """The service's clock, set by the test."""
    moment = [NOW]
    monkeypatch.setattr(handoff, "now", lambda: moment[0])
    return moment


def new_request(db: sessionmaker[Session], sender: str = ANA, language: str = "it") -> int:
    with db.begin() as session:
        made, created = handoff.request(session, sender, language)
        assert created
        return made.id


# --- requests -------------------------------------------------------------------------------


def test_a_request_opens_a_waiting_handoff_and_asking_again_finds_the_same_one(
    db: sessionmaker[Session], clock: list[dt.datetime]
) -> None:
    with db.begin() as session:
        first, created = handoff.request(session, ANA, "it")
        assert created
        assert (first.status, first.reason, first.urgent, first.category) == (
            "waiting", "request", False, None,
        )  # fmt: skip
        assert (first.language, first.acknowledged, first.telegram_chat_id) == ("it", False, None)
        assert first.requested_at == NOW
    clock[0] = NOW + dt.timedelta(minutes=3)
    with db.begin() as session:
        again, created = handoff.request(session, ANA, "en")
        assert not created and again.id == first.id
        assert again.language == "en"  # the language they write in now
        assert again.requested_at.replace(tzinfo=dt.UTC) == NOW  # still waiting since then
        assert handoff.state(session, ANA) == State(first.id, "waiting", False)
        handoff.acknowledge(session, first.id)
        assert handoff.state(session, ANA) == State(first.id, "waiting", True)
        assert handoff.state(session, BEN) is None
        assert session.scalar(select(func.count()).select_from(Handoff)) == 1


def test_a_crisis_makes_the_open_request_urgent_instead_of_opening_another(
    db: sessionmaker[Session],
) -> None:
    first = new_request(db)
    with db.begin() as session:
        same, created = handoff.request(session, ANA, "it", reason="crisis", category="self_harm")
        assert not created and same.id == first
    with db.begin() as session:
        stored = session.get(Handoff, first)
        assert stored is not None
        assert (stored.status, stored.reason, stored.urgent, stored.category) == (
            "waiting", "crisis", True, "self_harm",
        )  # fmt: skip
        # a later ordinary request keeps it urgent
        handoff.request(session, ANA, "it")
        assert (stored.reason, stored.urgent, stored.category) == ("crisis", True, "self_harm")
        crisis, created = handoff.request(session, BEN, "hr", reason="crisis", category="abuse")
        assert created and crisis.id != first
        assert (crisis.reason, crisis.urgent, crisis.category) == ("crisis", True, "abuse")


def test_after_a_close_a_new_request_opens_a_new_handoff(db: sessionmaker[Session]) -> None:
    first = new_request(db)
    with db.begin() as session:
        closed = handoff.close_for(session, ANA)
        assert closed is not None and closed.id == first
        assert handoff.close_for(session, ANA) is None
    second = new_request(db)
    assert second != first
    with db.begin() as session:
        assert session.get(Handoff, first).status == "closed"  # type: ignore[union-attr]
        assert handoff.open_for(session, ANA).id == second  # type: ignore[union-attr]


# --- the chat, taking and holding ----------------------------------------------------------


def test_the_chat_id_is_kept_only_while_the_handoff_is_open(
    db: sessionmaker[Session], clock: list[dt.datetime]
) -> None:
    with db.begin() as session:
        assert not handoff.attach_chat(session, ANA, 4242)  # nothing open
    first = new_request(db)
    with db.begin() as session:
        assert handoff.attach_chat(session, ANA, 4242)
    with db.begin() as session:
        assert session.get(Handoff, first).telegram_chat_id == 4242  # type: ignore[union-attr]
    clock[0] = NOW + dt.timedelta(minutes=7)
    with db.begin() as session:
        handoff.close(session, handoff.get(session, first))
    with db.begin() as session:
        stored = session.get(Handoff, first)
        assert stored is not None
        assert (stored.status, stored.telegram_chat_id) == ("closed", None)
        assert stored.closed_at.replace(tzinfo=dt.UTC) == NOW + dt.timedelta(minutes=7)
        assert not stored.is_open and handoff.state(session, ANA) is None
        assert not handoff.attach_chat(session, ANA, 4242)


def test_a_coach_takes_a_request_and_may_take_it_again(
    db: sessionmaker[Session], clock: list[dt.datetime]
) -> None:
    first = new_request(db)
    clock[0] = NOW + dt.timedelta(minutes=2)
    with db.begin() as session:
        marta = account(session, "marta")
        taken = handoff.take(session, first, marta)
        assert (taken.status, taken.taken_by, taken.taken_at) == ("active", marta.id, clock[0])
    clock[0] = NOW + dt.timedelta(minutes=9)
    with db.begin() as session:
        again = handoff.take(session, first, account(session, "marta"))
        assert again.status == "active"
        assert again.taken_at.replace(tzinfo=dt.UTC) == NOW + dt.timedelta(minutes=2)
        assert handoff.state(session, ANA) == State(first, "active", False)


def test_another_coach_cannot_take_a_held_or_finished_conversation(
    db: sessionmaker[Session],
) -> None:
    first = new_request(db)
    with db.begin() as session:
        handoff.take(session, first, account(session, "marta"))
    with db.begin() as session:
        luca = account(session, "luca")
        with pytest.raises(HandoffError, match=r"^marta is already talking with this person\.$"):
            handoff.take(session, first, luca)
        with pytest.raises(HandoffError, match="no such request"):
            handoff.take(session, first + 100, luca)
    with db.begin() as session:
        assert session.get(Handoff, first).taken_by == account(session, "marta").id  # type: ignore[union-attr]
        handoff.close(session, handoff.get(session, first))
    with db.begin() as session:
        for username in ("marta", "luca"):
            with pytest.raises(HandoffError, match="This request is over"):
                handoff.take(session, first, account(session, username))
        assert session.get(Handoff, first).status == "closed"  # type: ignore[union-attr]


def test_only_the_holder_or_an_admin_may_write_in_a_taken_conversation(
    db: sessionmaker[Session],
) -> None:
    first = new_request(db)
    with db.begin() as session:
        waiting = handoff.get(session, first)
        with pytest.raises(HandoffError, match="Take the conversation first"):
            handoff.check_holder(waiting, account(session, "marta"))
        with pytest.raises(HandoffError, match="Take the conversation first"):
            handoff.check_holder(waiting, account(session, "ana"))  # admins too
        handoff.take(session, first, account(session, "marta"))
    with db.begin() as session:
        held = handoff.get(session, first)
        handoff.check_holder(held, account(session, "marta"))
        handoff.check_holder(held, account(session, "ana"))
        with pytest.raises(HandoffError, match="Another coach is talking"):
            handoff.check_holder(held, account(session, "luca"))
        handoff.close(session, held)
        with pytest.raises(HandoffError, match="Take the conversation first"):
            handoff.check_holder(held, account(session, "marta"))


# --- timeouts -------------------------------------------------------------------------------


def test_requests_nobody_took_in_time_time_out(
    db: sessionmaker[Session], clock: list[dt.datetime]
) -> None:
    def at(minutes_ago: int, sender: str, **fields: object) -> Handoff:
        return Handoff(sender_id=sender, requested_at=NOW - dt.timedelta(minutes=minutes_ago),
                       **fields)  # fmt: skip

    with db.begin() as session:
        marta = account(session, "marta")
        rows = [
            at(20, "tg-old-it", language="it", telegram_chat_id=111),
            at(16, "tg-old-hr", language="hr"),  # no chat known
            at(14, "tg-recent", language="en", telegram_chat_id=333),
            at(40, "tg-taken", status="active", taken_by=marta.id, telegram_chat_id=444),
            at(50, "tg-closed", status="closed"),
        ]
        session.add_all(rows)
        session.flush()
        ids = {row.sender_id: row.id for row in rows}
    with db.begin() as session:
        expired = handoff.expire_waiting(session, dt.timedelta(minutes=15))
    assert sorted(expired, key=lambda item: item.sender_id) == [
        Expired("tg-old-hr", None, "hr"),
        Expired("tg-old-it", 111, "it"),
    ]
    with db.begin() as session:
        stored = {sender: session.get(Handoff, ids[sender]) for sender in ids}
        summary = {
            sender: (row.status, row.telegram_chat_id)  # type: ignore[union-attr]
            for sender, row in stored.items()
        }
        assert summary == {
            "tg-old-it": ("timed_out", None),
            "tg-old-hr": ("timed_out", None),
            "tg-recent": ("waiting", 333),
            "tg-taken": ("active", 444),
            "tg-closed": ("closed", None),
        }
        assert stored["tg-old-it"].closed_at.replace(tzinfo=dt.UTC) == NOW  # type: ignore[union-attr]
        assert handoff.state(session, "tg-old-it") is None
        assert handoff.expire_waiting(session, dt.timedelta(minutes=15)) == []
    clock[0] = NOW + dt.timedelta(minutes=2)
    with db.begin() as session:
        assert handoff.expire_waiting(session, dt.timedelta(minutes=15)) == [
            Expired("tg-recent", 333, "en")
        ]
