"""Plans and appointments, written by a coach with a young person.

- **A plan** is a list of steps, each with a due date and perhaps an opportunity of the
  catalogue. The person sees it with `/plan` and ticks a step done with a button
  (`/step{"s":"12"}`); a reminder goes 7 days and 1 day before a step's due date.
- **An appointment** is proposed by a coach (a time in the person's time zone, and a place, a
  phone number or a video link). The person confirms, asks for another time or declines with
  buttons (`/appt{"a":"5","r":"yes"}`); a confirmed one is reminded the day before and two hours
  before. The coach records whether the person came: kept and missed appointments are in the
  KPI export.

Like check-ins, the payloads are the channel's, not Rasa's intents: the connector hands them to
`answer` before Rasa (`is_plan_payload`). Reminders are queued by `queue_reminders` (run by the
connector's loop) in the paced queue (`bot.services.bulk`): Telegram's pace applies to all of
them, quiet hours to all but the two-hours-before one, which is no use later.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from babel.dates import format_date, format_time
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.models import Appointment, Opportunity, Person, PlanStep, User
from bot.languages import mark_rtl
from bot.messages import text
from bot.payloads import button, parse, payload
from bot.refusal import Refusal
from bot.services import bulk, routing
from bot.services.bulk import APPOINTMENT_DAY, APPOINTMENT_SOON, STEP_DAY, STEP_WEEK
from bot.services.conversations import aware
from bot.services.followups import Reply
from bot.services.people import get_person, now, policy

PLAN, STEP, APPOINTMENT = "plan", "step", "appt"  # the payloads' names (the channel's)
SHOW_PLAN = f"/{PLAN}{{}}"  # what /plan sends
ANSWERS = {"yes": "confirmed", "other": "other_time", "no": "declined"}
ANSWER_BUTTONS = {"yes": "confirm_button", "other": "other_button", "no": "decline_button"}
# What a coach records, and what they may record it over.
RECORDS = {
    "attended": ("proposed", "confirmed", "other_time", "missed"),
    "missed": ("proposed", "confirmed", "other_time", "attended"),
    "cancelled": ("proposed", "confirmed", "other_time"),
}
MAX_STEP = 200  # characters of a step
MAX_PLACE = 300
MAX_BUTTONS = 8  # steps offered as "Done" buttons under the plan
SOON = dt.timedelta(hours=2)
DAY = dt.timedelta(days=1)


class PlanError(Refusal):
    """A step or an appointment that cannot be saved; the text says why, for the coach."""


def is_plan_payload(message: str) -> bool:
    """Whether a payload is about a plan or an appointment (the channel handles it, not Rasa)."""
    return message.startswith((f"/{PLAN}{{", f"/{STEP}{{", f"/{APPOINTMENT}{{"))


def _local(person: Person, moment: dt.datetime) -> dt.datetime:
    return aware(moment).astimezone(policy().timezone(person.country))


def day_words(day: dt.date, language: str) -> str:
    """A day as people of that language write it ("giovedì 10 dicembre 2026")."""
    return format_date(day, format="full", locale=language)


def when_words(person: Person, moment: dt.datetime, language: str) -> str:
    """A moment in the person's time zone, in words of their language."""
    local = _local(person, moment)
    return f"{day_words(local.date(), language)}, {time_words(local, language)}"


def time_words(local: dt.datetime, language: str) -> str:
    """A time of day as people of that language write it ("10:30", "10:30 AM")."""
    return format_time(local, format="short", locale=language)


def _language(person: Person) -> str:
    return person.language or "en"


def _coach_name(coach: User | None) -> str:
    return coach.display_name if coach is not None else "…"


# --- the coach's side ------------------------------------------------------------------------


def _person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise PlanError("There is no such person.")
    return person


