"""Conversation summaries folded from Rasa's tracker store, the console's filters, coaches'
tags, notes and reviews, erasure, and transcripts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import (
    Conversation,
    ConversationTag,
    DetailsViewed,
    Handoff,
    Opportunity,
    SyncState,
    User,
)
from bot.services import conversation_list, conversations, people, transcripts
from bot.services.conversation_list import Filters
from bot.services.conversations import ConversationError
from connectors.rasa.events import EVENTS, RasaEvents

T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
ANA = "tg-a1a1a1a1a1a1a1a1a1a1a1a1"
BEN = "tg-b2b2b2b2b2b2b2b2b2b2b2b2"
CAM = "tg-c3c3c3c3c3c3c3c3c3c3c3c3"
DIA = "tg-d4d4d4d4d4d4d4d4d4d4d4d4"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def db(console_db: sessionmaker[Session]) -> sessionmaker[Session]:
    """The console database of tests/conftest.py (coaches marta and luca, admin ana)."""
    return console_db


class Tracker:
    """A Rasa SQL tracker store in a temporary SQLite file."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        EVENTS.metadata.create_all(self.engine)

    def add(self, sender: str, event: dict[str, Any], at: dt.datetime) -> int:
        """Store one event as Rasa does; returns its id."""
        parse = event.get("parse_data") or {}
        row = {
            "sender_id": sender,
            "type_name": event["event"],
            "timestamp": at.timestamp(),
            "intent_name": (parse.get("intent") or {}).get("name"),
            "action_name": event.get("name") if event["event"] == "action" else None,
            "data": json.dumps(event),
        }
        with self.engine.begin() as connection:
            return int(connection.execute(insert(EVENTS).values(**row)).inserted_primary_key[0])

    def delete(self, sender: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(EVENTS).where(EVENTS.c.sender_id == sender))


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    return Tracker(f"sqlite:///{tmp_path / 'tracker.db'}")


def user(
    text: str,
    intent: str | None = None,
    confidence: float | None = None,
    entities: tuple[tuple[str, str], ...] = (),
    language: str | None = None,
    **metadata: str,
) -> dict[str, Any]:
    if language:
        metadata["language"] = language
    return {
        "event": "user",
        "text": text,
        "parse_data": {
            "intent": {"name": intent, "confidence": confidence},
            "entities": [{"entity": name, "value": value} for name, value in entities],
        },
        "metadata": metadata,
    }


def bot(text: str, buttons: tuple[tuple[str, str], ...] = (), coach: str | None = None) -> dict:
    data = {"buttons": [{"title": title, "payload": payload} for title, payload in buttons]}
    return {
        "event": "bot",
        "text": text,
        "data": data,
        "metadata": {"coach": coach} if coach else {},
    }


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name}


def slot(name: str, value: str) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def minutes(count: float) -> dt.timedelta:
    return dt.timedelta(minutes=count)


def sync(db: sessionmaker[Session], tracker: Tracker, **options: int) -> int:
    with db.begin() as session:
        return conversations.sync(session, RasaEvents(tracker.url), **options)


def user_id(session: Session, username: str) -> int:
    found = session.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return found


def listed(db: sessionmaker[Session], filters: Filters, **paging: int) -> list[str]:
    with db.begin() as session:
        return [
            row.sender_id
            for row in conversation_list.list_conversations(session, filters, **paging).items
        ]


# --- sync -----------------------------------------------------------------------------------


