"""Reach and outcomes: campaign codes, anonymous arrivals and the funnel (with its CSV);
check-ins queued once per round for those who agreed, their answers as self-reported outcomes;
ratings after a coach; erasure; the paced bulk queue; and the bulk sender through the fake Bot
API (403, 429, buttons, a stop in the middle of a round)."""

# ruff: noqa: F811 - the fixtures `api` and `bot` come from test_alert_sender.py

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot

from bot.db.models import (
    BulkMessage,
    CampaignStart,
    CheckIn,
    Conversation,
    DetailsViewed,
    Handoff,
    Opportunity,
    Outcome,
    Person,
    Rating,
)
from bot.languages import mark_rtl
from bot.messages import text
from bot.services import bulk, campaigns, conversations, followups, people
from bot.services.campaigns import STEPS, CampaignError
from bot.services.users import create_user
from connectors.rasa.events import EVENTS, RasaEvents
from connectors.telegram.bulk import BulkSender
from connectors.telegram.callbacks import PayloadStore
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.unit.connectors.telegram.test_alert_sender import (  # noqa: F401 - fixtures
    Clock,
    api,
    bot,
    sender_for,
)

# 17:30 UTC: evening in Malta (18:30), not in anyone's quiet hours there.
EVENING = dt.datetime(2026, 11, 23, 17, 30, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
TODAY = dt.date(2026, 11, 23)
ANSWERS = ("working", "training", "education", "looking", "prefer_not")


def new_campaign(
    session: Session, name: str = "Youth centre Split", **fields: object
) -> campaigns.CampaignView:
    values: dict[str, object] = {
        "partner": "Caritas", "venue": "youth_centre", "language": "en", "starts_on": None,
        "ends_on": None, "by": "ana",
    }  # fmt: skip
    values.update(fields)
    return campaigns.create(session, name=name, **values)  # type: ignore[arg-type]


def registered(
    session: Session,
    sender: str,
    *,
    chat: int | None = None,
    at: dt.datetime = EVENING - 31 * DAY,
    followup: bool | None = True,
    language: str = "en",
    country: str = "MT",
) -> Person:
    """A registered person (at `at`) in `country`, whose chat is `chat`."""
    people.give_consent(session, sender, language=language)
    person = people.save_profile(
        session, sender, people.Profile(age=20, country=country, language=language,
                                        followup=followup)
    )  # fmt: skip
    person.registered_at, person.telegram_chat_id = at, chat
    session.flush()
    return person


def checkins_of(session: Session, sender: str) -> list[CheckIn]:
    person = people.get_person(session, sender)
    assert person is not None
    return list(
        session.scalars(
            select(CheckIn).where(CheckIn.person_id == person.id).order_by(CheckIn.round)
        )
    )


def statuses(session: Session, kind: str = "checkin") -> list[str]:
    return list(
        session.scalars(
            select(BulkMessage.status).where(BulkMessage.kind == kind).order_by(BulkMessage.id)
        )
    )


def checkin_payload(checkin_id: int, **fields: str) -> str:
    return "/checkin" + json.dumps({"c": str(checkin_id), **fields}, separators=(",", ":"))


# --- campaigns --------------------------------------------------------------------------------


def test_a_campaign_gets_a_fresh_valid_code_and_its_link(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        first = new_campaign(session, "Città dei Giovani")
        second = new_campaign(session, "Città dei Giovani")
        greek = new_campaign(session, "Ωμέγα")  # no ASCII letter: a random code alone
        long = new_campaign(session, "A very long campaign name for the summer posters 2026")
    codes = [first.code, second.code, greek.code, long.code]
    assert len(set(codes)) == 4
    assert all(campaigns.CODE.match(code) for code in codes)
    assert first.code.startswith("citta-dei-giovani-") and second.code.startswith("citta-")
    assert len(long.code) <= 32 and long.code.startswith("a-very-long-campaign")
    with sessions.begin() as session:
        found = campaigns.by_code(session, f"  {first.code.upper()} ")  # any case, spaces
        assert found is not None and (found.id, found.code) == (first.id, first.code)
        assert getattr(campaigns.by_code(session, second.code), "id", None) == second.id
        for wrong in (None, "", "ab", "x" * 33, "../etc", "nope-123456", f"{first.code}!"):
            assert campaigns.by_code(session, wrong) is None
        assert campaigns.bot_username(session) is None
        campaigns.remember_bot_username(session, "neet_test_bot")
        campaigns.remember_bot_username(session, "neet_test_bot")
    with sessions.begin() as session:
        assert campaigns.bot_username(session) == "neet_test_bot"
        campaigns.remember_bot_username(session, "neet_other_bot")
    with sessions.begin() as session:
        assert campaigns.bot_username(session) == "neet_other_bot"
    link = campaigns.deep_link("neet_test_bot", first.code)
    assert link == f"https://t.me/neet_test_bot?start={first.code}"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"name": "  "}, "name"),
        ({"partner": ""}, "partner"),
        ({"name": "x" * 121}, "120"),
        ({"venue": "moon"}, "where"),
        ({"language": "xx"}, "language"),
        ({"starts_on": TODAY, "ends_on": TODAY - DAY}, "before the start"),
    ],
)
def test_a_campaign_with_a_wrong_field_is_refused_with_a_reason(
    sessions: sessionmaker[Session], fields: dict[str, object], reason: str
) -> None:
    with sessions.begin() as session:
        name = str(fields.pop("name", "Posters"))
        with pytest.raises(CampaignError, match=reason):
            new_campaign(session, name, **fields)
        assert campaigns.all_campaigns(session) == []