def add_step(
    session: Session,
    person_id: int,
    author: User,
    words: str,
    due_on: dt.date,
    opportunity_id: int | None = None,
    today: dt.date | None = None,
) -> PlanStep:
    """Add a step to a person's plan."""
    person = _person(session, person_id)
    words = " ".join(words.split())
    if not words:
        raise PlanError("Write what the step is.")
    if len(words) > MAX_STEP:
        raise PlanError("A step has at most %(max)d characters; split it into two.", max=MAX_STEP)
    if due_on < (today or _local(person, now()).date()):
        raise PlanError("The due date is in the past.")
    if opportunity_id is not None and session.get(Opportunity, opportunity_id) is None:
        raise PlanError("There is no such training or job in the catalogue.")
    step = PlanStep(
        person_id=person.id,
        text=words,
        due_on=due_on,
        opportunity_id=opportunity_id,
        author_id=author.id,
        created_at=now(),
    )
    session.add(step)
    session.flush()
    return step


def _step(session: Session, person_id: int, step_id: int) -> PlanStep:
    step = session.get(PlanStep, step_id)
    if step is None or step.person_id != person_id:
        raise PlanError("There is no such step in this plan.")
    return step


def set_done(session: Session, person_id: int, step_id: int, done: bool) -> PlanStep:
    """The coach ticks a step done, or opens it again."""
    step = _step(session, person_id, step_id)
    if done and step.done_at is None:
        step.done_at, step.done_by = now(), "coach"
    elif not done:
        step.done_at, step.done_by = None, None
    return step


def remove_step(session: Session, person_id: int, step_id: int) -> None:
    """Delete a step (and whatever reminder of it is still queued)."""
    step = _step(session, person_id, step_id)
    for kind in (STEP_WEEK, STEP_DAY):
        bulk.cancel(session, kind, step.id)
    session.delete(step)


@dataclass(frozen=True)
class Proposal:
    """An appointment proposed: its row, and the message for the person's chat (sendMessage
    parameters for the outbox) with its text alone for the transcript."""

    appointment_id: int
    sender_id: str
    chat_id: int
    message: dict[str, Any]
    text: str
    buttons: list[dict[str, str]]


def _inline(buttons: list[dict[str, str]]) -> dict[str, Any]:
    """Buttons as Telegram's inline keyboard, one per row (payloads fit its 64 bytes)."""
    return {
        "inline_keyboard": [
            [{"text": item["title"], "callback_data": item["payload"]}] for item in buttons
        ]
    }


def propose(
    session: Session,
    person_id: int,
    coach: User,
    local_start: dt.datetime,
    place: str,
    moment: dt.datetime | None = None,
) -> Proposal:
    """Propose an appointment at `local_start` (a time without zone, in the person's time zone)
    at `place`; the message that asks them."""
    person = _person(session, person_id)
    if person.telegram_chat_id is None:
        raise PlanError("This person cannot be written to on Telegram (no chat is known).")
    if person.blocked_at is not None:
        raise PlanError("This person blocked the bot: they would not get the proposal.")
    place = " ".join(place.split())
    if not place:
        raise PlanError("Say where: a place, a phone number or a video link.")
    if len(place) > MAX_PLACE:
        raise PlanError("Where has at most %(max)d characters.", max=MAX_PLACE)
    zone = policy().timezone(person.country)
    starts = local_start.replace(tzinfo=zone).astimezone(dt.UTC)
    if starts <= (moment or now()):
        raise PlanError("That time is in the past.")
    appointment = Appointment(
        person_id=person.id,
        coach_id=coach.id,
        starts_at=starts,
        place=place,
        status="proposed",
        created_at=moment or now(),
    )
    session.add(appointment)
    session.flush()
    language = _language(person)
    words = mark_rtl(
        text(
            "appointment.proposal",
            language,
            coach=coach.display_name,
            when=when_words(person, starts, language),
            where=place,
        )
    )
    buttons = [
        button(
            text(f"appointment.{label}", language),
            payload(APPOINTMENT, a=str(appointment.id), r=answer),
        )
        for answer, label in ANSWER_BUTTONS.items()
    ]
    message = {"text": words, "reply_markup": _inline(buttons)}
    return Proposal(
        appointment.id, person.sender_id, person.telegram_chat_id, message, words, buttons
    )


