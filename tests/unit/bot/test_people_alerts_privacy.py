"""Consent, profiles, alert matching and queueing, quiet hours, export, erasure and purge."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import AlertDelivery, Opportunity, Person, Subscription
from bot.services import alerts, caseload, handoff, people, privacy
from bot.services.catalogue import resolve_place
from bot.services.catalogue_csv import import_catalogue
from bot.services.people import Profile, policy
from bot.services.users import create_user
from connectors.rasa.events import EVENTS, RasaEvents, tracker_engine
from tests.conftest import catalogue_csv, opportunity_row


@pytest.fixture
def tracker_url(tmp_path: Path) -> str:
    """A tracker store with Rasa's `events` table."""
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    EVENTS.metadata.create_all(create_engine(url))
    return url


def add_events(url: str, sender: str, *texts: str, when: float | None = None) -> None:
    when = when or dt.datetime.now(dt.UTC).timestamp()
    rows = []
    for index, text in enumerate(texts):
        kind = "user" if index % 2 == 0 else "bot"
        data = {"event": kind, "text": text}
        if kind == "user":
            data["parse_data"] = {"intent": {"name": "greet"}}
        rows.append(
            {"sender_id": sender, "type_name": kind, "timestamp": when + index,
             "data": json.dumps(data)}
        )  # fmt: skip
    with tracker_engine(url).begin() as connection:
        connection.execute(insert(EVENTS), rows)


def register(session: Session, sender: str, **profile: object) -> Person:
    people.give_consent(session, sender)
    return people.save_profile(session, sender, Profile(**profile))  # type: ignore[arg-type]


def import_rows(session: Session, *rows: dict[str, str]) -> list[int]:
    report = import_catalogue(session, catalogue_csv(*rows))
    assert report.ok, report.errors
    return report.created


# --- policy and profile ---------------------------------------------------------------------


def test_consent_age_and_time_zone_follow_the_country() -> None:
    rules = policy()
    assert rules.consent_age("IT") == 14
    assert rules.consent_age("HR") == 16
    assert rules.consent_age(None) == 16
    assert rules.needs_guardian(15, "HR") and not rules.needs_guardian(15, "IT")
    assert not rules.eligible(31) and rules.eligible(15) and rules.eligible(None)
    assert str(rules.timezone("LT")) == "Europe/Vilnius"
    assert str(rules.timezone("XX")) == rules.default_timezone


@pytest.mark.parametrize(
    ("typed", "age"),
    [("17", 17), ("I'm 23", 23), ("23 years old", 23), ("twenty", None), ("17 or 18", None)],
)
def test_parse_age(typed: str, age: int | None) -> None:
    assert people.parse_age(typed) == age


