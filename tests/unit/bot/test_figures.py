"""The funders' figures and KPI export, and the coaches' caseload: people, notes, outcomes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import (
    CampaignStart,
    CheckIn,
    DetailsViewed,
    Handoff,
    Opportunity,
    Outcome,
    Person,
    Rating,
)
from bot.services import campaigns, caseload, conversations, figures, people
from bot.services.caseload import CaseloadError
from bot.services.figures import Period
from bot.services.paging import Page
from connectors.rasa.events import EVENTS, RasaEvents
from tests.conftest import account

MAR = [dt.datetime(2026, 3, day, tzinfo=dt.UTC) for day in range(1, 6)]  # MAR[0] is March 1st
FEB_28 = dt.datetime(2026, 2, 28, tzinfo=dt.UTC)
PERIOD = Period(dt.date(2026, 3, 1), dt.date(2026, 3, 3))
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def db(console_db: sessionmaker[Session]) -> sessionmaker[Session]:
    """The console database of tests/conftest.py (coaches marta and luca, admin ana)."""
    return console_db


def opportunity(session: Session, kind: str, key: str) -> int:
    item = Opportunity(natural_key=key, kind=kind, title=f"A {kind}", provider="Provider",
                       country="HR", mode="online")  # fmt: skip
    session.add(item)
    session.flush()
    return item.id


# --- figures --------------------------------------------------------------------------------


def _user_event(sender: str, at: dt.datetime, intent: str | None, language: str) -> dict[str, Any]:
    data = {
        "event": "user",
        "text": "some words",
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": []},
        "metadata": {"language": language},
    }
    return {"sender_id": sender, "type_name": "user", "timestamp": at.timestamp(),
            "intent_name": intent, "data": json.dumps(data)}  # fmt: skip


def _bot_event(sender: str, at: dt.datetime) -> dict[str, Any]:
    data = {"event": "bot", "text": "An answer", "data": {}, "metadata": {}}
    return {"sender_id": sender, "type_name": "bot", "timestamp": at.timestamp(),
            "intent_name": None, "data": json.dumps(data)}  # fmt: skip


@pytest.fixture
def tracker_url(tmp_path: Path) -> str:
    """Messages on Feb 28 to Mar 4; the period is Mar 1 to Mar 3."""
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    engine = create_engine(url)
    EVENTS.metadata.create_all(engine)
    rows = [
        _user_event("tg-old", FEB_28 + 23 * HOUR, "ask_jobs", "en"),  # before the period
        _user_event("tg-s1", MAR[0] + 9 * HOUR, "ask_jobs", "en"),
        _bot_event("tg-s1", MAR[0] + 9 * HOUR),
        _user_event("tg-s1", MAR[0] + 10 * HOUR, "greet", "en"),
        _user_event("tg-s2", MAR[0] + 23 * HOUR, "nlu_fallback", "it"),
        _user_event("tg-s1", MAR[1] + 8 * HOUR, "ask_jobs", "en"),
        _user_event("tg-s3", MAR[2] + 1 * HOUR, "ask_jobs", "en"),
        _user_event("tg-s3", MAR[2] + 2 * HOUR, "ask_trainings", "en"),
        _user_event("tg-s3", MAR[2] + 3 * HOUR, None, "en"),  # no intent recorded
        _user_event("tg-new", MAR[3] + 1 * HOUR, "ask_jobs", "fr"),  # after the period
    ]
    with engine.begin() as connection:
        connection.execute(insert(EVENTS), rows)
    return url


def _person(session: Session, sender: str, registered: dt.datetime | None, **fields: Any) -> Person:
    person = people.give_consent(session, sender)
    person.registered_at = registered
    for name, value in fields.items():
        setattr(person, name, value)
    session.flush()
    return person


@pytest.fixture
def period_data(db: sessionmaker[Session], tracker_url: str) -> sessionmaker[Session]:
    """Registrations, handoffs, outcomes and views in and around the period."""
    with db.begin() as session:
        conversations.sync(session, RasaEvents(tracker_url))
        marta = account(session, "marta")
        liceo = campaigns.create(
            session, name="Liceo Galilei", partner="Comune di Napoli", venue="school",
            language="it", starts_on=None, ends_on=None, by="admin",
        )  # fmt: skip
        session.add_all(
            [
                CampaignStart(campaign_id=liceo.id, day=dt.date(2026, 3, 1), count=5),
                CampaignStart(campaign_id=liceo.id, day=dt.date(2026, 2, 28), count=2),
            ]
        )
        p1 = _person(
            session, "tg-s1", MAR[0] + 12 * HOUR, country="HR", age=16, gender="woman",
            campaign_id=liceo.id,
        )  # fmt: skip
        _person(session, "tg-s2", MAR[2] + 23 * HOUR, country="IT", age=22, gender="man")
        _person(session, "tg-s3", MAR[2] + 5 * HOUR)  # no country, no age given
        _person(session, "tg-s4", MAR[2] + 6 * HOUR, country="HR", age=31)
        _person(session, "tg-old", FEB_28, country="FR", age=20)  # before the period
        _person(session, "tg-s5", None, country="LT", age=18)  # consent only
        handoffs = [
            Handoff(sender_id="tg-s1", requested_at=MAR[0] + HOUR, taken_at=MAR[0] + 2 * HOUR,
                    taken_by=marta.id, status="closed"),
            Handoff(sender_id="tg-s2", requested_at=MAR[1], status="timed_out"),
            Handoff(sender_id="tg-s3", requested_at=MAR[2] + HOUR, reason="crisis",
                    urgent=True, category="abuse", taken_at=MAR[2] + 2 * HOUR, status="active"),
            Handoff(sender_id="tg-old", requested_at=FEB_28, taken_at=FEB_28 + HOUR),
            Handoff(sender_id="tg-new", requested_at=MAR[3], reason="crisis"),
        ]  # fmt: skip
        session.add_all(handoffs)
        outcomes = [("job", dt.date(2026, 3, 1)), ("job", dt.date(2026, 3, 3)),
                    ("training", dt.date(2026, 3, 2)), ("education", dt.date(2026, 3, 4)),
                    ("education", dt.date(2026, 2, 28))]  # fmt: skip
        for kind, day in outcomes:
            session.add(Outcome(person_id=p1.id, kind=kind, date=day, created_at=MAR[0]))
        # A check-in in the period, answered (working: self-reported), another not answered
        session.add_all([
            CheckIn(person_id=p1.id, round=1, queued_at=MAR[1], sent_at=MAR[1],
                    status="working", helpful=4, answered_at=MAR[1] + HOUR),
            CheckIn(person_id=p1.id, round=2, queued_at=MAR[2], sent_at=MAR[2]),
            Outcome(person_id=p1.id, kind="job", date=dt.date(2026, 3, 2), source="self",
                    created_at=MAR[1] + HOUR),
            Rating(coach_id=marta.id, score=5, asked_at=MAR[1], answered_at=MAR[1] + HOUR),
            Rating(coach_id=marta.id, score=3, asked_at=MAR[1], answered_at=MAR[2]),
            Rating(sender_id="tg-s2", coach_id=marta.id, asked_at=MAR[2]),  # not answered
        ])  # fmt: skip
        course = opportunity(session, "training", "t1")
        other = opportunity(session, "training", "t2")
        job = opportunity(session, "job", "j1")
        views = [(course, "training", "tg-s1", MAR[0]), (other, "training", "tg-s1", MAR[1]),
                 (course, "training", "tg-s2", MAR[2] + 23 * HOUR),
                 (course, "training", "tg-s1", FEB_28), (job, "job", "tg-s3", MAR[2]),
                 (job, "job", "tg-s3", MAR[3])]  # fmt: skip
        for item, kind, sender, when in views:
            session.add(DetailsViewed(opportunity_id=item, kind=kind, sender_id=sender,
                                      viewed_at=when))  # fmt: skip
    return db


def test_figures_of_a_period(period_data: sessionmaker[Session], tracker_url: str) -> None:
    with period_data.begin() as session:
        found = figures.compute(session, RasaEvents(tracker_url), PERIOD)
    days = PERIOD.days
    assert days == [dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)]
    assert found.conversations_per_day == dict(zip(days, [2, 0, 1], strict=True))
    assert found.active_people_per_day == dict(zip(days, [2, 1, 1], strict=True))
    assert found.registrations_per_day == dict(zip(days, [1, 0, 3], strict=True))
    assert found.people_reached == 3
    assert (found.messages, found.fallback_messages) == (7, 1)
    assert found.fallback_rate == pytest.approx(1 / 7)
    assert found.languages == Counter({"en": 2, "it": 1})
    # Questions only: not greetings, answers to buttons or what was not understood
    assert found.top_intents == [("ask_jobs", 3), ("ask_trainings", 1)]
    assert found.handoffs == Counter({"request": 2, "crisis": 1, "taken by a coach": 2})
    assert found.outcomes == Counter({"job": 3, "training": 1})  # one of them self-reported


def test_figures_without_any_activity(db: sessionmaker[Session], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no-tracker.db'}"  # Rasa has not made its table yet
    period = Period.last_days(2, today=dt.date(2026, 3, 2))
    assert period == Period(dt.date(2026, 3, 1), dt.date(2026, 3, 2))
    with db.begin() as session:
        found = figures.compute(session, RasaEvents(url), period)
    zeros = {dt.date(2026, 3, 1): 0, dt.date(2026, 3, 2): 0}
    assert found.conversations_per_day == found.active_people_per_day == zeros
    assert found.registrations_per_day == zeros
    assert (found.people_reached, found.messages, found.fallback_rate) == (0, 0, 0.0)
    assert found.top_intents == [] and found.languages == Counter()
    assert found.handoffs == Counter({"taken by a coach": 0}) and found.outcomes == Counter()


def test_the_kpi_export(period_data: sessionmaker[Session], tracker_url: str) -> None:
    with period_data.begin() as session:
        text = figures.kpi_csv(session, RasaEvents(tracker_url), PERIOD)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["metric", "breakdown", "value"]
    assert rows[1:] == [
        ["period_start", "", "2026-03-01"],
        ["period_end", "", "2026-03-03"],
        ["people_reached", "", "3"],
        ["messages_received", "", "7"],
        ["messages_not_understood", "", "1"],
        ["people_reached", "language=en", "2"],
        ["people_reached", "language=it", "1"],
        ["registered", "", "4"],
        ["registered", "country=HR", "2"],
        ["registered", "country=IT", "1"],
        ["registered", "country=not given", "1"],
        ["registered", "age_band=15-17", "1"],
        ["registered", "age_band=18-24", "1"],
        ["registered", "age_band=not given", "1"],
        ["registered", "age_band=other", "1"],
        ["registered", "gender=man", "1"],
        ["registered", "gender=not answered", "2"],
        ["registered", "gender=woman", "1"],
        ["people_reached", "gender=man", "1"],
        ["people_reached", "gender=woman", "1"],
        ["people_reached", "gender=not answered", "1"],
        ["campaign_starts", "campaign=Liceo Galilei", "5"],  # not the 2 of February
        ["campaign_starts", "partner=Comune di Napoli", "5"],
        ["registered", "campaign=Liceo Galilei", "1"],
        ["registered", "campaign=none", "3"],
        ["registered", "partner=Comune di Napoli", "1"],
        ["registered", "partner=none", "3"],
        ["trainings_viewed", "", "3"],
        ["trainings_viewed", "distinct_people", "2"],
        ["jobs_viewed", "", "1"],
        ["jobs_viewed", "distinct_people", "1"],
        ["outcomes", "kind=job", "3"],
        ["outcomes", "kind=training", "1"],
        ["outcomes", "", "4"],
        ["outcomes", "kind=job,source=coach", "2"],
        ["outcomes", "kind=job,source=self", "1"],
        ["outcomes", "kind=training,source=coach", "1"],
        ["trained", "people", "1"],
        ["trained", "gender=woman", "1"],
        ["trained", "campaign=Liceo Galilei", "1"],
        ["placed", "people", "1"],  # three jobs, one person
        ["placed", "gender=woman", "1"],
        ["placed", "campaign=Liceo Galilei", "1"],
        ["checkins_sent", "", "2"],
        ["checkins_answered", "", "1"],
        ["checkins_response_rate", "", "0.500"],
        ["assistant_helpful_1_to_5", "average", "4.00"],
        ["coach_satisfaction_1_to_5", "answers", "2"],  # the unanswered one is not counted
        ["coach_satisfaction_1_to_5", "average", "4.00"],
        ["coach_handoffs", "crisis", "1"],
        ["coach_handoffs", "request", "2"],
        ["coach_handoffs", "taken by a coach", "2"],
        ["appointments_kept", "", "0"],  # (tests/unit/bot/test_plans.py counts some)
        ["appointments_missed", "", "0"],
    ]


@pytest.mark.parametrize(
    ("age", "band"),
    [(None, "not given"), (14, "other"), (15, "15-17"), (17, "15-17"), (18, "18-24"),
     (24, "18-24"), (25, "25-29"), (29, "25-29"), (30, "other")],
)  # fmt: skip
def test_age_band(age: int | None, band: str) -> None:
    assert figures.age_band(age) == band


# --- caseload -------------------------------------------------------------------------------


@pytest.fixture
def caseload_people(db: sessionmaker[Session]) -> dict[str, int]:
    """Three registered people (two in Split) and one who only consented."""
    ids = {}
    with db.begin() as session:
        marta, luca = account(session, "marta"), account(session, "luca")
        found = [
            ("tg-ana", "Ana Horvat", "Split", 3, marta.id, MAR[0]),
            ("tg-luka", "Luka Kovač", "Zagreb", 1, None, MAR[0]),
            ("tg-mia", "Mia", "Split (Croatia)", 2, luca.id, MAR[0]),
            ("tg-zoe", "Zoe", "Split", 4, None, None),
        ]
        for sender, name, place, day, coach, registered in found:
            person = _person(session, sender, registered, name=name, place=place,
                             coach_id=coach, last_active_at=MAR[day])  # fmt: skip
            ids[name.split()[0]] = person.id
    return ids


def names(page: Page[Person]) -> list[str | None]:
    return [person.name for person in page.items]


def test_registered_people_most_recently_active_first(
    db: sessionmaker[Session], caseload_people: dict[str, int]
) -> None:
    with db.begin() as session:
        marta = account(session, "marta")
        everyone = caseload.registered_people(session)
        assert (names(everyone), everyone.total, everyone.pages) == (
            ["Ana Horvat", "Mia", "Luka Kovač"], 3, 1,
        )  # fmt: skip
        assert names(caseload.registered_people(session, query="  SPLIT ")) == ["Ana Horvat", "Mia"]
        assert names(caseload.registered_people(session, query="horv")) == ["Ana Horvat"]
        assert names(caseload.registered_people(session, query="zagreb")) == ["Luka Kovač"]
        assert names(caseload.registered_people(session, query="zoe")) == []  # not registered
        assert names(caseload.registered_people(session, query="%")) == []
        assert names(caseload.registered_people(session, coach="mine", user=marta)) == [
            "Ana Horvat"
        ]
        assert names(caseload.registered_people(session, coach="none")) == ["Luka Kovač"]
        assert names(caseload.registered_people(session, coach="mine")) == names(everyone)
        mine_in_split = caseload.registered_people(session, "split", "mine", marta)
        assert names(mine_in_split) == ["Ana Horvat"]
        second = caseload.registered_people(session, page=2, per_page=2)
        assert (names(second), second.total, second.pages, second.page) == (["Luka Kovač"], 3, 2, 2)
        clamped = caseload.registered_people(session, page=7, per_page=2)
        assert (names(clamped), clamped.page) == (["Luka Kovač"], 2)


def test_taking_on_and_releasing_a_person(
    db: sessionmaker[Session], caseload_people: dict[str, int]
) -> None:
    luka = caseload_people["Luka"]
    with db.begin() as session:
        marta = account(session, "marta")
        assert caseload.take_on(session, luka, marta).coach_id == marta.id
    with db.begin() as session:
        luca = account(session, "luca")
        caseload.take_on(session, luka, luca)  # another coach takes over
    with db.begin() as session:
        assert session.get(Person, luka).coach.username == "luca"  # type: ignore[union-attr]
        assert names(caseload.registered_people(session, coach="none")) == []
        caseload.release(session, luka)
    with db.begin() as session:
        assert session.get(Person, luka).coach_id is None  # type: ignore[union-attr]
        assert names(caseload.registered_people(session, coach="none")) == ["Luka Kovač"]
        for person_id in (caseload_people["Zoe"], 9999):
            with pytest.raises(CaseloadError, match="no such registered person"):
                caseload.take_on(session, person_id, account(session, "marta"))
            with pytest.raises(CaseloadError, match="no such registered person"):
                caseload.release(session, person_id)


def test_notes_are_trimmed_and_must_say_something(
    db: sessionmaker[Session], caseload_people: dict[str, int]
) -> None:
    ana = caseload_people["Ana"]
    with db.begin() as session:
        marta = account(session, "marta")
        note = caseload.add_note(session, ana, marta, "  Interested in the barista course.\n")
        assert (note.text, note.author_id, note.person_id) == (
            "Interested in the barista course.", marta.id, ana,
        )  # fmt: skip
        assert len(caseload.add_note(session, ana, marta, "x" * 5000).text) == 5000
        with pytest.raises(CaseloadError, match="The note is empty"):
            caseload.add_note(session, ana, marta, " \n ")
        with pytest.raises(CaseloadError, match="at most 5,000 characters"):
            caseload.add_note(session, ana, marta, "x" * 5001)
        with pytest.raises(CaseloadError, match="no such registered person"):
            caseload.add_note(session, caseload_people["Zoe"], marta, "hello")
    with db.begin() as session:
        texts = [note.text for note in session.get(Person, ana).notes]  # type: ignore[union-attr]
        assert sorted(texts) == sorted(["Interested in the barista course.", "x" * 5000])


def test_outcomes_are_checked_before_they_are_recorded(
    db: sessionmaker[Session], caseload_people: dict[str, int]
) -> None:
    ana = caseload_people["Ana"]
    today = people.now().date()
    with db.begin() as session:
        marta = account(session, "marta")
        job = opportunity(session, "job", "j1")
        outcome = caseload.record_outcome(session, ana, marta, "job", today, job, " Barista ")
        assert (outcome.kind, outcome.date, outcome.opportunity_id, outcome.detail) == (
            "job", today, job, "Barista",
        )  # fmt: skip
        assert (outcome.person_id, outcome.recorded_by) == (ana, marta.id)
        ahead = today + dt.timedelta(days=366)
        assert caseload.record_outcome(session, ana, marta, "education", ahead).date == ahead
        bad = [
            ({"kind": "holiday"}, "must be one of: training, job, education"),
            ({"opportunity_id": 9999}, "no such training or job"),
            ({"date": today + dt.timedelta(days=367)}, "more than a year ahead"),
            ({"detail": "x" * 301}, "at most 300 characters"),
        ]
        for change, says in bad:
            arguments: dict[str, Any] = {"kind": "training", "date": today, **change}
            with pytest.raises(CaseloadError, match=says):
                caseload.record_outcome(session, ana, marta, **arguments)
        with pytest.raises(CaseloadError, match="no such registered person"):
            caseload.record_outcome(session, caseload_people["Zoe"], marta, "job", today)
    with db.begin() as session:
        kinds = [item.kind for item in session.get(Person, ana).outcomes]  # type: ignore[union-attr]
        assert kinds == ["education", "job"]  # the newest date first