@dataclass(frozen=True)
class Notice:
    """A message for the person's chat, and its sender id for the transcript."""

    sender_id: str
    chat_id: int
    text: str


def record(session: Session, person_id: int, appointment_id: int, status: str) -> Notice | None:
    """The coach records an appointment as attended or missed, or cancels it. For a
    cancellation of a time the person knew: their chat and the notice to send them."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.person_id != person_id:
        raise PlanError("There is no such appointment.")
    allowed = RECORDS.get(status)
    if allowed is None:
        raise PlanError("Choose attended, missed or cancel.")
    if appointment.status not in allowed:
        if appointment.status == "declined":
            raise PlanError("This appointment is declined.")
        if appointment.status == "attended":
            raise PlanError("This appointment is attended.")
        if appointment.status == "missed":
            raise PlanError("This appointment is missed.")
        if appointment.status == "cancelled":
            raise PlanError("This appointment is cancelled.")
        raise PlanError(
            "This appointment is %(status)s.", status=appointment.status.replace("_", " ")
        )
    if status in ("attended", "missed") and aware(appointment.starts_at) > now():
        raise PlanError("This appointment has not happened yet.")
    told = appointment.status in ("proposed", "confirmed", "other_time")
    appointment.status, appointment.recorded_at = status, now()
    if status != "cancelled":
        return None
    for kind in (APPOINTMENT_DAY, APPOINTMENT_SOON):
        bulk.cancel(session, kind, appointment.id)
    person = _person(session, person_id)
    if not told or person.telegram_chat_id is None:
        return None
    language = _language(person)
    notice = text(
        "appointment.cancelled",
        language,
        coach=_coach_name(appointment.coach),
        when=when_words(person, appointment.starts_at, language),
    )
    return Notice(person.sender_id, person.telegram_chat_id, mark_rtl(notice))


@dataclass(frozen=True)
class StepView:
    """A step as the coach's page shows it."""

    id: int
    text: str
    due_on: dt.date
    opportunity: str | None
    done_at: dt.datetime | None
    done_by: str | None
    author: str | None
    overdue: bool


@dataclass(frozen=True)
class AppointmentView:
    """An appointment as the coach's page shows it."""

    id: int
    starts_at: dt.datetime
    local: str  # in the person's time zone, in words
    place: str
    status: str
    coach: str | None
    past: bool


@dataclass(frozen=True)
class PlanView:
    """A person's plan and appointments, and the progress."""

    steps: list[StepView]
    appointments: list[AppointmentView]

    @property
    def done(self) -> int:
        """Steps done."""
        return sum(1 for step in self.steps if step.done_at is not None)


def plan_of(session: Session, person_id: int, language: str = "en") -> PlanView:
    """A person's plan and appointments (times in words of `language`)."""
    person = _person(session, person_id)
    moment = now()
    today = _local(person, moment).date()
    steps = [
        StepView(
            step.id,
            step.text,
            step.due_on,
            step.opportunity.title if step.opportunity else None,
            step.done_at,
            step.done_by,
            step.author.display_name if step.author else None,
            step.done_at is None and step.due_on < today,
        )
        for step in person.plan_steps
    ]
    appointments = [
        AppointmentView(
            item.id,
            aware(item.starts_at),
            when_words(person, item.starts_at, language),
            item.place,
            item.status,
            item.coach.display_name if item.coach else None,
            aware(item.starts_at) <= moment,
        )
        for item in person.appointments
    ]
    return PlanView(steps, appointments)


# --- the young person's side -----------------------------------------------------------------


def _expired(language: str) -> Reply:
    return Reply(mark_rtl(text("plan.expired", language)), [])


def answer(session: Session, sender_id: str, message: str, language: str) -> Reply:
    """`/plan`, a tap on a step's "Done" or an answer to an appointment; what to reply."""
    parsed = parse(message)
    person = get_person(session, sender_id)
    if parsed is None or person is None:
        if parsed is not None and parsed[0] == PLAN:
            return Reply(mark_rtl(text("plan.empty", language)), [])
        return _expired(language)
    name, fields = parsed
    if name == STEP:
        return _tick(session, person, fields, language)
    if name == APPOINTMENT:
        return _reply_to_proposal(session, person, fields, language)
    return show(session, person, language)