def test_sync_folds_the_events_of_a_conversation_into_one_summary(
    db: sessionmaker[Session], tracker: Tracker
) -> None:
    tracker.add(ANA, action("action_session_start"), T0)
    tracker.add(ANA, user("jobs in Split", "ask_jobs", 0.93, (("location", "Split"),), "en"), T0)
    tracker.add(ANA, bot("Here are 2 jobs in Split:", (("More", "/show_more"),)), T0 + minutes(1))
    # a button payload: not searchable text, and its low confidence does not count
    tracker.add(ANA, user("/show_more", "show_more", 0.2, language="en"), T0 + minutes(2))
    tracker.add(ANA, slot("language", "it"), T0 + minutes(3))
    tracker.add(ANA, user("C'è un corso di CUCINA?", "ask_trainings", 0.61), T0 + minutes(4))
    last = tracker.add(ANA, action("action_listen"), T0 + minutes(30))
    assert sync(db, tracker) == 7
    with db.begin() as session:
        summary = conversations.get(session, ANA)
        assert summary is not None
        assert summary.started_at.replace(tzinfo=dt.UTC) == T0
        # the action half an hour later is no message: the last message stays the last
        assert summary.last_at.replace(tzinfo=dt.UTC) == T0 + minutes(4)
        assert summary.user_messages == 3
        assert summary.intents == " ask_jobs show_more ask_trainings "
        assert summary.min_confidence == 0.61
        assert (summary.language, summary.languages) == ("it", "en;it")
        assert summary.fallback is False
        assert summary.search_text == "jobs in split c e un corso di cucina"
        assert summary.last_event_id == last
        assert session.get(SyncState, conversations.SYNC_KEY).value == last
        row = conversation_list.list_conversations(session, Filters()).items[0]
    assert row.name == "anon-tg-a1a1a" and not row.registered
    assert row.languages == ["en", "it"] and row.language == "it"
    assert row.intents == ["ask_jobs", "show_more", "ask_trainings"]
    assert (row.user_messages, row.tags, row.handoff, row.reviewed) == (3, [], None, False)


def test_the_fallback_intent_or_a_fallback_action_marks_a_conversation(
    db: sessionmaker[Session], tracker: Tracker
) -> None:
    tracker.add(ANA, user("blorp", "nlu_fallback", 0.3), T0)
    tracker.add(BEN, user("hm", "greet", 0.5), T0)
    tracker.add(BEN, action("action_default_ask_affirmation"), T0)
    tracker.add(CAM, user("hello", "greet", 0.99), T0)
    tracker.add(CAM, action("action_search_jobs"), T0)
    # Nonsense is the NLU's out_of_scope: not understood either
    tracker.add(DIA, user("zxq vbnm plork wug", "out_of_scope", 0.97), T0)
    sync(db, tracker)
    with db.begin() as session:
        flags = {row.sender_id: row.fallback for row in session.scalars(select(Conversation))}
    assert flags == {ANA: True, BEN: True, CAM: False, DIA: True}


def test_a_message_read_again_after_a_rewind_counts_once(
    db: sessionmaker[Session], tracker: Tracker
) -> None:
    # Rasa's two-stage fallback rewinds and reads the person's message again.
    tracker.add(ANA, user("bye", "nlu_fallback", 0.3), T0)
    tracker.add(ANA, action("action_two_stage_fallback"), T0)
    tracker.add(ANA, {"event": "rewind"}, T0)
    tracker.add(ANA, action("action_listen"), T0)
    tracker.add(ANA, user("bye", "goodbye", 0.9), T0)
    tracker.add(ANA, user("bye again", "goodbye", 0.9), T0 + minutes(1))
    sync(db, tracker)
    with db.begin() as session:
        summary = session.get(Conversation, ANA)
        assert summary is not None and summary.user_messages == 2
        assert summary.search_text == "bye bye again"


def test_a_second_sync_reads_only_new_events_and_updates_the_same_row(
    db: sessionmaker[Session], tracker: Tracker
) -> None:
    tracker.add(ANA, user("hi", "greet", 0.9, language="en"), T0)
    tracker.add(ANA, bot("Hello!"), T0 + minutes(1))
    assert sync(db, tracker) == 2
    assert sync(db, tracker) == 0
    tracker.add(ANA, user("jobs?", "ask_jobs", 0.7), T0 + dt.timedelta(days=2))
    newest = tracker.add(BEN, user("ciao", "greet", 0.8, language="it"), T0 + minutes(5))
    assert sync(db, tracker) == 2
    with db.begin() as session:
        assert session.scalar(select(func.count()).select_from(Conversation)) == 2
        ana = conversations.get(session, ANA)
        assert ana is not None and ana.user_messages == 2
        assert ana.intents == " greet ask_jobs " and ana.min_confidence == 0.7
        assert ana.started_at.replace(tzinfo=dt.UTC) == T0
        assert ana.last_at.replace(tzinfo=dt.UTC) == T0 + dt.timedelta(days=2)
        assert ana.search_text == "hi jobs"
        assert session.get(SyncState, conversations.SYNC_KEY).value == newest


