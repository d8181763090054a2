"""Coaches and the registered young people: who follows whom, notes, and outcomes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.db.models import OUTCOME_KINDS, Opportunity, Outcome, Person, PersonNote, User
from bot.refusal import Number, Refusal, Words
from bot.services.paging import Page, clamp
from bot.services.people import now

MAX_NOTE = 5000


class CaseloadError(Refusal):
    """A change that cannot be made, with a reason for the coach."""


def registered_people(
    session: Session,
    query: str = "",
    coach: str = "",
    user: User | None = None,
    page: int = 1,
    per_page: int = 25,
) -> Page[Person]:
    """Registered people, the most recently active first. `coach` is "", "mine" or "none"."""
    statement = select(Person).where(Person.registered_at.is_not(None))
    if query.strip():
        like = query.strip().lower()
        statement = statement.where(
            or_(
                func.lower(Person.name).contains(like, autoescape=True),
                func.lower(Person.place).contains(like, autoescape=True),
            )
        )
    if coach == "mine" and user is not None:
        statement = statement.where(Person.coach_id == user.id)
    elif coach == "none":
        statement = statement.where(Person.coach_id.is_(None))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    page = clamp(page, total, per_page)
    people = list(
        session.scalars(
            statement.order_by(Person.last_active_at.desc(), Person.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return Page(people, total, page, per_page)


def get_registered(session: Session, person_id: int) -> Person:
    """One registered person; CaseloadError if there is none (or they left)."""
    person = session.get(Person, person_id)
    if person is None or person.registered_at is None:
        raise CaseloadError("There is no such registered person (they may have left).")
    return person


def take_on(session: Session, person_id: int, user: User) -> Person:
    """A coach takes a person on (replacing any earlier coach)."""
    person = get_registered(session, person_id)
    person.coach_id = user.id
    return person


def release(session: Session, person_id: int) -> Person:
    """Nobody follows this person any more."""
    person = get_registered(session, person_id)
    person.coach_id = None
    return person


def add_note(session: Session, person_id: int, user: User, text: str) -> PersonNote:
    """A coach's note about a person."""
    person = get_registered(session, person_id)
    clean = text.strip()
    if not clean:
        raise CaseloadError("The note is empty.")
    if len(clean) > MAX_NOTE:
        raise CaseloadError("A note has at most %(max)s characters.", max=Number(MAX_NOTE))
    note = PersonNote(person_id=person.id, author_id=user.id, text=clean, created_at=now())
    session.add(note)
    session.flush()
    return note


# What each outcome may point to in the catalogue, and its words for a coach
OUTCOME_FITS = {"training": "training", "job": "job", "education": "training"}
OUTCOME_WORDS = {
    "training": "started a training",
    "job": "got a job",
    "education": "returned to education",
}


def record_outcome(
    session: Session,
    person_id: int,
    user: User,
    kind: str,
    date: dt.date,
    opportunity_id: int | None = None,
    detail: str = "",
) -> Outcome:
    """Record what became of a person: a training started, a job, back to education."""
    person = get_registered(session, person_id)
    if kind not in OUTCOME_KINDS:
        raise CaseloadError(
            "The outcome must be one of: %(kinds)s.", kinds=", ".join(OUTCOME_KINDS)
        )
    if date > now().date() + dt.timedelta(days=366):
        raise CaseloadError("That date is more than a year ahead.")
    item = session.get(Opportunity, opportunity_id) if opportunity_id is not None else None
    if opportunity_id is not None and item is None:
        raise CaseloadError("There is no such training or job in the catalogue.")
    if item is not None and item.kind != OUTCOME_FITS.get(kind, item.kind):
        if item.kind == "training":  # and the outcome is a job
            raise CaseloadError(
                "“%(title)s” is a training: it does not fit “got a job”. "
                "Choose the outcome it fits, or another opportunity.",
                title=item.title,
            )
        if kind == "education":
            raise CaseloadError(
                "“%(title)s” is a job: it does not fit “returned to education”. "
                "Choose the outcome it fits, or another opportunity.",
                title=item.title,
            )
        raise CaseloadError(
            "“%(title)s” is a job: it does not fit “started a training”. "
            "Choose the outcome it fits, or another opportunity.",
            title=item.title,
        )
    if len(detail) > 300:
        raise CaseloadError("The detail has at most 300 characters.")
    outcome = Outcome(
        person_id=person.id,
        kind=kind,
        date=date,
        opportunity_id=opportunity_id,
        detail=detail.strip(),
        recorded_by=user.id,
        created_at=now(),
    )
    session.add(outcome)
    session.flush()
    return outcome


def opportunity_choices(
    session: Session, country: str | None
) -> dict[Words, list[tuple[int, str]]]:
    """The outcome form's opportunities, "title — provider, place", grouped (a group's name is
    `Words`, shown in the reader's language): trainings and jobs in the person's country
    first, then those elsewhere (someone may move for one)."""
    rows = session.execute(
        select(
            Opportunity.id, Opportunity.kind, Opportunity.title, Opportunity.provider,
            Opportunity.city, Opportunity.country,
        ).order_by(Opportunity.kind, Opportunity.title)
    )  # fmt: skip
    groups: dict[tuple[bool, str], list[tuple[int, str]]] = {}
    for item_id, kind, title, provider, place, where in rows:
        elsewhere = country is None or where != country
        where_shown = f"{place}, {where}" if place else where
        entry = (item_id, f"{title} — {provider} ({where_shown})")
        groups.setdefault((elsewhere, kind), []).append(entry)
    named = {
        (False, "job"): Words("Jobs in %(country)s", country=country or ""),
        (False, "training"): Words("Trainings in %(country)s", country=country or ""),
        (True, "job"): Words("Jobs in other countries"),
        (True, "training"): Words("Trainings in other countries"),
    }
    return {named[key]: groups[key] for key in sorted(groups) if key in named}
