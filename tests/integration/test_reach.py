"""Reach and outcomes through the whole stack (the fake Bot API, the connector, Rasa and the
actions): a young person arrives by a campaign's link and registers in Italian, agreeing to be
checked in with; "a month later" (the connector's clock moved on) the check-in arrives in their
language, their answer becomes a self-reported outcome, in the funnel and the KPI export; nobody
who said no, withdrew or blocked the bot gets anything; and a connector killed in the middle of
a round of check-ins sends nobody anything twice once started again."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from bot.db.models import BulkMessage, CheckIn, Outcome, Person
from bot.db.session import session_factory
from bot.languages import mark_rtl, self_name
from bot.messages import text
from bot.pseudonym import pseudonym
from bot.services import campaigns, figures, people
from bot.services.campaigns import CampaignView
from bot.services.figures import Period
from connectors import processes
from connectors.rasa.events import RasaEvents
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.integration.conftest import Connector, Stack, start_connector
from tests.integration.person import Person as Chat
from tests.integration.person import buttons, text_of

pytestmark = pytest.mark.integration

QUIET_OFF = {"ALERT_QUIET_START": "0", "ALERT_QUIET_END": "0"}
MONTH_LATER = {"CLOCK_OFFSET_DAYS": "31", "ALERT_POLL_SECONDS": "0.5", **QUIET_OFF}
SEEDED = 40  # people due for a check-in when the connector is killed and started again


@dataclass
class Story:
    """What the first test leaves for the next: the campaign and the people in it."""

    campaign: CampaignView | None = None
    chats: dict[str, Chat] = field(default_factory=dict)


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


def sender_of(stack: Stack, chat: Chat) -> str:
    assert stack.settings.pseudonym_key is not None
    return pseudonym(stack.settings.pseudonym_key.get_secret_value(), "tg", chat.user_id)


def stored_person(stack: Stack, chat: Chat) -> Person | None:
    with session_factory(stack.settings.database_url).begin() as session:
        person = session.scalar(select(Person).where(Person.sender_id == sender_of(stack, chat)))
        if person is not None:
            session.expunge(person)
        return person


def connector(stack: Stack, api: FakeTelegramAPI, name: str, **env: str) -> Connector:
    """A connector started and polling the fake Bot API."""
    before = len(api.calls_to("getUpdates"))
    running = start_connector(stack, api, name, **env)
    try:
        api.wait_for(lambda: len(api.calls_to("getUpdates")) > before, timeout=60)
    except BaseException:
        processes.stop(running.process)
        raise
    return running


def arrive_and_register(chat: Chat, code: str, followup: bool, name: str = "Giulia") -> None:
    """`/start <code>` from a campaign's poster, "I agree", then the whole registration, in the
    language of the person's Telegram (asked to check in later: `followup`)."""
    lang = chat.language_code
    replies = chat.say(f"/start {code}", replies=2)
    assert text("consent_accept_button", lang) in buttons(replies)
    replies = chat.tap(replies, text("consent_accept_button", lang), replies=2)
    assert text("consent_thanks", lang) in text_of(replies)
    replies = chat.tap(replies, text("register_button", lang), replies=2)
    assert text("reg_ask.reg_name", lang) in text_of(replies)
    assert text("reg_ask.reg_age", lang) in text_of(chat.say(name))
    chat.say("19")
    replies = chat.say("Palermo")
    replies = chat.tap(replies, text("education.upper_secondary", lang))
    replies = chat.tap(replies, text("situation.work", lang))
    replies = chat.tap(replies, "💻")
    replies = chat.tap(replies, text("reg_done_button", lang))
    assert text("reg_ask.reg_gender", lang) in text_of(replies)
    replies = chat.tap(replies, text("gender.woman", lang))
    assert text("reg_ask.reg_followup", lang) in text_of(replies)
    replies = chat.tap(replies, text("followup_answer." + ("yes" if followup else "no"), lang))
    assert text("reg_ask.reg_language", lang) in text_of(replies)
    replies = chat.tap(replies, self_name(lang), replies=2)
    assert text("profile_saved", lang) in text_of(replies)


def seed(stack: Stack, chat_id: int, sender: str, registered_at: dt.datetime) -> None:
    """A registered person who agreed to check-ins, written straight to the database."""
    with session_factory(stack.settings.database_url).begin() as session:
        person = people.give_consent(session, sender, language="en")
        people.save_profile(
            session, sender, people.Profile(age=20, country="IT", language="en", followup=True)
        )
        person.registered_at, person.telegram_chat_id = registered_at, chat_id