def test_sync_reads_in_batches_and_does_nothing_before_rasa_made_its_table(
    db: sessionmaker[Session], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'empty-tracker.db'}"
    with db.begin() as session:
        assert conversations.sync(session, RasaEvents(url)) == 0
    tracker = Tracker(url)
    for index in range(5):
        tracker.add(ANA, user(f"message {index}", "greet", 0.9), T0 + minutes(index))
    assert sync(db, tracker, batch=2) == 5
    with db.begin() as session:
        summary = conversations.get(session, ANA)
        assert summary is not None and summary.user_messages == 5


# --- listing and filters --------------------------------------------------------------------

DAY = dt.timedelta(days=1)


@pytest.fixture
def landscape(db: sessionmaker[Session], tracker: Tracker) -> sessionmaker[Session]:
    """Four conversations on four days, each different in one way or another."""
    tracker.add(ANA, user("jobs in Split", "ask_jobs", 0.93, language="en"), T0)
    tracker.add(ANA, bot("Here are 2 jobs:"), T0 + minutes(5))
    tracker.add(BEN, user("Tražim tečaj za kuhara", "ask_trainings", 0.42, language="hr"), T0 + DAY)
    tracker.add(CAM, user("boh", "nlu_fallback", 0.21, language="it"), T0 + 2 * DAY)
    late = dt.datetime(2026, 3, 4, 23, 50, tzinfo=dt.UTC)
    tracker.add(DIA, user("Bonjour", "greet", 0.98, language="fr"), late)
    tracker.add(DIA, user("/show_more", "show_more", 0.1, language="fr"), late + minutes(20))
    sync(db, tracker)
    with db.begin() as session:
        ana = people.give_consent(session, ANA)
        ana.name, ana.registered_at = "Ana Horvat", T0
        people.give_consent(session, BEN)  # consent only: not registered
        conversations.add_tag(session, ANA, "job-ready")
        conversations.set_reviewed(session, BEN, user_id(session, "marta"), True)
        session.add(Handoff(sender_id=CAM, requested_at=T0 + 2 * DAY))
    return db


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), [DIA, CAM, BEN, ANA]),
        (Filters(date_from=dt.date(2026, 3, 3)), [DIA, CAM]),
        (Filters(date_to=dt.date(2026, 3, 2)), [BEN, ANA]),
        (Filters(date_from=dt.date(2026, 3, 2), date_to=dt.date(2026, 3, 3)), [CAM, BEN]),
        # started on the 4th, last message on the 5th: it was active on both days
        (Filters(date_from=dt.date(2026, 3, 5), date_to=dt.date(2026, 3, 5)), [DIA]),
        (Filters(date_from=dt.date(2026, 3, 4), date_to=dt.date(2026, 3, 4)), [DIA]),
        (Filters(date_from=dt.date(2026, 3, 6)), []),
        (Filters(language="hr"), [BEN]),
        (Filters(language="de"), []),
        (Filters(intent="ask_jobs"), [ANA]),
        (Filters(intent="greet"), [DIA]),
        (Filters(intent="ask"), []),  # whole intent names only
        (Filters(below=0.5), [CAM, BEN]),  # DIA's 0.1 was a button: it does not count
        (Filters(below=0.21), []),
        (Filters(fallback=True), [CAM]),
        (Filters(fallback=False), [DIA, BEN, ANA]),
        (Filters(registered=True), [ANA]),
        (Filters(registered=False), [DIA, CAM, BEN]),
        (Filters(tag="job-ready"), [ANA]),
        (Filters(tag="job"), []),
        (Filters(reviewed=True), [BEN]),
        (Filters(reviewed=False), [DIA, CAM, ANA]),
        (Filters(waiting=True), [CAM]),
        (Filters(waiting=False), [DIA, BEN, ANA]),
        (Filters(query="tecaj"), [BEN]),
        (Filters(query="TEČAJ  ZA"), [BEN]),
        (Filters(query="Tražim"), [BEN]),
        (Filters(query="split"), [ANA]),
        (Filters(query="HORVAT"), [ANA]),
        (Filters(query="show more"), []),  # button payloads are not searchable text
        (Filters(query="show_more"), []),
        (Filters(query="  ?! "), [DIA, CAM, BEN, ANA]),
        (Filters(language="en", registered=True, tag="job-ready"), [ANA]),
        (Filters(language="en", registered=False), []),
    ],
)
def test_each_filter(landscape: sessionmaker[Session], filters: Filters, expected: list) -> None:
    assert listed(landscape, filters) == expected