def test_arrivals_are_counted_per_day_only_while_the_campaign_runs(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        running = new_campaign(session, starts_on=TODAY, ends_on=TODAY + 10 * DAY)
        code = running.code
        assert campaigns.arrive(session, "tg-a", code, TODAY)
        assert campaigns.arrive(session, "tg-b", code.upper(), TODAY)
        assert campaigns.arrive(session, "tg-a", code, TODAY + DAY)
        assert campaigns.arrive(session, "tg-c", code, TODAY + 10 * DAY)  # the last day counts
        assert not campaigns.arrive(session, "tg-d", code, TODAY - DAY)  # not started yet
        assert not campaigns.arrive(session, "tg-d", code, TODAY + 11 * DAY)  # expired
        assert not campaigns.arrive(session, "tg-d", "no-such-code", TODAY)
        assert not campaigns.arrive(session, "tg-d", "", TODAY)
        assert not campaigns.arrive(session, "tg-d", None, TODAY)
    with sessions.begin() as session:
        counts = {
            row.day: row.count
            for row in session.scalars(select(CampaignStart).order_by(CampaignStart.day))
        }
        assert counts == {TODAY: 2, TODAY + DAY: 1, TODAY + 10 * DAY: 1}
        # Before consent, nothing about anyone: only the counts.
        assert session.scalar(select(func.count()).select_from(Person)) == 0


def test_an_arrival_is_kept_with_the_profile_of_someone_who_already_agreed(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        first = new_campaign(session, "First")
        second = new_campaign(session, "Second")
        people.give_consent(session, "tg-known")
        assert campaigns.arrive(session, "tg-known", first.code, TODAY)
        assert campaigns.arrive(session, "tg-known", second.code, TODAY)  # counted, not kept
    with sessions.begin() as session:
        person = people.get_person(session, "tg-known")
        assert person is not None and person.campaign_id == first.id
        assert session.scalar(select(func.sum(CampaignStart.count))) == 2


def test_consent_keeps_the_first_campaign_only(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        first = new_campaign(session, "First")
        second = new_campaign(session, "Second")
        today = dt.date.today()
        assert not campaigns.attach(session, "tg-nobody", first.code, today)  # no consent
        people.give_consent(session, "tg-e")
        assert not campaigns.attach(session, "tg-e", "unknown-code", today)
        assert not campaigns.attach(session, "tg-e", None, today)
        assert campaigns.attach(session, "tg-e", first.code, today)
        assert not campaigns.attach(session, "tg-e", second.code, today)
        assert not campaigns.attach(session, "tg-e", first.code, today)
        # Arrived by a campaign that was over that day: not counted, so not kept either
        over = new_campaign(session, "Over", ends_on=today - dt.timedelta(days=2))
        people.give_consent(session, "tg-late")
        assert not campaigns.attach(session, "tg-late", over.code, today)
        assert campaigns.attach(session, "tg-late", over.code, today - dt.timedelta(days=3))
    with sessions.begin() as session:
        person = people.get_person(session, "tg-e")
        assert person is not None and person.campaign_id == first.id
        assert people.get_person(session, "tg-nobody") is None


def _journey(session: Session, sender: str, code: str | None, *steps: str, item: int) -> None:
    """A person who agreed (by the campaign of `code`) and went through `steps`."""
    person = people.give_consent(session, sender)
    session.flush()
    campaigns.attach(session, sender, code, dt.date.today())
    moment = people.now()
    if "registered" in steps:
        people.save_profile(session, sender, people.Profile(age=20))
    intents = {"searched": " greet ask_trainings ", "jobs": " ask_jobs affirm "}
    for step, words in intents.items():
        if step in steps:
            session.add(Conversation(sender_id=sender, started_at=moment, last_at=moment,
                                     intents=words))  # fmt: skip
    if "opened" in steps:
        for _ in range(2):  # twice: still one person
            session.add(DetailsViewed(opportunity_id=item, kind="training", sender_id=sender,
                                      viewed_at=moment))  # fmt: skip
    if "coach" in steps:
        session.add(Handoff(sender_id=sender, requested_at=moment))
    if "outcome" in steps:
        session.add(Outcome(person_id=person.id, kind="job", date=moment.date(), source="coach",
                            created_at=moment))  # fmt: skip
    session.flush()


def test_the_funnel_counts_each_step_per_campaign_and_per_partner(
    sessions: sessionmaker[Session],
) -> None:
    today = people.now().date()
    with sessions.begin() as session:
        item = Opportunity(natural_key="k1", kind="training", title="A training",
                           provider="Provider", country="HR", mode="online")  # fmt: skip
        session.add(item)
        session.flush()
        schools = new_campaign(session, "Schools", partner="Caritas")
        centres = new_campaign(session, "Centres", partner=" Caritas ")  # the same, stripped
        new_campaign(session, '=HYPERLINK("http://x")', partner="@evil")
        for day, times in ((today, 3), (today - DAY, 2)):
            for _ in range(times):
                campaigns.arrive(session, "tg-anon", schools.code, day)
        for _ in range(2):
            campaigns.arrive(session, "tg-anon", centres.code, today)
        _journey(session, "tg-1", schools.code, item=item.id)
        _journey(session, "tg-2", schools.code, "registered", item=item.id)
        _journey(session, "tg-3", schools.code, "registered", "searched", item=item.id)
        _journey(session, "tg-4", schools.code, "registered", "jobs", "opened", "coach",
                 "outcome", item=item.id)  # fmt: skip
        _journey(session, "tg-5", centres.code, "registered", "outcome", item=item.id)
        _journey(session, "tg-6", None, "registered", "searched", "outcome", item=item.id)
        # An intent that only starts like a search is no search.
        session.add(Conversation(sender_id="tg-1", started_at=people.now(),
                                 last_at=people.now(), intents=" ask_trainings_more "))  # fmt: skip

    def counts(*values: int) -> dict[str, int]:
        return dict(zip(STEPS, values, strict=True))

    with sessions.begin() as session:
        by_campaign, by_partner = campaigns.funnel(session)
    assert [(row.label, row.partner) for row in by_campaign] == [
        ("=HYPERLINK(\"http://x\")", "@evil"), ("Centres", "Caritas"), ("Schools", "Caritas"),
    ]  # fmt: skip
    assert [row.counts for row in by_campaign] == [
        counts(0, 0, 0, 0, 0, 0, 0),
        counts(2, 1, 1, 0, 0, 0, 1),
        counts(5, 4, 3, 2, 1, 1, 1),
    ]
    assert by_campaign[2].share("agreed") == pytest.approx(0.8)
    assert by_campaign[0].share("agreed") == 0.0
    assert [(row.label, row.counts) for row in by_partner] == [
        ("@evil", counts(0, 0, 0, 0, 0, 0, 0)),
        ("Caritas", counts(7, 5, 4, 2, 1, 1, 2)),  # both campaigns together
    ]

    # A period: arrivals by their day, people by the day they agreed.
    with sessions.begin() as session:
        today_only, _ = campaigns.funnel(session, today, today)
        tomorrow, partners_tomorrow = campaigns.funnel(session, today + DAY, today + DAY)
    assert today_only[2].counts == counts(3, 4, 3, 2, 1, 1, 1)
    assert all(sum(row.counts.values()) == 0 for row in (*tomorrow, *partners_tomorrow))

    rows = list(csv.reader(io.StringIO(campaigns.funnel_csv(by_campaign, by_partner))))
    assert rows[0] == ["level", "name", "partner", *STEPS]
    assert rows[1][:3] == ["campaign", '\'=HYPERLINK("http://x")', "'@evil"]  # no formula
    assert rows[3] == ["campaign", "Schools", "Caritas", "5", "4", "3", "2", "1", "1", "1"]
    assert [row[0] for row in rows[1:]] == ["campaign"] * 3 + ["partner"] * len(by_partner)
    assert ["partner", "'@evil", "'@evil", "0", "0", "0", "0", "0", "0", "0"] in rows


# --- check-ins --------------------------------------------------------------------------------


def test_a_checkin_is_queued_once_a_month_after_registering_and_once_per_round(
    sessions: sessionmaker[Session],
) -> None:
    registered_at = EVENING - 40 * DAY
    with sessions.begin() as session:
        person = registered(session, "tg-f", chat=5001, at=registered_at)
        person_id = person.id
    with sessions.begin() as session:
        assert followups.queue_due(session, registered_at + 29 * DAY) == 0
        assert followups.queue_due(session, registered_at + 30 * DAY - dt.timedelta(minutes=1)) == 0
    with sessions.begin() as session:
        assert followups.queue_due(session, registered_at + 30 * DAY) == 1
    with sessions.begin() as session:
        assert followups.queue_due(session, registered_at + 30 * DAY) == 0  # never twice
        assert followups.queue_due(session, registered_at + 90 * DAY) == 0
        (checkin,) = checkins_of(session, "tg-f")
        assert (checkin.round, checkin.sent_at, checkin.status) == (1, None, None)
        (message,) = session.scalars(select(BulkMessage))
        assert (message.kind, message.ref_id, message.person_id, message.chat_id) == (
            "checkin", checkin.id, person_id, 5001)  # fmt: skip
        assert message.status == "queued"
        params = json.loads(message.params)
        assert params["text"] == text("checkin_question", "en")
        assert [button["title"] for button in params["buttons"]] == [
            text(f"checkin_answer.{key}", "en") for key in ANSWERS
        ]
        assert [button["payload"] for button in params["buttons"]] == [
            checkin_payload(checkin.id, s=key) for key in ANSWERS
        ]
        assert all(len(button["payload"].encode()) <= 64 for button in params["buttons"])
    with sessions.begin() as session:
        assert followups.queue_due(session, registered_at + 91 * DAY) == 1  # round 2
        assert followups.queue_due(session, registered_at + 92 * DAY) == 0
        assert [row.round for row in checkins_of(session, "tg-f")] == [1, 2]
        assert session.scalar(select(func.count()).select_from(BulkMessage)) == 2


def test_after_a_long_gap_only_the_latest_round_due_is_queued(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        registered(session, "tg-g", chat=5002, at=EVENING - 200 * DAY, language="it")
        registered(session, "tg-h", chat=5003, at=EVENING - 100 * DAY, language="ar")
    with sessions.begin() as session:
        assert followups.queue_due(session, EVENING) == 2
    with sessions.begin() as session:
        assert followups.queue_due(session, EVENING + 300 * DAY) == 1  # tg-h's round 3 only
        assert followups.queue_due(session, EVENING + 301 * DAY) == 0
        assert [row.round for row in checkins_of(session, "tg-g")] == [3]
        assert [row.round for row in checkins_of(session, "tg-h")] == [2, 3]
        texts = {
            chat: json.loads(params)["text"]
            for chat, params in session.execute(select(BulkMessage.chat_id, BulkMessage.params))
        }
    assert texts[5002] == text("checkin_question", "it")  # in the person's language
    assert texts[5003] == mark_rtl(text("checkin_question", "ar"))
    assert texts[5003].startswith("\u200f")


def test_nobody_is_checked_in_without_their_yes_or_a_way_to_reach_them(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        registered(session, "tg-yes", chat=5010)
        registered(session, "tg-not-asked", chat=5011, followup=None)
        registered(session, "tg-no", chat=5012, followup=False)
        registered(session, "tg-blocked", chat=5013).blocked_at = EVENING - 2 * DAY
        registered(session, "tg-no-chat", chat=None)
        registered(session, "tg-recent", chat=5014, at=EVENING - 29 * DAY)
        consented = people.give_consent(session, "tg-unregistered")  # agreed, never registered
        consented.telegram_chat_id, consented.followup_consent = 5015, True
        registered(session, "tg-erased", chat=5016)
        people.erase_person(session, "tg-erased")
    with sessions.begin() as session:
        assert followups.queue_due(session, EVENING) == 1
        assert session.scalar(select(func.count()).select_from(CheckIn)) == 1
        assert list(session.scalars(select(BulkMessage.chat_id))) == [5010]


def _one_checkin(sessions: sessionmaker[Session], sender: str, chat: int) -> int:
    with sessions.begin() as session:
        registered(session, sender, chat=chat)
        followups.queue_due(session, EVENING)
        (checkin,) = checkins_of(session, sender)
        return checkin.id


@pytest.mark.parametrize(
    ("status", "kind"), [("working", "job"), ("training", "training"), ("education", "education")]
)
def test_a_status_answer_is_a_self_reported_outcome_then_the_helpful_score_is_kept(
    sessions: sessionmaker[Session], status: str, kind: str
) -> None:
    checkin_id = _one_checkin(sessions, "tg-i", 5020)
    with sessions.begin() as session:
        reply = followups.answer(session, "tg-i", checkin_payload(checkin_id, s=status), "en")
    assert reply.text == text(f"checkin_noted.{status}", "en") + "\n\n" + text(
        "checkin_helpful", "en"
    )
    assert [button["payload"] for button in reply.buttons] == [
        checkin_payload(checkin_id, score=str(score)) for score in range(1, 6)
    ]
    assert reply.as_rasa()["buttons"] == reply.buttons
    with sessions.begin() as session:
        # Tapped again, or another answer afterwards: still one outcome, the first answer.
        followups.answer(session, "tg-i", checkin_payload(checkin_id, s=status), "en")
        changed = followups.answer(session, "tg-i", checkin_payload(checkin_id, s="looking"), "en")
        # The reply says what was noted (the first answer), not the new one
        assert changed.text.startswith(text(f"checkin_noted.{status}", "en"))
    with sessions.begin() as session:
        (outcome,) = session.scalars(select(Outcome))
        assert (outcome.kind, outcome.source, outcome.detail) == (kind, "self", "check-in 1")
        assert outcome.person.sender_id == "tg-i"
        (checkin,) = checkins_of(session, "tg-i")
        assert checkin.status == status and checkin.answered_at is not None
        assert checkin.helpful is None
        reply = followups.answer(session, "tg-i", checkin_payload(checkin_id, score="4"), "en")
        assert reply.text == text("checkin_thanks", "en") and reply.buttons == []
        assert reply.as_rasa() == {"text": text("checkin_thanks", "en")}
    with sessions.begin() as session:
        followups.answer(session, "tg-i", checkin_payload(checkin_id, score="1"), "en")
        followups.answer(session, "tg-i", checkin_payload(checkin_id, s=status), "en")
    with sessions.begin() as session:
        (checkin,) = checkins_of(session, "tg-i")
        assert checkin.helpful == 4  # the first score stays
        assert session.scalar(select(func.count()).select_from(Outcome)) == 1


def test_still_looking_is_noted_without_an_outcome(sessions: sessionmaker[Session]) -> None:
    checkin_id = _one_checkin(sessions, "tg-j", 5021)
    with sessions.begin() as session:
        reply = followups.answer(session, "tg-j", checkin_payload(checkin_id, s="looking"), "it")
    assert reply.text.startswith(text("checkin_noted.looking", "it"))
    assert text("checkin_helpful", "it") in reply.text
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Outcome)) == 0
        (checkin,) = checkins_of(session, "tg-j")
        assert checkin.status == "looking"
        person = people.get_person(session, "tg-j")
        assert person is not None
        (view,) = followups.checkins_of(session, person.id)
        assert (view.round, view.status, view.helpful) == (1, "looking", None)


@pytest.mark.parametrize(
    "message",
    [
        "/checkin{broken",
        "/checkin[1]",
        '/checkin{"c":"999","s":"working"}',
        '/checkin{"s":"working"}',
        "OTHER",  # someone else's check-in (filled in below)
        "STATUS",  # an answer that is not one of the buttons (filled in below)
    ],
)
def test_an_answer_to_no_check_in_of_theirs_is_refused(
    sessions: sessionmaker[Session], message: str
) -> None:
    mine = _one_checkin(sessions, "tg-k", 5022)
    theirs = _one_checkin(sessions, "tg-l", 5023)
    message = {
        "OTHER": checkin_payload(theirs, s="working"),
        "STATUS": checkin_payload(mine, s="millionaire"),
    }.get(message, message)
    with sessions.begin() as session:
        reply = followups.answer(session, "tg-k", message, "en")
        assert reply.text == text("checkin_expired", "en") and reply.buttons == []
        # Nor does a stranger's score count.
        followups.answer(session, "tg-k", checkin_payload(theirs, score="5"), "en")
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Outcome)) == 0
        assert all(
            row.status is None and row.helpful is None for row in session.scalars(select(CheckIn))
        )


def test_the_response_rate_counts_checkins_sent_and_answered(
    sessions: sessionmaker[Session],
) -> None:
    ids = [_one_checkin(sessions, f"tg-r{n}", 5030 + n) for n in range(3)]
    with sessions.begin() as session:
        for checkin_id in ids:
            session.get(CheckIn, checkin_id).sent_at = EVENING  # type: ignore[union-attr]
        followups.answer(session, "tg-r0", checkin_payload(ids[0], s="working"), "en")
        followups.answer(session, "tg-r0", checkin_payload(ids[0], score="5"), "en")
        followups.answer(session, "tg-r1", checkin_payload(ids[1], s="looking"), "en")
        followups.answer(session, "tg-r1", checkin_payload(ids[1], score="2"), "en")
    with sessions.begin() as session:
        rate = followups.response_rate(session, EVENING - DAY, EVENING + DAY)
        assert (rate.sent, rate.answered, rate.helpful_average) == (3, 2, 3.5)
        assert rate.rate == pytest.approx(2 / 3)
        empty = followups.response_rate(session, EVENING + DAY, EVENING + 2 * DAY)
        assert (empty.sent, empty.rate, empty.helpful_average) == (0, 0.0, None)


# --- ratings ----------------------------------------------------------------------------------


def test_a_rating_is_answered_once_and_then_belongs_to_nobody(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        coach = create_user(session, "marta", "coach", "correct horse battery", "Marta")
        question = followups.ask_rating(session, "tg-m", coach.id, "en")
        other = followups.ask_rating(session, "tg-n", coach.id, "en")
    assert question["text"] == text("rating_question", "en", name="Marta")
    (row,) = question["reply_markup"]["inline_keyboard"]
    assert [button["text"][0] for button in row] == ["1", "2", "3", "4", "5"]
    assert all(len(button["callback_data"].encode()) <= 64 for button in row)
    four = row[3]["callback_data"]
    stranger = other["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    with sessions.begin() as session:
        assert followups.answer(session, "tg-m", stranger, "en").text == text(
            "checkin_expired", "en"
        )  # someone else's question
        assert followups.answer(session, "tg-m", four, "en").text == text("rating_thanks", "en")
    with sessions.begin() as session:
        one = row[0]["callback_data"]
        assert followups.answer(session, "tg-m", one, "en").text == text("rating_thanks", "en")
        answered = session.scalars(select(Rating).where(Rating.score.is_not(None))).all()
        assert [(r.score, r.sender_id, r.coach_id) for r in answered] == [(4, None, coach.id)]
        assert answered[0].answered_at is not None
        assert session.scalar(select(Rating.sender_id).where(Rating.score.is_(None))) == "tg-n"
        overall, per_coach = followups.satisfaction(session, EVENING - 3650 * DAY,
                                                    people.now() + DAY)  # fmt: skip
    assert (overall.count, overall.average) == (1, 4.0)
    assert [(item.label, item.count, item.average) for item in per_coach] == [("Marta", 1, 4.0)]


# --- erasure ----------------------------------------------------------------------------------


@pytest.fixture
def tracker_url(tmp_path: Path) -> str:
    """A tracker store with Rasa's `events` table (empty)."""
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    EVENTS.metadata.create_all(create_engine(url))
    return url


def test_erasure_removes_checkins_their_messages_and_unanswered_ratings(
    sessions: sessionmaker[Session], tracker_url: str
) -> None:
    checkin_id = _one_checkin(sessions, "tg-o", 5040)
    _one_checkin(sessions, "tg-p", 5041)
    with sessions.begin() as session:
        followups.answer(session, "tg-o", checkin_payload(checkin_id, s="working"), "en")
        followups.ask_rating(session, "tg-o", None, "en")  # not answered
        answered = followups.ask_rating(session, "tg-o", None, "en")
        followups.answer(
            session, "tg-o", answered["reply_markup"]["inline_keyboard"][0][4]["callback_data"],
            "en",
        )  # fmt: skip
        bulk.queue(session, "broadcast", 1, people.get_person(session, "tg-o"), "News", [])
    with sessions.begin() as session:
        conversations.forget(session, RasaEvents(tracker_url), "tg-o")
        assert people.erase_person(session, "tg-o")
    with sessions.begin() as session:
        (left,) = session.scalars(select(CheckIn))
        assert left.person_id == session.scalar(select(Person.id).where(Person.sender_id == "tg-p"))
        assert list(session.scalars(select(BulkMessage.chat_id))) == [5041]
        assert session.scalar(select(func.count()).select_from(Outcome)) == 0
        # The answered rating stays: a score that is nobody's.
        assert [(r.sender_id, r.score) for r in session.scalars(select(Rating))] == [(None, 5)]


# --- the bulk queue ---------------------------------------------------------------------------


def test_the_bulk_queue_claims_once_recovers_unsure_and_cancels(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        crowd = [registered(session, f"tg-q{n}", chat=5100 + n) for n in range(6)]
        night = registered(session, "tg-night", chat=5199, country="GE")  # 21:30 in Tbilisi
        for person in [*crowd, night]:
            assert bulk.queue(session, "broadcast", 7, person, f"Hello {person.id}", [])
        assert not bulk.queue(session, "broadcast", 7, crowd[0], "Again", [])  # never twice
        assert not bulk.queue(session, "broadcast", 7, registered(session, "tg-none"), "x", [])
    quiet = (21, 8)
    with sessions.begin() as session:
        due = bulk.due(session, EVENING, quiet)
        assert [item.chat_id for item in due] == [5100 + n for n in range(6)]
        assert bulk.due(session, EVENING, quiet, limit=2, after=due[0].id)[0].chat_id == 5101
        assert [item.text for item in due][:1] == [f"Hello {crowd[0].id}"]
        assert due[0].sender_id == "tg-q0" and due[0].buttons == []
        assert bulk.claim(session, due[0].id) and not bulk.claim(session, due[0].id)
        assert bulk.claim(session, due[1].id)
        assert bulk.claim(session, due[2].id)
        bulk.mark_sent(session, due[1].id)
        bulk.mark_again(session, due[2].id)  # a 429: queued again
        bulk.mark_again(session, due[3].id)  # not on its way: nothing changes
        for _ in range(bulk.GIVE_UP_AFTER):
            bulk.mark_failed(session, due[4].id)
    with sessions.begin() as session:
        assert bulk.recover(session) == 1  # due[0] was on its way at a stop
        assert bulk.recover(session) == 0
        left = [item.chat_id for item in bulk.due(session, EVENING, quiet)]
        assert left == [5102, 5103, 5105]  # neither unsure, nor sent, nor failed
        assert [item.chat_id for item in bulk.due(session, EVENING, (0, 0))] == [
            *left, 5199]  # fmt: skip
        assert bulk.cancel(session, "broadcast", 7) == 4
        assert bulk.cancel(session, "broadcast", 7) == 0
        assert bulk.due(session, EVENING, (0, 0)) == []
        assert bulk.progress(session, "broadcast", 7) == {
            "unsure": 1, "sent": 1, "failed": 1, "cancelled": 4}  # fmt: skip
        assert bulk.progress(session, "broadcast", 8) == {}


def test_a_person_who_blocked_the_bot_gets_nothing_from_the_bulk_queue(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        ana, ben = (
            registered(session, "tg-ana", chat=5201),
            registered(session, "tg-ben", chat=5202),
        )
        for person in (ana, ben):
            bulk.queue(session, "broadcast", 1, person, "News", [])
            bulk.queue(session, "broadcast", 2, person, "More news", [])
        bulk.mark_blocked(session, ana.id)
        ana.blocked_at = EVENING
    with sessions.begin() as session:
        assert {item.chat_id for item in bulk.due(session, EVENING, (0, 0))} == {5202}
        assert statuses(session, "broadcast") == ["blocked", "blocked", "queued", "queued"]


def test_who_says_no_in_their_profile_gets_nothing_already_queued(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        cleo = registered(session, "tg-cleo", chat=5203)
        assert followups.queue_due(session, EVENING) == 1
        bulk.queue(session, "broadcast", 3, cleo, "News", [])
        # then, in /profile, "no" to staying in touch
        people.save_profile(session, "tg-cleo", people.Profile(followup=False))
    with sessions.begin() as session:
        assert bulk.due(session, EVENING, (0, 0)) == []
        assert statuses(session, "checkin") == ["queued"]  # kept, unsent, while they say no


# --- the bulk sender through the fake Bot API -------------------------------------------------


def bulk_sender(
    sessions: sessionmaker[Session], clock: Clock, offered: list | None = None
) -> BulkSender:
    pace = sender_for(sessions, clock)  # the alerts' sender: its pace is shared
    remember = None if offered is None else (lambda sender, buttons: offered.append(sender))
    return BulkSender(sessions, pace.payloads, pace, offered=remember, clock=clock)


def people_to_check_in(sessions: sessionmaker[Session], *chats: int) -> None:
    with sessions.begin() as session:
        for chat in chats:
            registered(session, f"tg-{chat}", chat=chat)


async def test_a_checkin_arrives_once_with_five_answer_buttons(
    sessions: sessionmaker[Session], api: FakeTelegramAPI, bot: Bot
) -> None:
    people_to_check_in(sessions, 6001)
    offered: list[str] = []
    sender = bulk_sender(sessions, Clock(EVENING), offered)
    report = await sender.round(bot)
    assert report.sent == 1
    (message,) = api.sent_messages(6001)
    assert message["text"] == text("checkin_question", "en")
    rows = message["reply_markup"]["inline_keyboard"]
    labels = [button["text"] for row in rows for button in row]
    assert labels == [text(f"checkin_answer.{key}", "en") for key in ANSWERS]
    payloads = PayloadStore(sessions)
    decoded = [payloads.decode(button["callback_data"]) for row in rows for button in row]
    assert all(item and item.startswith("/checkin{") for item in decoded)
    assert offered == ["tg-6001"]  # typed words naming a button tap it
    assert (await sender.round(bot)).sent == 0
    assert len(api.sent_messages(6001)) == 1
    with sessions.begin() as session:
        assert statuses(session) == ["sent"]
        (checkin,) = checkins_of(session, "tg-6001")
        assert checkin.sent_at is not None


async def test_a_403_marks_the_person_blocked_and_nothing_more_goes_to_them(
    sessions: sessionmaker[Session], api: FakeTelegramAPI, bot: Bot
) -> None:
    people_to_check_in(sessions, 6101, 6102)
    api.fail_next("sendMessage", 403, chat_id=6101, times=10)
    clock = Clock(EVENING)
    sender = bulk_sender(sessions, clock)
    report = await sender.round(bot)
    assert (report.sent, report.blocked) == (1, 1)
    with sessions.begin() as session:
        blocked = people.get_person(session, "tg-6101")
        assert blocked is not None and blocked.blocked_at is not None and blocked.alerts_paused
        assert statuses(session) == ["blocked", "sent"]
    await sender.round(bot)
    clock.now = EVENING + 70 * DAY  # the next round falls due (a later start): not for them
    assert (await bulk_sender(sessions, clock).round(bot)).sent == 1
    tries = [call for call in api.calls_to("sendMessage") if call.params["chat_id"] == 6101]
    assert len(tries) == 1
    assert len(api.sent_messages(6102)) == 2
    with sessions.begin() as session:
        assert [row.round for row in checkins_of(session, "tg-6101")] == [1]


async def test_a_429_sends_the_checkin_again_on_a_later_round_once(
    sessions: sessionmaker[Session], api: FakeTelegramAPI, bot: Bot
) -> None:
    people_to_check_in(sessions, 6201)
    api.fail_next("sendMessage", 429, retry_after=1, chat_id=6201)
    sender = bulk_sender(sessions, Clock(EVENING))
    report = await sender.round(bot)
    assert (report.sent, report.blocked, report.failed) == (0, 0, 0)
    with sessions.begin() as session:
        assert statuses(session) == ["queued"]
    assert (await sender.round(bot)).sent == 1
    assert (await sender.round(bot)).sent == 0
    assert len(api.sent_messages(6201)) == 1
    assert len(api.calls_to("sendMessage")) == 2
    with sessions.begin() as session:
        assert statuses(session) == ["sent"]


async def test_a_stop_in_the_middle_of_a_round_loses_only_what_was_on_its_way(
    sessions: sessionmaker[Session], api: FakeTelegramAPI, bot: Bot
) -> None:
    """A stop while check-ins wait for their turn on the pace (here: Telegram asked for a
    pause of 3 s) must leave them queued for the next start: only a request that may have
    reached Telegram is `unsure`. Every person gets their check-in once."""
    chats = [6300 + n for n in range(10)]
    people_to_check_in(sessions, *chats)
    api.fail_next("sendMessage", 429, retry_after=3)  # the first request: everyone waits
    first = asyncio.create_task(bulk_sender(sessions, Clock(EVENING)).round(bot))
    await api.async_wait_for(lambda: api.calls_to("sendMessage"))
    await asyncio.sleep(0.3)
    first.cancel()  # the process stops
    with pytest.raises(asyncio.CancelledError):
        await first
    reached = {call.params["chat_id"] for call in api.calls_to("sendMessage")}
    await bulk_sender(sessions, Clock(EVENING)).round(bot)  # started again
    with sessions.begin() as session:
        counts = {
            status: count
            for status, count in session.execute(
                select(BulkMessage.status, func.count()).group_by(BulkMessage.status)
            )
        }
    print(f"\nstop mid-round: {counts}, requests that reached the API before: {len(reached)}")
    assert all(len(api.sent_messages(chat)) <= 1 for chat in chats)  # never twice
    assert counts.get("unsure", 0) <= len(reached)
    assert all(len(api.sent_messages(chat)) == 1 for chat in chats if chat not in reached)