def _number(value: str | None) -> int:
    return int(value) if value is not None and value.isdigit() else 0


def _done_button(step: PlanStep, language: str) -> dict[str, str]:
    return button(text("plan.done_button", language, text=step.text), payload(STEP, s=str(step.id)))


def show(session: Session, person: Person, language: str) -> Reply:
    """The plan as the person sees it: steps (open ones with a "Done" button), progress, and
    the appointments still ahead."""
    moment = now()
    upcoming = [
        item
        for item in person.appointments
        if aware(item.starts_at) > moment and item.status in ("proposed", "confirmed", "other_time")
    ]
    steps = person.plan_steps
    if not steps and not upcoming:
        return Reply(mark_rtl(text("plan.empty", language)), [])
    lines: list[str] = []
    buttons: list[dict[str, str]] = []
    if steps:
        lines.append(text("plan.title", language))
        for step in steps:
            if step.done_at is not None:
                lines.append(text("plan.step_done", language, text=step.text))
                continue
            due = day_words(step.due_on, language)
            lines.append(text("plan.step_open", language, text=step.text, due=due))
            if len(buttons) < MAX_BUTTONS:
                buttons.append(_done_button(step, language))
        done = sum(1 for step in steps if step.done_at is not None)
        lines.append(text("plan.progress", language, done=done, total=len(steps)))
    if upcoming:
        lines.append("")
        lines.append(text("plan.appointments", language))
        for item in upcoming:
            lines.append(
                text(
                    "appointment.line",
                    language,
                    when=when_words(person, item.starts_at, language),
                    where=item.place,
                    status=text(f"appointment.status.{item.status}", language),
                )
            )
            if item.status == "proposed" and len(buttons) < MAX_BUTTONS:
                buttons.extend(
                    button(
                        text(f"appointment.{label}", language),
                        payload(APPOINTMENT, a=str(item.id), r=answer),
                    )
                    for answer, label in ANSWER_BUTTONS.items()
                )
    return Reply(mark_rtl("\n".join(lines)), buttons)


def _tick(session: Session, person: Person, fields: dict[str, str], language: str) -> Reply:
    step = session.get(PlanStep, _number(fields.get("s")))
    if step is None or step.person_id != person.id:
        return _expired(language)
    if step.done_at is not None:
        return Reply(mark_rtl(text("plan.already_done", language, text=step.text)), [])
    step.done_at, step.done_by = now(), "self"
    for kind in (STEP_WEEK, STEP_DAY):
        bulk.cancel(session, kind, step.id)
    return Reply(mark_rtl(text("plan.ticked", language, text=step.text)), [])


def _reply_to_proposal(
    session: Session, person: Person, fields: dict[str, str], language: str
) -> Reply:
    item = session.get(Appointment, _number(fields.get("a")))
    chosen = ANSWERS.get(fields.get("r") or "")
    if item is None or item.person_id != person.id or chosen is None:
        return _expired(language)
    if item.status != "proposed" or aware(item.starts_at) <= now():
        # Answered already (the first answer stays), recorded or cancelled: say where it is.
        if item.status == chosen:
            return Reply(mark_rtl(_answered(person, item, language)), [])
        return _expired(language)
    item.status, item.answered_at = chosen, now()
    if item.coach is not None:
        # The coach who proposed it hears at once, on their own Telegram if they linked it.
        answer = {"confirmed": "confirmed", "other_time": "asked for another time",
                  "declined": "declined"}[chosen]  # fmt: skip
        when = _local(person, item.starts_at).strftime("%Y-%m-%d %H:%M")
        routing.tell(
            session,
            item.coach,
            f"📅 The appointment you proposed for {when} ({person.country or '?'} time) was "
            f"{answer}.\n" + routing.dashboard_url(f"/people/{person.id}#appointments"),
        )
    return Reply(mark_rtl(_answered(person, item, language)), [])