def outcomes_by_source(rows: dict[tuple[str, str], str], source: str) -> int | None:
    """The KPI export's outcomes of one source: its own row (`source=self`), or the sum of its
    rows per kind (`kind=job,source=self`); None when it has neither."""
    total = rows.get(("outcomes", f"source={source}"))
    if total is not None:
        return int(total)
    per_kind = [
        int(value)
        for (metric, breakdown), value in rows.items()
        if metric == "outcomes" and f"source={source}" in breakdown.split(",")
    ]
    return sum(per_kind) if per_kind else None


def attempts_to(api: FakeTelegramAPI, chat: Chat, since: float = 0.0) -> int:
    return sum(
        1
        for call in api.calls_to("sendMessage")
        if call.params.get("chat_id") == chat.user_id and call.time >= since
    )


def test_a_young_person_arrives_by_a_campaign_link_and_registers_in_italian(
    stack: Stack, fake_telegram: FakeTelegramAPI, story: Story
) -> None:
    began = time.monotonic()
    database = session_factory(stack.settings.database_url)
    with database.begin() as session:
        story.campaign = campaigns.create(
            session, name="Reach test: youth centre Palermo", partner="Reach test partner",
            venue="youth_centre", language="it", starts_on=None, ends_on=None, by="test",
        )  # fmt: skip
    code = story.campaign.code
    giulia = story.chats["giulia"] = Chat(fake_telegram, language_code="it", first_name="Giulia")
    ben = story.chats["ben"] = Chat(fake_telegram, first_name="Ben")
    blocker = story.chats["blocker"] = Chat(fake_telegram, first_name="Bea")
    quitter = story.chats["quitter"] = Chat(fake_telegram, first_name="Quentin")
    running = connector(stack, fake_telegram, "reach-arrivals")
    try:
        arrive_and_register(giulia, code, followup=True)
        arrive_and_register(ben, code, followup=False, name="Ben")
        # Two more who agreed to check-ins: one will have blocked the bot, one withdraws now.
        now = people.now()
        seed(stack, blocker.user_id, sender_of(stack, blocker), now)
        seed(stack, quitter.user_id, sender_of(stack, quitter), now)
        assert text("consent_withdrawn", "en") in text_of(quitter.say("/stop"))
    finally:
        processes.stop(running.process)

    person = stored_person(stack, giulia)
    assert person is not None and person.registered_at is not None
    assert (person.language, person.gender, person.followup_consent) == ("it", "woman", True)
    assert person.campaign_id == story.campaign.id
    assert person.telegram_chat_id == giulia.user_id
    other = stored_person(stack, ben)
    assert other is not None and other.followup_consent is False
    assert other.campaign_id == story.campaign.id
    assert stored_person(stack, quitter) is None
    print(f"\narrivals and registrations: {time.monotonic() - began:.1f} s")