def test_consent_is_recorded_with_time_and_version(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        person = people.give_consent(session, "tg-a", language="it")
        assert person.consent_version == policy().notice_version
        assert person.consent_at is not None and person.language == "it"
        assert person.registered_at is None
    with sessions.begin() as session:
        assert people.erase_person(session, "tg-a")
        assert people.get_person(session, "tg-a") is None
        assert not people.erase_person(session, "tg-a")


def test_a_profile_needs_consent_and_registering_again_updates_it(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session, pytest.raises(LookupError):
        people.save_profile(session, "tg-nobody", Profile(name="Ana"))
    with sessions.begin() as session:
        first = register(session, "tg-b", name="Ana", age=15, country="HR", guardian_confirmed=True)
        assert first.guardian_consent_at is not None
        registered_at = first.registered_at
    with sessions.begin() as session:
        again = register(session, "tg-b", name="Ana M.", age=19, interests=["digital"])
        assert again.name == "Ana M." and again.interest_keys == ["digital"]
        # the first registration's date is kept (SQLite gives it back without its UTC zone)
        assert again.registered_at.replace(tzinfo=None) == registered_at.replace(tzinfo=None)
        assert again.guardian_consent_at is None  # 19: no guardian needed any more
        assert session.scalar(select(func.count()).select_from(Person)) == 1


def test_touch_records_activity_and_chat_only_for_people_who_consented(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        assert not people.touch(session, "tg-stranger", 42)
        people.give_consent(session, "tg-c")
        assert people.touch(session, "tg-c", 4242)
    with sessions.begin() as session:
        person = people.get_person(session, "tg-c")
        assert person is not None and person.telegram_chat_id == 4242
        assert session.scalar(select(func.count()).select_from(Person)) == 1


# --- alerts ---------------------------------------------------------------------------------


def test_subscriptions_match_kind_topic_place_and_age(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        ids = import_rows(
            session,
            opportunity_row(title="IT in Split"),
            opportunity_row(title="IT job in Split", kind="job"),
            opportunity_row(title="Tourism in Split", topics="tourism_hospitality"),
            opportunity_row(title="IT in Palermo", city="Palermo", region="Sicilia", country="IT"),
            opportunity_row(title="IT in Split 25+", min_age="25"),
        )
        items = {item.title: item for item in session.scalars(select(Opportunity))}
        person = register(session, "tg-d", age=19, country="HR")
        split = resolve_place(session, "Split")
        subscription, created = alerts.subscribe(session, person, "training", ["digital"], split)
        assert created
        again, created_again = alerts.subscribe(session, person, "training", ["digital"], split)
        assert again.id == subscription.id and not created_again
        matching = [
            title for title, item in items.items() if alerts.matches(subscription, item, 19)
        ]
        assert matching == ["IT in Split"]
        croatia, _ = alerts.subscribe(
            session, person, "both", [], resolve_place(session, "Croatia")
        )
        assert {t for t, item in items.items() if alerts.matches(croatia, item, 25)} == {
            "IT in Split", "IT job in Split", "Tourism in Split", "IT in Split 25+",
        }  # fmt: skip
        assert len(ids) == 5


def test_an_offer_reserved_to_women_is_not_alerted_to_a_man(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        for sender, gender in (("tg-w", "woman"), ("tg-m", "man"), ("tg-n", None)):
            person = register(session, sender)
            person.gender = gender
            alerts.subscribe(session, person, "both", [], None)
        ids = import_rows(session, opportunity_row(title="Women in tech", women_only="true"))
        assert alerts.queue_alerts(session, ids) == 2
        queued = {d.person.sender_id for d in session.scalars(select(AlertDelivery))}
    assert queued == {"tg-w", "tg-n"}  # not answered: told, as before (the result says so)


def test_queue_alerts_never_queues_the_same_item_twice(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for sender in ("tg-e1", "tg-e2"):
            person = register(session, sender)
            alerts.subscribe(session, person, "both", ["digital"], None)
            alerts.subscribe(session, person, "training", [], None)  # overlaps the first
        paused = register(session, "tg-e3")
        alerts.subscribe(session, paused, "both", [], None)
        paused.alerts_paused = True
        ids = import_rows(
            session,
            opportunity_row(title="A"),
            opportunity_row(title="B", topics="green"),
            opportunity_row(title="closed", deadline=str(dt.date.today() - dt.timedelta(days=1))),
        )
        assert alerts.queue_alerts(session, ids) == 4  # 2 people x (A, B); none for "closed"
        assert alerts.queue_alerts(session, ids) == 0
        assert session.scalar(select(func.count()).select_from(AlertDelivery)) == 4


def test_unsubscribing_drops_what_was_queued(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        person = register(session, "tg-f")
        alerts.subscribe(session, person, "both", [], None)
        alerts.queue_alerts(session, import_rows(session, opportunity_row()))
        assert alerts.unsubscribe(session, person, None) == 1
        assert session.scalar(select(func.count()).select_from(Subscription)) == 0
        assert session.scalar(select(func.count()).select_from(AlertDelivery)) == 0


@pytest.mark.parametrize(
    ("hour", "quiet"),
    [(20, False), (21, True), (23, True), (0, True), (7, True), (8, False), (12, False)],
)
def test_quiet_hours_span_midnight(hour: int, quiet: bool) -> None:
    assert alerts.is_quiet(dt.datetime(2026, 11, 22, hour, 30), 21, 8) is quiet


def test_due_alerts_wait_for_morning_in_the_persons_time_zone(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        malta = register(session, "tg-mt", country="MT")
        tbilisi = register(session, "tg-ge", country="GE")  # UTC+4
        no_chat = register(session, "tg-x")
        for person, chat in ((malta, 1), (tbilisi, 2), (no_chat, None)):
            person.telegram_chat_id = chat
            alerts.subscribe(session, person, "both", [], None)
        alerts.queue_alerts(session, import_rows(session, opportunity_row()))
        # 17:30 UTC: 18:30 in Malta (day), 21:30 in Tbilisi (night)
        evening = dt.datetime(2026, 11, 23, 17, 30, tzinfo=dt.UTC)
        assert [item.chat_id for item in alerts.due_alerts(session, evening, (21, 8))] == [1]
        # 05:30 UTC: 06:30 in Malta (night), 09:30 in Tbilisi (day)
        morning = dt.datetime(2026, 11, 24, 5, 30, tzinfo=dt.UTC)
        assert [item.chat_id for item in alerts.due_alerts(session, morning, (21, 8))] == [2]


def test_a_blocked_person_is_paused_and_failures_give_up(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        person = register(session, "tg-g")
        person.telegram_chat_id = 7
        alerts.subscribe(session, person, "both", [], None)
        alerts.queue_alerts(
            session, import_rows(session, opportunity_row(title="A"), opportunity_row(title="B"))
        )
        first, second = session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)).all()
        for _ in range(4):
            alerts.mark_failed(session, first.id, "timeout")
        assert first.status == "queued" and first.attempts == 4
        alerts.mark_failed(session, first.id, "timeout")
        assert first.status == "failed"
        alerts.mark_blocked(session, person.id)
        assert person.alerts_paused and second.status == "blocked"
        noon = dt.datetime(2026, 11, 23, 11, 0, tzinfo=dt.UTC)
        assert alerts.due_alerts(session, noon, (21, 8)) == []


# --- export, erasure, purge -----------------------------------------------------------------


def test_export_holds_everything_stored(sessions: sessionmaker[Session], tracker_url: str) -> None:
    add_events(tracker_url, "tg-h", "hi", "Hello! What are you looking for?")
    add_events(tracker_url, "tg-other", "someone else's message")
    with sessions.begin() as session:
        person = register(session, "tg-h", name="Zora", age=21, place="Split", interests=["green"])
        alerts.subscribe(session, person, "job", ["green"], None)
        alerts.queue_alerts(
            session, import_rows(session, opportunity_row(kind="job", topics="green"))
        )
    with sessions.begin() as session:
        document = privacy.export_person(session, RasaEvents(tracker_url), "tg-h")
    json.dumps(document)  # JSON-ready
    assert document["consent"]["notice_version"] == policy().notice_version
    assert document["profile"]["name"] == "Zora" and document["profile"]["age"] == 21
    assert document["alert_subscriptions"][0]["kind"] == "job"
    assert document["alert_deliveries"][0]["status"] == "queued"
    assert [line["text"] for line in document["conversation"]] == [
        "hi", "Hello! What are you looking for?",
    ]  # fmt: skip
    assert document["conversation"][0]["understood_as"] == "greet"


def test_export_holds_what_coaches_recorded_too(
    sessions: sessionmaker[Session], tracker_url: str
) -> None:
    with sessions.begin() as session:
        register(session, "tg-n", name="Zora")
        coach = create_user(session, "coach-n", "coach", "a long password")
        person_id = session.scalar(select(Person.id).where(Person.sender_id == "tg-n"))
        assert person_id is not None
        caseload.add_note(session, person_id, coach, "Wants to work with animals")
        caseload.record_outcome(session, person_id, coach, "training", dt.date(2026, 10, 1))
        handoff.request(session, "tg-n", "en")
    with sessions.begin() as session:
        document = privacy.export_person(session, RasaEvents(tracker_url), "tg-n")
    json.dumps(document)
    assert [note["text"] for note in document["coach_notes"]] == ["Wants to work with animals"]
    assert document["outcomes"] == [
        {
            "kind": "training",
            "date": "2026-10-01",
            "opportunity": None,
            "detail": "",
            "source": "your coach",
        }
    ]
    assert [(item["reason"], item["status"]) for item in document["requests_for_a_coach"]] == [
        ("request", "waiting")
    ]


def test_export_of_someone_who_declined_has_only_the_conversation(
    sessions: sessionmaker[Session], tracker_url: str
) -> None:
    add_events(tracker_url, "tg-i", "jobs in malta")
    with sessions.begin() as session:
        document = privacy.export_person(session, RasaEvents(tracker_url), "tg-i")
    assert document["profile"] is None and document["consent"] is None
    assert [line["text"] for line in document["conversation"]] == ["jobs in malta"]


def test_erasure_leaves_no_trace(sessions: sessionmaker[Session], tracker_url: str) -> None:
    add_events(tracker_url, "tg-j", "hi", "hello", "my name is Zora")
    add_events(tracker_url, "tg-keep", "hi")
    with sessions.begin() as session:
        person = register(session, "tg-j", name="Zora")
        alerts.subscribe(session, person, "both", [], None)
        alerts.queue_alerts(session, import_rows(session, opportunity_row()))
    with sessions.begin() as session:
        assert people.erase_person(session, "tg-j")
    assert privacy.erase_conversation(RasaEvents(tracker_url), "tg-j") == 3
    with sessions.begin() as session:
        for model in (Person, Subscription, AlertDelivery):
            assert session.scalar(select(func.count()).select_from(model)) == 0
    assert privacy.transcript(RasaEvents(tracker_url), "tg-j") == []
    assert len(privacy.transcript(RasaEvents(tracker_url), "tg-keep")) == 1


def test_purge_erases_only_the_inactive(sessions: sessionmaker[Session], tracker_url: str) -> None:
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=40)).timestamp()
    add_events(tracker_url, "tg-old", "hi", when=old)
    add_events(tracker_url, "tg-anon-old", "jobs?", when=old)
    add_events(tracker_url, "tg-new", "hi")
    with sessions.begin() as session:
        register(session, "tg-old").last_active_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        register(session, "tg-new")
    with sessions.begin() as session:
        counts = privacy.purge_inactive(session, RasaEvents(tracker_url), days=30)
    assert counts == {"people": 1, "events": 2}
    with sessions.begin() as session:
        assert [p.sender_id for p in session.scalars(select(Person))] == ["tg-new"]
    assert privacy.transcript(RasaEvents(tracker_url), "tg-old") == []
    assert privacy.transcript(RasaEvents(tracker_url), "tg-anon-old") == []
    assert len(privacy.transcript(RasaEvents(tracker_url), "tg-new")) == 1


def test_privacy_functions_cope_with_no_tracker_store_yet(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'missing.db'}"
    assert privacy.transcript(RasaEvents(url), "tg-k") == []
    assert privacy.erase_conversation(RasaEvents(url), "tg-k") == 0
    with sessions.begin() as session:
        assert privacy.purge_inactive(session, RasaEvents(url), days=1) == {
            "people": 0,
            "events": 0,
        }
