"""A person's data: export it (`/mydata`), erase it (`/delete`), purge the inactive.

Two stores hold data about a person: our database (consent, profile, subscriptions, alert
deliveries) and Rasa's tracker store (the conversation, under the pseudonym). Erasure must
reach both. The tracker rows are erased *after* Rasa has finished the turn: Rasa's SQL tracker
store rewrites a conversation's events on save, so deleting them from inside an action would
be undone a moment later.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Conversation, Erasure, Handoff, Person
from bot.services import campaigns
from bot.services.conversations import forget
from bot.services.events import EventLog
from bot.services.followups import checkins_of
from bot.services.people import erase_person, get_person, now

logger = logging.getLogger(__name__)


def transcript(log: EventLog, sender_id: str) -> list[dict[str, Any]]:
    """The conversation of `sender_id`: what they wrote and what the assistant answered."""
    lines: list[dict[str, Any]] = []
    for event in log.events(sender_id, kinds=("user", "bot")):
        if not event.readable:
            raise ValueError("an event of the conversation could not be read")
        entry: dict[str, Any] = {
            "time": event.time.isoformat(),
            "from": "you" if event.kind == "user" else "assistant",
            "text": event.text,
        }
        if event.kind == "user":
            entry["understood_as"] = event.intent
        lines.append(entry)
    return lines


def erase_conversation(log: EventLog, sender_id: str) -> int:
    """Delete every logged event of `sender_id`. Returns how many went."""
    return log.erase(sender_id)


# --- erasure: a job kept until it is done ---------------------------------------------------


@dataclass(frozen=True)
class DueErasure:
    """An erasure still to finish, and where to confirm it."""

    id: int
    sender_id: str
    chat_id: int | None
    language: str


def request_erasure(session: Session, sender_id: str, language: str) -> None:
    """Record that a person asked to erase everything (done at once in our database by the
    action; the rest by `finish_erasure`, retried until it succeeds)."""
    pending = session.scalar(
        select(Erasure.id).where(Erasure.sender_id == sender_id, Erasure.done_at.is_(None))
    )
    if pending is None:
        session.add(Erasure(sender_id=sender_id, language=language, requested_at=now()))


def attach_erasure_chat(session: Session, sender_id: str, chat_id: int) -> None:
    """Where to confirm the erasure once it is done."""
    for erasure in session.scalars(
        select(Erasure).where(Erasure.sender_id == sender_id, Erasure.done_at.is_(None))
    ):
        erasure.chat_id = chat_id


def erasures_due(session: Session, sender_id: str | None = None) -> list[DueErasure]:
    """Erasures not finished yet (of one person, or all)."""
    query = select(Erasure).where(Erasure.done_at.is_(None), Erasure.sender_id.is_not(None))
    if sender_id is not None:
        query = query.where(Erasure.sender_id == sender_id)
    return [
        DueErasure(item.id, str(item.sender_id), item.chat_id, item.language)
        for item in session.scalars(query.order_by(Erasure.id))
    ]


def finish_erasure(sessions: sessionmaker[Session], log: EventLog, erasure_id: int) -> int:
    """Erase what the action could not: the conversation in Rasa's tracker store, the console's
    summaries, and again the database rows (a message may have arrived in between). Raises on
    failure (the job stays and is tried again); returns how many tracker events went."""
    with sessions.begin() as session:
        erasure = session.get(Erasure, erasure_id)
        if erasure is None or erasure.done_at is not None or erasure.sender_id is None:
            return 0
        erasure.attempts += 1
        sender_id = erasure.sender_id
    events = erase_conversation(log, sender_id)
    with sessions.begin() as session:
        forget(session, log, sender_id)
        erase_person(session, sender_id)
        erasure = session.get(Erasure, erasure_id)
        assert erasure is not None
        # Nothing of the person stays in the job either.
        erasure.done_at, erasure.sender_id, erasure.chat_id = now(), None, None
    return events


def finish_due(
    sessions: sessionmaker[Session],
    log: EventLog,
    sender_id: str | None = None,
    chat_id: int | None = None,
) -> list[DueErasure]:
    """Finish the erasures due (of one person, whose chat is `chat_id`, or all); the ones now
    done. One that fails stays due (logged without the person) and is tried again later."""
    with sessions.begin() as session:
        if sender_id is not None and chat_id is not None:
            attach_erasure_chat(session, sender_id, chat_id)
        due = erasures_due(session, sender_id)
    done = []
    for erasure in due:
        try:
            events = finish_erasure(sessions, log, erasure.id)
        except Exception as error:
            logger.warning("An erasure failed (%s); it is tried again", type(error).__name__)
            continue
        logger.info("Erased a conversation (%d events)", events)
        done.append(erasure)
    return done


def _iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite returns stored UTC times without their zone)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


def export_person(session: Session, log: EventLog, sender_id: str) -> dict[str, Any]:
    """Everything stored about one person, as a JSON-ready document."""
    person = get_person(session, sender_id)
    document: dict[str, Any] = {
        "exported_at": now().isoformat(),
        "about": (
            "Everything this assistant stores about you. Delete it all with /delete. "
            "Your Telegram name and number are never stored; the conversation is kept "
            "under a pseudonym."
        ),
        "pseudonym": sender_id,
        "consent": None,
        "profile": None,
        "alert_subscriptions": [],
        "alert_deliveries": [],
    }
    if person is not None:
        document["consent"] = {
            "given_at": _iso(person.consent_at),
            "notice_version": person.consent_version,
            "parent_or_guardian_agreed_at": _iso(person.guardian_consent_at),
        }
        document["profile"] = {
            "registered_at": _iso(person.registered_at),
            "name": person.name,
            "age": person.age,
            "place": person.place,
            "country": person.country,
            "education": person.education,
            "situation": person.situation,
            "interests": person.interest_keys,
            "language": person.language,
            "gender": person.gender,
            "may_check_in_later": person.followup_consent,
            "came_by_campaign": campaigns.name_of(session, person.campaign_id),
            "alerts_paused": person.alerts_paused,
            "telegram_chat_stored_for_alerts": person.telegram_chat_id is not None,
            "last_active_at": _iso(person.last_active_at),
        }
        document["alert_subscriptions"] = [
            {
                "id": sub.id,
                "kind": sub.kind,
                "topics": sub.topic_keys,
                "place": sub.place,
                "since": _iso(sub.created_at),
            }
            for sub in person.subscriptions
        ]
        document["alert_deliveries"] = [
            {
                "opportunity": delivery.opportunity.title,
                "status": delivery.status,
                "queued_at": _iso(delivery.queued_at),
                "sent_at": _iso(delivery.sent_at),
            }
            for delivery in person.deliveries
        ]
        document["coach_notes"] = [
            {"written_at": _iso(note.created_at), "text": note.text} for note in person.notes
        ]
        document["outcomes"] = [
            {
                "kind": outcome.kind,
                "date": outcome.date.isoformat(),
                "opportunity": outcome.opportunity.title if outcome.opportunity else None,
                "detail": outcome.detail,
                "source": "you, in a check-in" if outcome.source == "self" else "your coach",
            }
            for outcome in person.outcomes
        ]
        document["check_ins"] = [
            {
                "round": item.round,
                "sent_at": _iso(item.sent_at),
                "answer": item.status,
                "helpful_1_to_5": item.helpful,
            }
            for item in checkins_of(session, person.id)
        ]
        document["plan"] = [
            {
                "step": step.text,
                "due": step.due_on.isoformat(),
                "opportunity": step.opportunity.title if step.opportunity else None,
                "done_at": _iso(step.done_at),
            }
            for step in person.plan_steps
        ]
        document["appointments"] = [
            {
                "at": _iso(item.starts_at),
                "where": item.place,
                "status": item.status,
                "coach": item.coach.display_name if item.coach else "…",
            }
            for item in person.appointments
        ]
    document["requests_for_a_coach"] = [
        {
            "asked_at": _iso(item.requested_at),
            "reason": item.reason,
            "status": item.status,
            "closed_at": _iso(item.closed_at),
        }
        for item in session.scalars(
            select(Handoff).where(Handoff.sender_id == sender_id).order_by(Handoff.id)
        )
    ]
    # One rule for everything coaches write about a person: it is theirs to see. The note and
    # tags of their conversation are in, like the notes on their profile (the dashboard says
    # so where coaches write them).
    summary = session.get(Conversation, sender_id)
    document["conversation_note"] = summary.note if summary is not None and summary.note else None
    document["conversation_tags"] = sorted(tag.tag for tag in summary.tags) if summary else []
    document["conversation"] = transcript(log, sender_id)
    return document


def purge_inactive(session: Session, log: EventLog, days: int) -> dict[str, int]:
    """Erase people, and conversations, with no activity for `days` days."""
    cutoff = now() - dt.timedelta(days=days)
    people = list(session.scalars(select(Person).where(Person.last_active_at < cutoff)))
    senders = {person.sender_id for person in people}
    for person in people:
        session.delete(person)
    session.flush()
    events = 0
    senders |= log.idle_since(cutoff)
    # A person who is still active in the database keeps their conversation.
    active = set(session.scalars(select(Person.sender_id).where(Person.sender_id.in_(senders))))
    for sender in senders - active:
        events += log.erase(sender)
        forget(session, log, sender)
    logger.info(
        "Purged %d people and %d conversation events inactive for %d days",
        len(people),
        events,
        days,
    )
    return {"people": len(people), "events": events}