def test_a_month_later_the_checkin_arrives_and_its_answer_is_an_outcome(
    stack: Stack, fake_telegram: FakeTelegramAPI, story: Story
) -> None:
    assert story.campaign is not None, "the test before this one registers the people"
    began = time.monotonic()
    giulia, ben = story.chats["giulia"], story.chats["ben"]
    blocker, quitter = story.chats["blocker"], story.chats["quitter"]
    fake_telegram.fail_next("sendMessage", 403, chat_id=blocker.user_id, times=50)
    since = time.monotonic()
    seen_before = len(giulia.seen())
    running = connector(stack, fake_telegram, "reach-month-later", **MONTH_LATER)
    try:
        fake_telegram.wait_for_messages(giulia.user_id, seen_before + 1, timeout=60)
        (question,) = giulia.seen()[seen_before:]
        assert text_of([question]) == mark_rtl(text("checkin_question", "it"))
        assert buttons([question]) == [
            text(f"checkin_answer.{key}", "it")
            for key in ("working", "training", "education", "looking", "prefer_not")
        ]
        replies = giulia.tap([question], text("checkin_answer.working", "it"))
        assert text_of(replies) == mark_rtl(
            text("checkin_noted.working", "it") + "\n\n" + text("checkin_helpful", "it")
        )
        assert buttons(replies)[0].startswith("1") and len(buttons(replies)) == 5
        replies = giulia.tap(replies, "4")
        assert text_of(replies) == text("checkin_thanks", "it")
        time.sleep(2)  # a few more rounds (every 0.5 s): nothing more goes out
    finally:
        processes.stop(running.process)

    assert len(giulia.seen()) == seen_before + 3  # the question and the two answers' replies
    # "No, thanks", /stop, a blocked bot: nothing; the blocked chat was tried once.
    assert attempts_to(fake_telegram, ben, since) == 0
    assert attempts_to(fake_telegram, quitter, since) == 0
    assert attempts_to(fake_telegram, blocker, since) == 1
    blocked = stored_person(stack, blocker)
    assert blocked is not None and blocked.blocked_at is not None

    database = session_factory(stack.settings.database_url)
    with database.begin() as session:
        person = session.scalar(select(Person).where(Person.sender_id == sender_of(stack, giulia)))
        assert person is not None
        (outcome,) = session.scalars(select(Outcome).where(Outcome.person_id == person.id))
        assert (outcome.kind, outcome.source) == ("job", "self")
        (checkin,) = session.scalars(select(CheckIn).where(CheckIn.person_id == person.id))
        assert (checkin.round, checkin.status, checkin.helpful) == (1, "working", 4)
        assert checkin.sent_at is not None and checkin.answered_at is not None
        bea = session.scalar(select(Person).where(Person.sender_id == sender_of(stack, blocker)))
        assert bea is not None
        assert list(
            session.scalars(select(BulkMessage.status).where(BulkMessage.person_id == bea.id))
        ) == ["blocked"]
        assert not session.scalars(
            select(CheckIn).join(Person).where(Person.sender_id == sender_of(stack, ben))
        ).all()
        by_campaign, by_partner = campaigns.funnel(session)
        (row,) = [item for item in by_campaign if item.label == story.campaign.name]
        assert {step: row.counts[step] for step in ("started", "agreed", "registered")} == {
            "started": 2, "agreed": 2, "registered": 2}  # fmt: skip
        assert row.counts["outcome"] == 1
        (partner,) = [item for item in by_partner if item.label == story.campaign.partner]
        assert partner.counts["outcome"] == 1
        today = people.now().date()
        period = Period(today - dt.timedelta(days=1), today + dt.timedelta(days=1))
        self_reported = len(
            session.scalars(
                select(Outcome.id).where(
                    Outcome.source == "self",
                    Outcome.date >= period.start,
                    Outcome.date <= period.end,
                )
            ).all()
        )
        export = figures.kpi_csv(session, RasaEvents(stack.settings.tracker_store_url), period)
    rows = {
        (metric, breakdown): value for metric, breakdown, value in csv.reader(io.StringIO(export))
    }
    shown = [key for key in rows if key[0] in ("outcomes", "registered")]
    print(f"\na month later: {time.monotonic() - began:.1f} s; KPI rows: {shown}")
    assert outcomes_by_source(rows, "self") == self_reported, (
        "the KPI export has no row for outcomes reported by the people themselves"
    )
    assert rows.get(("registered", f"campaign={story.campaign.name}")) == "2", (
        "the KPI export has no row for the people registered by this campaign"
    )


