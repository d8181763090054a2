"""A person's data: export it (`/mydata`), erase it (`/delete`), purge the inactive.

Two stores hold data about a person: our database (consent, profile, subscriptions, alert
deliveries) and Rasa's tracker store (the conversation, under the pseudonym). Erasure must
reach both. The tracker rows are erased *after* Rasa has finished the turn: Rasa's SQL tracker
store rewrites a conversation's events on save, so deleting them from inside an action would
be undone a moment later.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from sqlalchemy import (
    delete,
    func,
    select,
)
from sqlalchemy.orm import Session

from bot.db.models import Handoff, Person
from bot.services.conversations import forget
from bot.services.people import get_person, now
from bot.services.tracker_store import EVENTS, has_events, tracker_engine

logger = logging.getLogger(__name__)


def transcript(tracker_url: str, sender_id: str) -> list[dict[str, Any]]:
    """The conversation of `sender_id`: what they wrote and what the assistant answered."""
    engine = tracker_engine(tracker_url)
    if not has_events(engine):
        return []
    lines: list[dict[str, Any]] = []
    with engine.connect() as connection:
        rows = connection.execute(
            select(EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.data)
            .where(EVENTS.c.sender_id == sender_id, EVENTS.c.type_name.in_(("user", "bot")))
            .order_by(EVENTS.c.id)
        )
        for type_name, timestamp, data in rows:
            event = json.loads(data or "{}")
            entry: dict[str, Any] = {
                "time": dt.datetime.fromtimestamp(timestamp or 0, dt.UTC).isoformat(),
                "from": "you" if type_name == "user" else "assistant",
                "text": event.get("text") or "",
            }
            if type_name == "user":
                entry["understood_as"] = ((event.get("parse_data") or {}).get("intent") or {}).get(
                    "name"
                )
            lines.append(entry)
    return lines


def erase_conversation(tracker_url: str, sender_id: str) -> int:
    """Delete every tracker event of `sender_id`. Returns how many rows went."""
    engine = tracker_engine(tracker_url)
    if not has_events(engine):
        return 0
    with engine.begin() as connection:
        result = connection.execute(delete(EVENTS).where(EVENTS.c.sender_id == sender_id))
    return int(result.rowcount or 0)


def _iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite returns stored UTC times without their zone)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


def export_person(session: Session, tracker_url: str, sender_id: str) -> dict[str, Any]:
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
            }
            for outcome in person.outcomes
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
    document["conversation"] = transcript(tracker_url, sender_id)
    return document


def purge_inactive(session: Session, tracker_url: str, days: int) -> dict[str, int]:
    """Erase people, and conversations, with no activity for `days` days."""
    cutoff = now() - dt.timedelta(days=days)
    people = list(session.scalars(select(Person).where(Person.last_active_at < cutoff)))
    senders = {person.sender_id for person in people}
    for person in people:
        session.delete(person)
    session.flush()
    engine = tracker_engine(tracker_url)
    events = 0
    if has_events(engine):
        with engine.begin() as connection:
            stale = connection.execute(
                select(EVENTS.c.sender_id)
                .group_by(EVENTS.c.sender_id)
                .having(func.max(EVENTS.c.timestamp) < cutoff.timestamp())
            ).scalars()
            senders |= set(stale)
            # A person who is still active in the database keeps their conversation.
            active = set(
                session.scalars(select(Person.sender_id).where(Person.sender_id.in_(senders)))
            )
            for sender in senders - active:
                result = connection.execute(delete(EVENTS).where(EVENTS.c.sender_id == sender))
                events += int(result.rowcount or 0)
        for sender in senders - active:
            forget(session, tracker_url, sender)
    logger.info(
        "Purged %d people and %d conversation events inactive for %d days",
        len(people),
        events,
        days,
    )
    return {"people": len(people), "events": events}