@pytest.mark.parametrize("typed", [ANA[:12], "anon-tg-c3c3c", ANA.upper()])
def test_a_conversation_is_found_by_its_pseudonym_as_shown(
    landscape: sessionmaker[Session], typed: str
) -> None:
    expected = CAM if "c3" in typed else ANA
    assert listed(landscape, Filters(query=typed)) == [expected]


def test_rows_show_names_tags_reviews_and_handoffs(landscape: sessionmaker[Session]) -> None:
    with landscape.begin() as session:
        rows = {
            row.sender_id: row
            for row in conversation_list.list_conversations(session, Filters()).items
        }
    assert (rows[ANA].name, rows[ANA].registered, rows[ANA].tags) == (
        "Ana Horvat",
        True,
        ["job-ready"],
    )
    assert (rows[BEN].name, rows[BEN].registered, rows[BEN].reviewed) == (
        "anon-tg-b2b2b",
        False,
        True,
    )
    assert (rows[CAM].handoff, rows[CAM].urgent, rows[CAM].fallback) == ("waiting", False, True)
    assert (rows[DIA].handoff, rows[DIA].min_confidence) == (None, 0.98)
    assert rows[DIA].started_at == dt.datetime(2026, 3, 4, 23, 50, tzinfo=dt.UTC)
    assert rows[DIA].last_at == dt.datetime(2026, 3, 5, 0, 10, tzinfo=dt.UTC)


def test_pages_hold_per_page_rows_and_out_of_range_pages_are_clamped(
    landscape: sessionmaker[Session],
) -> None:
    with landscape.begin() as session:
        first = conversation_list.list_conversations(session, Filters(), page=1, per_page=3)
        second = conversation_list.list_conversations(session, Filters(), page=2, per_page=3)
        beyond = conversation_list.list_conversations(session, Filters(), page=9, per_page=3)
        before = conversation_list.list_conversations(session, Filters(), page=0, per_page=3)
        nothing = conversation_list.list_conversations(session, Filters(language="de"), page=3)
    assert [row.sender_id for row in first.items] == [DIA, CAM, BEN]
    assert (first.total, first.pages, first.page) == (4, 2, 1)
    assert [row.sender_id for row in second.items] == [ANA] and second.page == 2
    assert [row.sender_id for row in beyond.items] == [ANA] and beyond.page == 2
    assert [row.sender_id for row in before.items] == [DIA, CAM, BEN] and before.page == 1
    assert (nothing.items, nothing.total, nothing.pages, nothing.page) == ([], 0, 1, 1)


def test_conversations_active_at_the_same_moment_are_listed_by_pseudonym(
    db: sessionmaker[Session], tracker: Tracker
) -> None:
    for sender in (CAM, ANA, BEN):
        tracker.add(sender, user("hi", "greet", 0.9), T0)
    tracker.add(DIA, user("hi", "greet", 0.9), T0 - minutes(1))
    sync(db, tracker)
    assert listed(db, Filters()) == [ANA, BEN, CAM, DIA]


def test_known_values_offer_the_languages_and_tags_in_use(landscape: sessionmaker[Session]) -> None:
    with landscape.begin() as session:
        conversations.add_tag(session, DIA, "follow up")
        assert conversation_list.known_values(session) == {
            "languages": ["en", "fr", "hr", "it"],
            "tags": ["follow up", "job-ready"],
        }


# --- waiting --------------------------------------------------------------------------------