def test_plan_as_a_young_person_types_it_taps_twice_and_sends_a_sticker(
    stack: Stack, fake_telegram: FakeTelegramAPI, story: Story
) -> None:
    """/plan through the connector: nothing yet, then a plan a coach wrote; the command however
    it is typed; a double tap; a sticker in between; never a turn of Rasa's (no reply of the
    model) and never a stack trace."""
    assert story.campaign is not None, "the first test registers the people"
    giulia = story.chats["giulia"]
    running = connector(stack, fake_telegram, "reach-plan", **QUIET_OFF)
    try:
        assert text_of(giulia.say("/plan")) == mark_rtl(text("plan.empty", "it"))
        with session_factory(stack.settings.database_url).begin() as session:
            from bot.services import plans, users

            person = session.scalar(
                select(Person).where(Person.sender_id == sender_of(stack, giulia))
            )
            assert person is not None
            coach = users.create_user(session, "plan.coach", "coach", "correct horse battery")
            coach_row = session.get(users.User, coach.id)
            assert coach_row is not None
            later = people.now().date() + dt.timedelta(days=20)
            for words in ("Manda il CV", "Chiama il centro per l'impiego"):
                plans.add_step(session, person.id, coach_row, words, later)
        shown = giulia.say("/PLAN@neet_test_bot")
        assert "Manda il CV" in text_of(shown) and "Chiama il centro" in text_of(shown)
        assert buttons(shown) == [
            text("plan.done_button", "it", text="Manda il CV"),
            text("plan.done_button", "it", text="Chiama il centro per l'impiego"),
        ]
        sticker = giulia.send(fake_telegram.make_sticker_update(giulia.user_id))
        assert text_of(sticker) == text("non_text", "it")
        ticked = giulia.tap(shown, text("plan.done_button", "it", text="Manda il CV"))
        assert text_of(ticked) == text("plan.ticked", "it", text="Manda il CV")
        again = giulia.tap(shown, text("plan.done_button", "it", text="Manda il CV"))
        assert text_of(again) == text("plan.already_done", "it", text="Manda il CV")
        after = giulia.say("/plan")
        assert text("plan.progress", "it", done=1, total=2) in text_of(after)
        assert len(buttons(after)) == 1
    finally:
        processes.stop(running.process)


@pytest.fixture
def slow_telegram() -> Iterator[FakeTelegramAPI]:
    """A Bot API that takes 5 messages a second (429 beyond): a round of 40 takes seconds."""
    with FakeTelegramAPI(rate_limit=5) as api:
        yield api


def test_a_connector_killed_in_the_middle_of_a_checkin_round_sends_nothing_twice(
    stack: Stack, slow_telegram: FakeTelegramAPI
) -> None:
    began = time.monotonic()
    chats = [9_300_001 + n for n in range(SEEDED)]
    month_ago = people.now() - dt.timedelta(days=31)
    for chat in chats:
        seed(stack, chat, f"reach-restart-{chat}", month_ago)
    database = session_factory(stack.settings.database_url)

    def statuses() -> Counter[str]:
        with database.begin() as session:
            return Counter(
                session.scalars(
                    select(BulkMessage.status)
                    .join(Person, BulkMessage.person_id == Person.id)
                    .where(Person.telegram_chat_id.in_(chats), BulkMessage.kind == "checkin")
                )
            )

    def delivered() -> list[int]:
        return [
            message["chat_id"]
            for message in slow_telegram.sent_messages()
            if message["chat_id"] in chats
        ]

    env = {"ALERT_POLL_SECONDS": "0.5", **QUIET_OFF}
    first = start_connector(stack, slow_telegram, "reach-restart-1", **env)
    try:
        slow_telegram.wait_for(lambda: len(delivered()) >= 5, timeout=60)
    finally:
        os.killpg(first.process.pid, signal.SIGKILL)  # a crash, not a clean stop
        first.process.wait(10)
    at_kill = statuses()
    tried = {call.params.get("chat_id") for call in slow_telegram.calls_to("sendMessage")}
    delivered_before = len(delivered())
    assert 0 < delivered_before < SEEDED, "the kill came too late to be in the middle"

    second = connector(stack, slow_telegram, "reach-restart-2", **env)
    try:
        slow_telegram.wait_for(
            lambda: (
                sum(statuses().values()) == SEEDED and not statuses().keys() & {"queued", "sending"}
            ),
            timeout=90,
        )
        time.sleep(1.5)  # a few more rounds
    finally:
        processes.stop(second.process)
    final = statuses()
    per_chat = Counter(delivered())
    print(
        f"\nrestart mid-round ({time.monotonic() - began:.1f} s): at the kill {dict(at_kill)}, "
        f"{delivered_before} delivered, {len(tried & set(chats))} tried; at the end "
        f"{dict(final)}, {len(per_chat)} people got their check-in"
    )
    assert max(per_chat.values()) == 1  # nobody got it twice
    assert final["sent"] + final["unsure"] == SEEDED
    assert final["sent"] <= len(per_chat)  # each one marked sent did arrive
    # Those whose request never left before the kill are not lost: they get it after the start.
    never_tried = [chat for chat in chats if chat not in tried]
    missing = [chat for chat in never_tried if per_chat[chat] == 0]
    assert not missing, (
        f"{len(missing)} of the {len(never_tried)} check-ins that never reached Telegram before "
        "the kill were never sent after the restart (left `unsure`)"
    )
