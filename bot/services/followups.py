"""Follow-ups: check-ins with people who agreed to be contacted later ("What are you doing
now?", then "Did this assistant help you?"), their answers as self-reported outcomes, and the
one question after a coach hands a conversation back ("How was talking to Ana?").

Check-ins are queued here (`queue_due`, run by the connector's loop) and sent with the bulk
queue (`bot.services.bulk`). The answers come back as button payloads (`/checkin{...}`,
`/rate{...}`) or typed words naming a button; `answer` records them and says what to reply.
Nobody who withdrew (`/stop` erases the record), said no, blocked the bot or was erased is
queued.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.config import CONFIG_DIR, read
from bot.db.models import CheckIn, Outcome, Person, Rating, User
from bot.languages import mark_rtl
from bot.messages import text
from bot.payloads import button, parse, payload
from bot.services import bulk
from bot.services.people import get_person, now

CHECKIN, RATE = "checkin", "rate"  # the payloads' names (not Rasa intents: the channel's)
SCORES = (1, 2, 3, 4, 5)
FACES = {1: "😞", 2: "🙁", 3: "😐", 4: "🙂", 5: "😀"}


def followup_days() -> list[int]:
    """Days after registering at which a check-in is due (config/privacy.yml)."""
    days = read(CONFIG_DIR / "privacy.yml").get("followup_days") or []
    return sorted({int(day) for day in days if int(day) > 0})


def answers() -> dict[str, str | None]:
    """Each answer to "What are you doing now?" and the outcome kind it records (or None)."""
    raw: dict[str, Any] = read(CONFIG_DIR / "privacy.yml").get("checkin_answers") or {}
    return {str(key): (str(value) if value else None) for key, value in raw.items()}


def is_reach_payload(message: str) -> bool:
    """Whether a payload answers a check-in or a rating (the channel handles it, not Rasa)."""
    return message.startswith((f"/{CHECKIN}{{", f"/{RATE}{{"))


def _scale(name: str, **fields: Any) -> list[dict[str, str]]:
    return [
        button(f"{score} {FACES[score]}", payload(name, **fields, score=str(score)))
        for score in SCORES
    ]


def _question(checkin_id: int, language: str) -> tuple[str, list[dict[str, str]]]:
    buttons = [
        button(text(f"checkin_answer.{key}", language), payload(CHECKIN, c=str(checkin_id), s=key))
        for key in answers()
    ]
    return mark_rtl(text("checkin_question", language)), buttons


def queue_due(session: Session, moment: dt.datetime | None = None) -> int:
    """Queue the check-ins due at `moment`: for each person who agreed and can be reached, the
    latest round due and not queued yet (a round missed while the bot was down is not sent
    late once a later one is due). How many were queued."""
    moment = moment or now()
    days = followup_days()
    if not days:
        return 0
    latest: dict[int, int] = {
        person_id: int(round_)
        for person_id, round_ in session.execute(
            select(CheckIn.person_id, func.max(CheckIn.round)).group_by(CheckIn.person_id)
        )
    }
    # Plain columns first (cheap for many people); a row is loaded only for a round to queue.
    candidates = session.execute(
        select(Person.id, Person.registered_at).where(
            Person.registered_at.is_not(None),
            Person.registered_at <= moment - dt.timedelta(days=days[0]),
            Person.followup_consent.is_(True),
            Person.blocked_at.is_(None),
            Person.telegram_chat_id.is_not(None),
        )
    ).all()
    queued = 0
    for person_id, registered in candidates:
        if registered is None:  # (excluded by the query)
            continue
        if registered.tzinfo is None:
            registered = registered.replace(tzinfo=dt.UTC)
        elapsed = moment - registered
        due = [index + 1 for index, day in enumerate(days) if elapsed >= dt.timedelta(days=day)]
        if not due or latest.get(person_id, 0) >= due[-1]:
            continue
        person = session.get(Person, person_id)
        assert person is not None
        checkin = CheckIn(person_id=person_id, round=due[-1], queued_at=moment)
        session.add(checkin)
        session.flush()
        message, buttons = _question(checkin.id, person.language or "en")
        queued += bulk.queue(session, "checkin", checkin.id, person, message, buttons)
    return queued


@dataclass(frozen=True)
class Reply:
    """What the channel sends back: a text and its buttons (Rasa's shape)."""

    text: str
    buttons: list[dict[str, str]]

    def as_rasa(self) -> dict[str, Any]:
        """As one of Rasa's replies, for the channel's renderer."""
        return {"text": self.text, "buttons": self.buttons} if self.buttons else {"text": self.text}


def answer(session: Session, sender_id: str, message: str, language: str) -> Reply:
    """Record a tap (or typed answer) on a check-in or a rating; what to reply."""
    parsed = parse(message)
    if parsed is None:
        return Reply(mark_rtl(text("checkin_expired", language)), [])
    name, fields = parsed
    if name == RATE:
        return _rate(session, sender_id, fields, language)
    return _checkin(session, sender_id, fields, language)


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _checkin(session: Session, sender_id: str, fields: dict[str, str], language: str) -> Reply:
    person = get_person(session, sender_id)
    checkin = session.get(CheckIn, _number(fields.get("c")) or 0)
    if person is None or checkin is None or checkin.person_id != person.id:
        return Reply(mark_rtl(text("checkin_expired", language)), [])
    score = _number(fields.get("score"))
    moment = now()
    if score is not None:
        if score in SCORES and checkin.helpful is None:
            checkin.helpful = score
        return Reply(mark_rtl(text("checkin_thanks", language)), [])
    status = fields.get("s")
    kinds = answers()
    if status not in kinds:
        return Reply(mark_rtl(text("checkin_expired", language)), [])
    if checkin.status is not None:
        status = checkin.status  # the first answer stays; the reply says what was noted
    else:
        checkin.status, checkin.answered_at = status, moment
        kind = kinds[status]
        if kind is not None:
            session.add(
                Outcome(
                    person_id=person.id,
                    kind=kind,
                    date=moment.date(),
                    detail=f"check-in {checkin.round}",
                    source="self",
                    created_at=moment,
                )
            )
    if checkin.helpful is not None:
        return Reply(mark_rtl(text("checkin_thanks", language)), [])
    return Reply(
        mark_rtl(
            text(f"checkin_noted.{status}", language) + "\n\n" + text("checkin_helpful", language)
        ),
        _scale(CHECKIN, c=str(checkin.id)),
    )


def ask_rating(
    session: Session, sender_id: str, coach_id: int | None, language: str
) -> dict[str, Any]:
    """After a hand-back: the question "How was talking to <coach>?" with 1-5 buttons, as
    sendMessage parameters for the outbox (the buttons' payloads fit Telegram's 64 bytes)."""
    coach = session.get(User, coach_id) if coach_id is not None else None
    coach_name = coach.display_name if coach is not None else "…"  # (an account removed)
    rating = Rating(sender_id=sender_id, coach_id=coach_id, asked_at=now())
    session.add(rating)
    session.flush()
    buttons = _scale(RATE, r=str(rating.id))
    return {
        "text": mark_rtl(text("rating_question", language, name=coach_name)),
        "reply_markup": {
            "inline_keyboard": [
                [{"text": item["title"], "callback_data": item["payload"]} for item in buttons]
            ]
        },
    }


def _rate(session: Session, sender_id: str, fields: dict[str, str], language: str) -> Reply:
    rating = session.get(Rating, _number(fields.get("r")) or 0)
    score = _number(fields.get("score"))
    if rating is None or score not in SCORES:
        return Reply(mark_rtl(text("checkin_expired", language)), [])
    if rating.sender_id == sender_id and rating.score is None:
        # Once answered, the score is nobody's: the pseudonym goes.
        rating.score, rating.answered_at, rating.sender_id = score, now(), None
    elif rating.sender_id != sender_id and rating.score is None:
        return Reply(mark_rtl(text("checkin_expired", language)), [])
    return Reply(mark_rtl(text("rating_thanks", language)), [])


@dataclass(frozen=True)
class Satisfaction:
    """Ratings after talking to a coach: how many, their average (None without any)."""

    label: str
    count: int
    average: float | None


def satisfaction(
    session: Session, start: dt.datetime, end: dt.datetime, coach_id: int | None = None
) -> tuple[Satisfaction, list[Satisfaction]]:
    """Overall and per coach, for ratings answered in [start, end) (one coach's only, if
    given)."""
    query = (
        select(User.display_name, func.count(Rating.id), func.avg(Rating.score))
        .join(User, Rating.coach_id == User.id, isouter=True)
        .where(Rating.score.is_not(None), Rating.answered_at >= start, Rating.answered_at < end)
        .group_by(User.display_name)
    )
    if coach_id is not None:
        query = query.where(Rating.coach_id == coach_id)
    per_coach = [
        # An account removed since: no name (the page says so in its reader's language)
        Satisfaction(str(name or ""), int(count), float(average))
        for name, count, average in session.execute(query)
    ]
    total = sum(item.count for item in per_coach)
    overall = Satisfaction(
        "overall",
        total,
        sum(item.count * (item.average or 0) for item in per_coach) / total if total else None,
    )
    return overall, sorted(per_coach, key=lambda item: item.label.lower())


@dataclass(frozen=True)
class CheckInView:
    """A check-in as a person's page shows it."""

    round: int
    queued_at: dt.datetime
    sent_at: dt.datetime | None
    status: str | None
    helpful: int | None


def checkins_of(session: Session, person_id: int) -> list[CheckInView]:
    """A person's check-ins, latest first."""
    return [
        CheckInView(row.round, row.queued_at, row.sent_at, row.status, row.helpful)
        for row in session.scalars(
            select(CheckIn).where(CheckIn.person_id == person_id).order_by(CheckIn.round.desc())
        )
    ]


@dataclass(frozen=True)
class ResponseRate:
    """Check-ins sent in a period and how many were answered."""

    sent: int
    answered: int
    helpful_average: float | None

    @property
    def rate(self) -> float:
        """The share answered (0 when none was sent)."""
        return self.answered / self.sent if self.sent else 0.0


def response_rate(session: Session, start: dt.datetime, end: dt.datetime) -> ResponseRate:
    """Of the check-ins sent in [start, end): how many were answered, and how helpful people
    found the assistant (1-5)."""
    sent, answered, helpful = session.execute(
        select(
            func.count(CheckIn.id),
            func.count(CheckIn.answered_at),
            func.avg(CheckIn.helpful),
        ).where(CheckIn.sent_at >= start, CheckIn.sent_at < end)
    ).one()
    return ResponseRate(int(sent or 0), int(answered or 0), float(helpful) if helpful else None)