def test_the_queue_lists_urgent_requests_first_then_the_longest_waiting(
    db: sessionmaker[Session],
) -> None:
    with db.begin() as session:
        marta = session.get(User, user_id(session, "marta"))
        people.give_consent(session, BEN).name = "Ben"
        session.add_all(
            [
                Handoff(sender_id=ANA, requested_at=T0 + minutes(10)),
                Handoff(sender_id=BEN, requested_at=T0 + minutes(5)),
                Handoff(
                    sender_id=CAM,
                    requested_at=T0 + minutes(20),
                    reason="crisis",
                    urgent=True,
                    category="self_harm",
                ),  # fmt: skip
                Handoff(sender_id=DIA, requested_at=T0, status="closed"),
                Handoff(
                    sender_id="tg-e5",
                    requested_at=T0 + minutes(30),
                    reason="crisis",
                    urgent=True,
                    category="abuse",
                ),  # fmt: skip
            ]
        )
    with db.begin() as session:
        rows = conversation_list.queue(session, marta.id, "all", T0 + minutes(40)).rows
        # a coach already talks with Ben: the people nobody has answered yet come first
        taken = session.scalar(select(Handoff).where(Handoff.sender_id == BEN))
        taken.status, taken.taken_by = "active", marta.id
        taken.taken_at = T0 + minutes(8)
    assert [row.sender_id for row in rows] == [CAM, "tg-e5", BEN, ANA]
    assert (rows[0].reason, rows[0].category, rows[0].urgent) == ("crisis", "self_harm", True)
    assert (rows[2].name, rows[3].name) == ("Ben", "anon-tg-a1a1a")
    assert rows[3].requested_at == T0 + minutes(10) and rows[3].coach is None
    assert [row.minutes_waiting for row in rows] == [20, 10, 35, 30]
    with db.begin() as session:
        found = conversation_list.queue(session, marta.id, "all", T0 + minutes(40))
    rows = found.rows
    assert [(row.sender_id, row.status, row.coach) for row in rows] == [
        (CAM, "waiting", None),
        ("tg-e5", "waiting", None),
        (ANA, "waiting", None),
        (BEN, "active", "Marta"),  # display names, as coaches know each other
    ]
    assert rows[3].minutes_waiting == 3  # until marta took it
    # Nothing is routed to anybody (no coach covers a language): Marta's own view holds the
    # urgent ones and the conversation she is in; every waiting one needs her attention.
    assert found.counts == {"mine": 3, "unassigned": 3, "all": 4}
    assert sorted(found.needs_me) == sorted(row.handoff_id for row in rows[:3])


# --- coaches' tags, notes and reviews -------------------------------------------------------


def test_tags_are_trimmed_lower_cased_kept_once_and_removed(
    landscape: sessionmaker[Session],
) -> None:
    with landscape.begin() as session:
        assert conversations.add_tag(session, DIA, "  Follow   UP ") == "follow up"
        assert conversations.add_tag(session, DIA, "follow up") == "follow up"
        assert conversations.add_tag(session, DIA, "x" * 40) == "x" * 40
    with landscape.begin() as session:
        for bad in ("x" * 41, "   ", ""):
            with pytest.raises(ConversationError, match="1 to 40 characters"):
                conversations.add_tag(session, DIA, bad)
        with pytest.raises(ConversationError, match="no such conversation"):
            conversations.add_tag(session, "tg-nobody", "lost")
    assert listed(landscape, Filters(tag="follow up")) == [DIA]
    with landscape.begin() as session:
        tags = session.scalars(select(ConversationTag.tag).where(ConversationTag.sender_id == DIA))
        assert sorted(tags) == ["follow up", "x" * 40]
        conversations.remove_tag(session, DIA, "follow up")
        conversations.remove_tag(session, DIA, "never there")
    with landscape.begin() as session:
        summary = conversations.get(session, DIA)
        assert summary is not None and [tag.tag for tag in summary.tags] == ["x" * 40]
    assert listed(landscape, Filters(tag="follow up")) == []


def test_notes_are_trimmed_and_limited(landscape: sessionmaker[Session]) -> None:
    with landscape.begin() as session:
        conversations.set_note(session, ANA, "  Call back on Monday.\n")
    with landscape.begin() as session:
        with pytest.raises(ConversationError, match="at most 5,000"):
            conversations.set_note(session, ANA, "x" * 5001)
        with pytest.raises(ConversationError, match="no such conversation"):
            conversations.set_note(session, "tg-nobody", "hello")
    with landscape.begin() as session:
        assert conversations.get(session, ANA).note == "Call back on Monday."  # type: ignore[union-attr]
        rows = conversation_list.list_conversations(session, Filters(registered=True)).items
        assert rows[0].note == "Call back on Monday."


def test_reviewed_records_who_and_when_and_can_be_undone(landscape: sessionmaker[Session]) -> None:
    before = dt.datetime.now(dt.UTC)
    with landscape.begin() as session:
        luca = user_id(session, "luca")
        conversations.set_reviewed(session, DIA, luca, True)
    with landscape.begin() as session:
        summary = conversations.get(session, DIA)
        assert summary is not None and summary.reviewed_by == luca
        assert before <= summary.reviewed_at.replace(tzinfo=dt.UTC) <= dt.datetime.now(dt.UTC)
    assert listed(landscape, Filters(reviewed=True)) == [DIA, BEN]
    with landscape.begin() as session:
        conversations.set_reviewed(session, DIA, luca, False)
        with pytest.raises(ConversationError, match="no such conversation"):
            conversations.set_reviewed(session, "tg-nobody", luca, True)
    with landscape.begin() as session:
        summary = conversations.get(session, DIA)
        assert summary is not None and (summary.reviewed_at, summary.reviewed_by) == (None, None)
    assert listed(landscape, Filters(reviewed=True)) == [BEN]