def _answered(person: Person, item: Appointment, language: str) -> str:
    return text(
        f"appointment.{item.status}",  # confirmed, other_time or declined
        language,
        when=when_words(person, item.starts_at, language),
        where=item.place,
        coach=_coach_name(item.coach),
    )


# --- reminders -------------------------------------------------------------------------------


def queue_reminders(session: Session, moment: dt.datetime | None = None) -> int:
    """Queue the reminders due at `moment`: a step's 7 days and 1 day before its due date (in
    the person's time zone; the week's only for a step written more than a week ahead), a
    confirmed appointment's the day before and two hours before. Each at most once. How many
    were queued."""
    moment = moment or now()
    queued = 0
    horizon = (moment + dt.timedelta(days=8)).date()
    steps = session.scalars(
        select(PlanStep)
        .join(Person, PlanStep.person_id == Person.id)
        .where(
            PlanStep.done_at.is_(None),
            PlanStep.due_on <= horizon,
            PlanStep.day_reminder_at.is_(None),
            Person.telegram_chat_id.is_not(None),
            Person.blocked_at.is_(None),
        )
    ).all()
    for step in steps:
        person = session.get(Person, step.person_id)
        assert person is not None
        today = _local(person, moment).date()
        left = (step.due_on - today).days
        if left < 0:
            step.day_reminder_at = moment  # past its date: no reminder any more
            continue
        language = _language(person)
        due = day_words(step.due_on, language)
        if left <= 1:
            step.day_reminder_at = step.week_reminder_at = step.week_reminder_at or moment
            words = text("plan.reminder_day", language, text=step.text, due=due)
            queued += bulk.queue(
                session, STEP_DAY, step.id, person, mark_rtl(words), [_done_button(step, language)]
            )
        elif left <= 7 and step.week_reminder_at is None:
            step.week_reminder_at = moment
            written = _local(person, step.created_at).date()
            if (step.due_on - written).days > 7:
                words = text("plan.reminder_week", language, text=step.text, due=due)
                queued += bulk.queue(
                    session,
                    STEP_WEEK,
                    step.id,
                    person,
                    mark_rtl(words),
                    [_done_button(step, language)],
                )
    appointments = session.scalars(
        select(Appointment)
        .join(Person, Appointment.person_id == Person.id)
        .where(
            Appointment.status == "confirmed",
            Appointment.soon_reminder_at.is_(None),
            Appointment.starts_at <= moment + DAY,
            Person.telegram_chat_id.is_not(None),
            Person.blocked_at.is_(None),
        )
    ).all()
    for item in appointments:
        starts = aware(item.starts_at)
        if starts <= moment:
            item.soon_reminder_at = moment  # it has begun: no reminder any more
            continue
        person = session.get(Person, item.person_id)
        assert person is not None
        language = _language(person)
        fields = {
            "coach": _coach_name(item.coach),
            "when": when_words(person, starts, language),
            "time": time_words(_local(person, starts), language),
            "where": item.place,
        }
        if starts - moment <= SOON:
            item.soon_reminder_at = moment
            item.day_reminder_at = item.day_reminder_at or moment
            words = text("appointment.reminder_soon", language, **fields)
            queued += bulk.queue(session, APPOINTMENT_SOON, item.id, person, mark_rtl(words), [])
        elif item.day_reminder_at is None:
            item.day_reminder_at = moment
            if aware(item.answered_at or item.created_at) <= starts - DAY:
                # Confirmed less than a day ahead: the confirmation said it all.
                words = text("appointment.reminder_day", language, **fields)
                queued += bulk.queue(session, APPOINTMENT_DAY, item.id, person, mark_rtl(words), [])
    return queued


# --- figures ---------------------------------------------------------------------------------


def appointment_counts(session: Session, start: dt.datetime, end: dt.datetime) -> Counter[str]:
    """Appointments that were to take place in [start, end), by status."""
    return Counter(
        {
            str(status): int(count)
            for status, count in session.execute(
                select(Appointment.status, func.count())
                .where(Appointment.starts_at >= start, Appointment.starts_at < end)
                .group_by(Appointment.status)
            )
        }
    )
