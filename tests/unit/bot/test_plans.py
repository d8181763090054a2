"""Plans and appointments: steps a coach writes with a young person, shown with /plan and ticked
with a button; appointments proposed in the person's time zone and answered with buttons;
reminders 7 days and 1 day before a step, the day before and two hours before an appointment,
each once and on the paced queue (quiet hours for all but the last); kept and missed
appointments in the KPI export; all of it in /mydata and gone with the person."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Appointment, BulkMessage, OutboxMessage, Person, PlanStep, User
from bot.languages import mark_rtl
from bot.messages import text
from bot.services import bulk, conversations, figures, people, plans, privacy
from bot.services.figures import Period
from bot.services.plans import PlanError
from bot.services.users import create_user
from connectors.rasa.events import RasaEvents
from connectors.records import channel_payload
from tests.conftest import account
from tests.unit.bot.test_reach import registered, tracker_url

__all__ = ["tracker_url"]  # a fixture: an empty tracker store

# Monday 30 November 2026, 17:00 UTC = 18:00 in Rome (not quiet).
MOMENT = dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
QUIET = (21, 8)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """`now()` of the services, moved by the test."""
    clock = [MOMENT]
    monkeypatch.setattr(plans, "now", lambda: clock[0])
    monkeypatch.setattr(people, "now", lambda: clock[0])
    monkeypatch.setattr(bulk, "now", lambda: clock[0])
    return clock


def person_in_italy(session: Session, sender: str = "tg-plan", chat: int | None = 7001) -> Person:
    person = registered(session, sender, chat=chat, followup=False, language="it", country="IT")
    return person


def coach(session: Session) -> User:
    create_user(session, "giulia", "coach", "correct horse battery", "Giulia")
    found = account(session, "giulia")
    found.telegram_chat_id = 9100  # her own chat, linked on "Your settings"
    return found


def test_a_coach_writes_steps_and_the_person_ticks_one_with_a_button(
    sessions: sessionmaker[Session], frozen: list[dt.datetime]
) -> None:
    with sessions.begin() as session:
        person, author = person_in_italy(session), coach(session)
        today = MOMENT.date()
        with pytest.raises(PlanError, match="Write what the step is"):
            plans.add_step(session, person.id, author, "   ", today)
        with pytest.raises(PlanError, match="in the past"):
            plans.add_step(session, person.id, author, "Call", today - DAY)
        with pytest.raises(PlanError, match="at most 200"):
            plans.add_step(session, person.id, author, "x" * 201, today)
        first = plans.add_step(session, person.id, author, "Manda il CV", today + 10 * DAY)
        plans.add_step(session, person.id, author, "Chiama il centro", today + 2 * DAY)
        step_id = first.id
    # /plan: the steps by date, each open one with its button, in Italian
    assert channel_payload(plans.SHOW_PLAN)
    with sessions.begin() as session:
        shown = plans.answer(session, "tg-plan", plans.SHOW_PLAN, "it")
    assert shown.text.index("Chiama il centro") < shown.text.index("Manda il CV")
    assert "mercoledì 2 dicembre 2026" in shown.text
    assert text("plan.progress", "it", done=0, total=2) in shown.text
    tick = f'/step{{"s":"{step_id}"}}'
    assert {"title": text("plan.done_button", "it", text="Manda il CV"), "payload": tick} in (
        shown.buttons
    )
    assert channel_payload(tick)
    with sessions.begin() as session:
        ticked = plans.answer(session, "tg-plan", tick, "it")
        again = plans.answer(session, "tg-plan", tick, "it")
        stranger = plans.answer(session, "tg-someone-else", tick, "it")
    assert ticked.text == text("plan.ticked", "it", text="Manda il CV")
    assert again.text == text("plan.already_done", "it", text="Manda il CV")
    assert stranger.text == text("plan.expired", "it")  # not their step: nothing changes
    with sessions.begin() as session:
        view = plans.plan_of(session, person_id_of(session, "tg-plan"))
        assert view.done == 1 and [s.done_by for s in view.steps] == [None, "self"]
        shown = plans.answer(session, "tg-plan", plans.SHOW_PLAN, "it")
    assert "✅ Manda il CV" in shown.text and len(shown.buttons) == 1


def person_id_of(session: Session, sender: str) -> int:
    person = people.get_person(session, sender)
    assert person is not None
    return person.id


def test_plan_for_someone_without_a_plan_or_a_profile_says_how_to_get_one(
    sessions: sessionmaker[Session], frozen: list[dt.datetime]
) -> None:
    with sessions.begin() as session:
        person_in_italy(session)
        assert plans.answer(session, "tg-plan", plans.SHOW_PLAN, "it").text == text(
            "plan.empty", "it"
        )
        assert plans.answer(session, "tg-nobody", plans.SHOW_PLAN, "hr").text == text(
            "plan.empty", "hr"
        )
        assert plans.answer(session, "tg-plan", '/step{"s":"x"}', "it").text == text(
            "plan.expired", "it"
        )
        assert plans.answer(session, "tg-plan", "/step{broken", "it").text == text(
            "plan.expired", "it"
        )


def test_an_appointment_is_proposed_in_the_persons_time_and_answered_once(
    sessions: sessionmaker[Session], frozen: list[dt.datetime]
) -> None:
    with sessions.begin() as session:
        person, author = person_in_italy(session), coach(session)
        with pytest.raises(PlanError, match="in the past"):
            plans.propose(
                session, person.id, author, dt.datetime(2026, 11, 30, 17, 30), "Via Roma 1"
            )
        with pytest.raises(PlanError, match="Say where"):
            plans.propose(session, person.id, author, dt.datetime(2026, 12, 3, 10, 0), " ")
        proposal = plans.propose(
            session,
            person.id,
            author,
            dt.datetime(2026, 12, 3, 10, 0),
            "Centro giovani, Via Roma 1",
        )
        stored = session.get(Appointment, proposal.appointment_id)
        assert stored is not None
        # 10:00 in Rome in December is 09:00 UTC
        assert conversations.aware(stored.starts_at) == dt.datetime(
            2026, 12, 3, 9, 0, tzinfo=dt.UTC
        )
        no_chat = person_in_italy(session, "tg-console", chat=None)
        with pytest.raises(PlanError, match="cannot be written to"):
            plans.propose(session, no_chat.id, author, dt.datetime(2026, 12, 3, 10, 0), "x")
    assert proposal.chat_id == 7001
    assert "Giulia" in proposal.text and "giovedì 3 dicembre 2026" in proposal.text
    assert "10:00" in proposal.text and "Centro giovani, Via Roma 1" in proposal.text
    keyboard = proposal.message["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in keyboard] == [
        text("appointment.confirm_button", "it"),
        text("appointment.other_button", "it"),
        text("appointment.decline_button", "it"),
    ]
    assert all(len(row[0]["callback_data"].encode()) <= 64 for row in keyboard)
    yes, other = keyboard[0][0]["callback_data"], keyboard[1][0]["callback_data"]
    with sessions.begin() as session:
        confirmed = plans.answer(session, "tg-plan", yes, "it")
        later = plans.answer(session, "tg-plan", other, "it")  # the first answer stays
        shown = plans.answer(session, "tg-plan", plans.SHOW_PLAN, "it")
        status = session.get(Appointment, proposal.appointment_id)
        assert status is not None and status.status == "confirmed"
    assert "Centro giovani" in confirmed.text and "10:00" in confirmed.text
    # Giulia linked her Telegram: she hears of the answer there, with a link, no words of theirs
    with sessions.begin() as session:
        (notice,) = [json.loads(row.params) for row in session.scalars(select(OutboxMessage))]
    assert notice["chat_id"] == 9100
    assert notice["text"].startswith("📅 The appointment you proposed for 2026-12-03 10:00")
    assert "was confirmed." in notice["text"] and "#appointments" in notice["text"]
    assert later.text == text("plan.expired", "it")
    assert text("appointment.status.confirmed", "it") in shown.text


def test_attended_and_missed_only_after_the_time_and_they_count_in_the_kpi_export(
    sessions: sessionmaker[Session], frozen: list[dt.datetime], tracker_url: str
) -> None:
    with sessions.begin() as session:
        person, author = person_in_italy(session), coach(session)
        kept = plans.propose(session, person.id, author, dt.datetime(2026, 12, 1, 10, 0), "A")
        missed = plans.propose(session, person.id, author, dt.datetime(2026, 12, 1, 15, 0), "B")
        cancelled = plans.propose(session, person.id, author, dt.datetime(2026, 12, 2, 9, 0), "C")
        with pytest.raises(PlanError, match="not happened yet"):
            plans.record(session, person.id, kept.appointment_id, "attended")
        with pytest.raises(PlanError, match="Choose attended"):
            plans.record(session, person.id, kept.appointment_id, "forgotten")
        notice = plans.record(session, person.id, cancelled.appointment_id, "cancelled")
        assert notice is not None and notice.chat_id == 7001
        assert "Giulia" in notice.text and "2 dicembre" in notice.text
        with pytest.raises(PlanError, match="is cancelled"):
            plans.record(session, person.id, cancelled.appointment_id, "cancelled")
        person_id = person.id
    frozen[0] = MOMENT + 2 * DAY
    with sessions.begin() as session:
        assert plans.record(session, person_id, kept.appointment_id, "attended") is None
        plans.record(session, person_id, missed.appointment_id, "missed")
        report = figures.kpi_csv(
            session, RasaEvents(tracker_url), Period(dt.date(2026, 12, 1), dt.date(2026, 12, 31))
        )
    rows = {
        (row["metric"], row["breakdown"]): row["value"]
        for row in csv.DictReader(io.StringIO(report))
    }
    assert rows[("appointments_kept", "")] == "1"
    assert rows[("appointments_missed", "")] == "1"
    assert rows[("appointments", "status=cancelled")] == "1"


def reminders(session: Session) -> list[tuple[str, int, str]]:
    return [
        (row.kind, row.ref_id, json.loads(row.params)["text"])
        for row in session.scalars(select(BulkMessage).order_by(BulkMessage.id))
    ]


def test_reminders_go_a_week_and_a_day_before_a_step_each_once_and_not_once_it_is_done(
    sessions: sessionmaker[Session], frozen: list[dt.datetime]
) -> None:
    with sessions.begin() as session:
        person, author = person_in_italy(session), coach(session)
        far = plans.add_step(
            session, person.id, author, "Iscriviti al corso", MOMENT.date() + 10 * DAY
        )
        near = plans.add_step(session, person.id, author, "Chiama", MOMENT.date() + 3 * DAY)
        done = plans.add_step(session, person.id, author, "Fatto", MOMENT.date() + 1 * DAY)
        plans.set_done(session, person.id, done.id, True)
        far_id, near_id = far.id, near.id
        assert plans.queue_reminders(session, MOMENT) == 0  # a step written 3 days ahead: no week
    with sessions.begin() as session:
        assert plans.queue_reminders(session, MOMENT + 1 * DAY) == 0
        assert plans.queue_reminders(session, MOMENT + 2 * DAY) == 1  # "Chiama" tomorrow
        assert plans.queue_reminders(session, MOMENT + 2 * DAY) == 0
        assert reminders(session) == [
            (bulk.STEP_DAY, near_id, text("plan.reminder_day", "it", text="Chiama",
                                          due="giovedì 3 dicembre 2026")),
        ]  # fmt: skip
    with sessions.begin() as session:
        assert plans.queue_reminders(session, MOMENT + 3 * DAY) == 1  # "Iscriviti" in 7 days
        assert plans.queue_reminders(session, MOMENT + 4 * DAY) == 0
        kinds = [(kind, ref) for kind, ref, _ in reminders(session)]
        assert kinds[-1] == (bulk.STEP_WEEK, far_id)
        # Ticked before its last day: the day's reminder never goes
        plans.answer(session, "tg-plan", f'/step{{"s":"{far_id}"}}', "it")
        assert plans.queue_reminders(session, MOMENT + 9 * DAY) == 0
        # Reminders go without follow-up consent (the person agreed the plan with a coach)
        assert person.followup_consent is False
        due = bulk.due(session, MOMENT + 2 * DAY, QUIET)
        assert [message.kind for message in due] == [bulk.STEP_DAY]


def test_an_appointment_is_reminded_the_day_before_and_two_hours_before_even_at_night(
    sessions: sessionmaker[Session], frozen: list[dt.datetime]
) -> None:
    with sessions.begin() as session:
        person, author = person_in_italy(session), coach(session)
        early = plans.propose(
            session, person.id, author, dt.datetime(2026, 12, 3, 8, 0), "Via Po 2"
        )
        unanswered = plans.propose(session, person.id, author, dt.datetime(2026, 12, 3, 9, 0), "X")
        plans.answer(
            session,
            "tg-plan",
            early.message["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
            "it",
        )
        assert unanswered.appointment_id
        starts = dt.datetime(2026, 12, 3, 7, 0, tzinfo=dt.UTC)  # 08:00 in Rome
        assert plans.queue_reminders(session, starts - 2 * DAY) == 0
        assert plans.queue_reminders(session, starts - DAY) == 1
        assert plans.queue_reminders(session, starts - DAY + dt.timedelta(hours=1)) == 0
        assert plans.queue_reminders(session, starts - dt.timedelta(hours=2)) == 1
        assert plans.queue_reminders(session, starts - dt.timedelta(hours=1)) == 0
        found = reminders(session)
        assert [kind for kind, _, _ in found] == [bulk.APPOINTMENT_DAY, bulk.APPOINTMENT_SOON]
        assert "08:00" in found[1][2] and "Giulia" in found[1][2] and "Via Po 2" in found[1][2]
        # 06:00 in Rome is quiet: the day's reminder waits, the two hours' does not
        night = starts - dt.timedelta(hours=1)
        assert [m.kind for m in bulk.due(session, night, QUIET)] == [bulk.APPOINTMENT_SOON]


def test_plans_and_appointments_are_in_mydata_and_gone_with_the_person(
    sessions: sessionmaker[Session], frozen: list[dt.datetime], tracker_url: str
) -> None:
    with sessions.begin() as session:
        person, author = person_in_italy(session), coach(session)
        plans.add_step(session, person.id, author, "Manda il CV", MOMENT.date() + DAY)
        plans.propose(session, person.id, author, dt.datetime(2026, 12, 1, 19, 0), "Via Roma 1")
        plans.queue_reminders(session, MOMENT)
        document = privacy.export_person(session, RasaEvents(tracker_url), "tg-plan")
    assert document["plan"][0]["step"] == "Manda il CV"
    assert document["appointments"][0]["where"] == "Via Roma 1"
    with sessions.begin() as session:
        assert session.scalars(select(BulkMessage)).all()  # the step's reminder, with its words
        people.erase_person(session, "tg-plan")
    with sessions.begin() as session:
        assert session.scalars(select(PlanStep)).all() == []
        assert session.scalars(select(Appointment)).all() == []
        assert session.scalars(select(BulkMessage)).all() == []


def test_a_tap_on_a_cancelled_proposal_changes_nothing_and_arabic_reads_right_to_left(
    sessions: sessionmaker[Session], frozen: list[dt.datetime]
) -> None:
    with sessions.begin() as session:
        person = registered(session, "tg-tunis", chat=7002, followup=False, language="ar",
                            country="TN")  # fmt: skip
        author = coach(session)
        plans.add_step(session, person.id, author, "أرسل سيرتك الذاتية", MOMENT.date() + 5 * DAY)
        proposal = plans.propose(
            session, person.id, author, dt.datetime(2026, 12, 2, 11, 0), "تونس"
        )
        plans.record(session, person.id, proposal.appointment_id, "cancelled")
        yes = proposal.message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        late = plans.answer(session, "tg-tunis", yes, "ar")
        stored = session.get(Appointment, proposal.appointment_id)
        assert stored is not None and stored.status == "cancelled"
        shown = plans.answer(session, "tg-tunis", plans.SHOW_PLAN, "ar")
    assert late.text == mark_rtl(text("plan.expired", "ar"))
    assert proposal.text.startswith("\u200f") and shown.text.startswith("\u200f")
    assert "أرسل سيرتك الذاتية" in shown.text and "تونس" not in shown.text  # cancelled: not shown