# --- erasure --------------------------------------------------------------------------------


def _view(session: Session, opportunity_id: int, sender: str) -> None:
    session.add(
        DetailsViewed(
            opportunity_id=opportunity_id, kind="training", sender_id=sender, viewed_at=T0
        )
    )


def test_forget_erases_everything_kept_about_a_conversation_and_moves_the_bookmark_back(
    db: sessionmaker[Session], tracker: Tracker
) -> None:
    tracker.add(BEN, user("ciao", "greet", 0.9), T0)
    kept = tracker.add(BEN, bot("Ciao!"), T0 + minutes(1))
    tracker.add(ANA, user("jobs in Split", "ask_jobs", 0.9), T0 + minutes(2))
    newest = tracker.add(ANA, bot("Here are 2 jobs:"), T0 + minutes(3))
    sync(db, tracker)
    with db.begin() as session:
        course = Opportunity(natural_key="k1", kind="training", title="Web", provider="P",
                             country="HR", mode="online")  # fmt: skip
        session.add(course)
        session.flush()
        for sender in (ANA, BEN):
            conversations.add_tag(session, sender, "follow up")
            conversations.set_note(session, sender, "a note")
            session.add(Handoff(sender_id=sender, requested_at=T0, status="closed"))
            _view(session, course.id, sender)
        session.add(Handoff(sender_id=ANA, requested_at=T0 + minutes(5)))
        assert session.get(SyncState, conversations.SYNC_KEY).value == newest
    tracker.delete(ANA)  # the privacy erasure removed the tracker events first
    with db.begin() as session:
        conversations.forget(session, RasaEvents(tracker.url), ANA)
    with db.begin() as session:
        for model in (Conversation, ConversationTag, Handoff, DetailsViewed):
            senders = session.scalars(select(model.sender_id)).all()  # type: ignore[attr-defined]
            assert senders == [BEN], model
        assert session.get(SyncState, conversations.SYNC_KEY).value == kept
    # SQLite hands the erased ids out again: the next conversation's events are not skipped
    reused = tracker.add(CAM, user("hello", "greet", 0.9), T0 + minutes(10))
    assert reused == newest - 1
    assert sync(db, tracker) == 1
    with db.begin() as session:
        summary = conversations.get(session, CAM)
        assert summary is not None and summary.user_messages == 1
        assert conversations.get(session, ANA) is None


def test_forget_leaves_the_bookmark_when_newer_events_remain(
    db: sessionmaker[Session], tracker: Tracker
) -> None:
    tracker.add(ANA, user("hi", "greet", 0.9), T0)
    newest = tracker.add(BEN, user("ciao", "greet", 0.9), T0 + minutes(1))
    sync(db, tracker)
    tracker.delete(ANA)
    with db.begin() as session:
        conversations.forget(session, RasaEvents(tracker.url), ANA)
    with db.begin() as session:
        assert session.get(SyncState, conversations.SYNC_KEY).value == newest
        assert session.scalars(select(Conversation.sender_id)).all() == [BEN]
    assert sync(db, tracker) == 0


# --- transcripts ----------------------------------------------------------------------------


@pytest.fixture
def transcript_events(tracker: Tracker) -> dict[str, int]:
    ids = {}
    ids["start"] = tracker.add(ANA, action("action_session_start"), T0)
    tracker.add(BEN, user("someone else", "greet", 0.9), T0)
    ids["listen"] = tracker.add(ANA, action("action_listen"), T0)
    ids["user"] = tracker.add(
        ANA, user("jobs in Split", "ask_jobs", 0.93, (("location", "Split"),), "en"), T0
    )
    ids["search"] = tracker.add(ANA, action("action_search_jobs"), T0 + minutes(1))
    ids["utter"] = tracker.add(ANA, action("utter_greet"), T0 + minutes(1))
    ids["bot"] = tracker.add(ANA, bot("Here are…", (("More", "/show_more"),)), T0 + minutes(1))
    ids["button"] = tracker.add(ANA, user("/show_more", "show_more", 1.0, via="button"), T0)
    ids["slot"] = tracker.add(ANA, slot("language", "it"), T0 + minutes(2))
    ids["silent"] = tracker.add(ANA, bot(""), T0 + minutes(2))  # to the channel only
    ids["pause"] = tracker.add(ANA, {"event": "pause"}, T0 + minutes(3))
    ids["crisis"] = tracker.add(ANA, user("i feel so alone", "delete_data", 0.7), T0 + minutes(3))
    ids["coach"] = tracker.add(ANA, bot("Hi, I'm Marta.", coach="marta"), T0 + minutes(4))
    ids["unknown tap"] = tracker.add(
        ANA, user('/inform{"choice":"upper_secondary"}', "inform", 1.0, via="button"), T0
    )
    ids["resume"] = tracker.add(ANA, {"event": "resume"}, T0 + minutes(9))
    ids["fallback"] = tracker.add(ANA, action("action_default_ask_affirmation"), T0 + minutes(9))
    return ids


def test_a_transcript_shows_what_was_said_understood_and_done(
    tracker: Tracker, transcript_events: dict[str, int]
) -> None:
    entries = transcripts.transcript(RasaEvents(tracker.url), ANA)
    ids = transcript_events
    # The assistant's own steps (actions, slots) are not shown to coaches
    assert [(entry.id, entry.kind) for entry in entries] == [
        (ids["user"], "user"),
        (ids["bot"], "bot"),
        (ids["button"], "user"),
        (ids["pause"], "paused"),
        (ids["crisis"], "user"),
        (ids["coach"], "bot"),
        (ids["unknown tap"], "user"),
        (ids["resume"], "resumed"),
    ]
    said, answered, clicked, paused, crisis, coach, unknown, _ = entries
    assert (said.text, said.language, said.intent, said.confidence) == (
        "jobs in Split", "en", "ask_jobs", 0.93,
    )  # fmt: skip
    assert said.entities == [("location", "Split")] and said.time == T0
    assert said.via_button is False and said.by is None
    # While a coach has it, what the NLU made of a message is not shown: the bot did not act
    assert (crisis.text, crisis.intent, crisis.confidence) == ("i feel so alone", None, None)
    assert crisis.interpreted is False and said.interpreted is True
    # A tap shows the title the person tapped, or the payload's values in words
    assert (unknown.text, unknown.via_button) == ("upper secondary", True)
    assert (answered.text, answered.buttons, answered.by) == ("Here are…", ["More"], None)
    assert (clicked.text, clicked.via_button, clicked.language) == ("More", True, None)
    assert (coach.text, coach.by, coach.buttons) == ("Hi, I'm Marta.", "marta", [])
    assert paused.time == T0 + minutes(3)
    assert said.as_json() == {
        "id": ids["user"],
        "kind": "user",
        "time": "2026-03-01T10:00:00+00:00",
        "text": "jobs in Split",
        "language": "en",
        "intent": "ask_jobs",
        "confidence": 0.93,
        "entities": [["location", "Split"]],
        "buttons": [],
        "by": None,
        "via_button": False,
        "interpreted": True,
    }


def test_after_returns_only_newer_entries_and_last_event_id_is_the_newest(
    tracker: Tracker, transcript_events: dict[str, int]
) -> None:
    ids = transcript_events
    newer = transcripts.transcript(RasaEvents(tracker.url), ANA, after=ids["pause"])
    assert [entry.id for entry in newer] == [
        ids["crisis"], ids["coach"], ids["unknown tap"], ids["resume"],
    ]  # fmt: skip
    assert newer[0].interpreted is False  # it knows the bot was paused before `after`
    assert transcripts.transcript(RasaEvents(tracker.url), ANA, after=ids["fallback"]) == []
    assert [entry.kind for entry in transcripts.transcript(RasaEvents(tracker.url), BEN)] == [
        "user"
    ]
    assert transcripts.last_event_id(RasaEvents(tracker.url), ANA) == ids["fallback"]
    assert transcripts.last_event_id(RasaEvents(tracker.url), BEN) == ids["start"] + 1
    assert transcripts.last_event_id(RasaEvents(tracker.url), "tg-nobody") == 0
    assert transcripts.transcript(RasaEvents(tracker.url), "tg-nobody") == []


def test_no_tracker_table_yet_means_an_empty_transcript(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no-events.db'}"
    assert transcripts.transcript(RasaEvents(url), ANA) == []
    assert transcripts.last_event_id(RasaEvents(url), ANA) == 0
