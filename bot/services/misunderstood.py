"""The misunderstood, every day: messages the NLU was unsure of, waiting for an admin.

`note_message` (called by the conversation sync for every message a person wrote) keeps a
message that fell back, or scored below `LOW_CONFIDENCE`, in a queue per language. The studio
(`connectors.rasa.studio.learning`) shows the queue, alike messages together, and labels a
message with an intent (a training example, recorded with the pseudonym it came from:
`LearnedExample`) or sets it aside as nonsense.

Erasing a person (`forget_person`) drops their queued messages and marks their learned
examples for erasure; the studio removes them from the training data, `redact_audit` takes
their words out of the audit log, and `retrain_due` says a retraining is due until the next
model is trained.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.db.models import AuditEntry, LearnedExample, Misunderstood, ModelVersion
from bot.refusal import Refusal
from bot.services.events import Event
from bot.services.people import now

LOW_CONFIDENCE = 0.6  # below this, a message waits in the queue even if it did not fall back
FALLBACK = "nlu_fallback"
MAX_TEXT = 300
ERASED = "[erased]"


class AlreadyDecided(Refusal):
    """The message was labelled or set aside already."""


def note_message(session: Session, event: Event) -> bool:
    """Queue one message a person wrote (a "user" event) if the NLU was unsure of it."""
    text = event.text.strip()
    name, confidence = event.intent or "", event.confidence or 0.0
    if not text or text.startswith("/") or not name:
        return False
    if name != FALLBACK and confidence >= LOW_CONFIDENCE:
        return False
    if session.scalar(select(Misunderstood.id).where(Misunderstood.event_id == event.id)):
        return False
    ranking = [
        {"name": guess, "confidence": round(score, 3)}
        for guess, score in event.ranking
        if guess != FALLBACK
    ][:3]
    session.add(
        Misunderstood(
            sender_id=event.sender_id,
            event_id=event.id,
            text=text[:MAX_TEXT],
            language=(event.language or "")[:8],
            intent=ranking[0]["name"] if name == FALLBACK and ranking else name,
            confidence=ranking[0]["confidence"] if name == FALLBACK and ranking else confidence,
            guesses=json.dumps(ranking),
            at=event.time,
        )
    )
    return True


@dataclass(frozen=True)
class Waiting:
    """One queued message, as the studio shows it."""

    id: int
    text: str
    language: str
    guesses: list[dict[str, Any]]
    at: dt.datetime


def waiting_counts(session: Session) -> dict[str, int]:
    """Language → how many messages wait."""
    rows = session.execute(
        select(Misunderstood.language, func.count())
        .where(Misunderstood.status == "waiting")
        .group_by(Misunderstood.language)
    )
    return {str(language): int(count) for language, count in rows}


def set_aside(session: Session, message_id: int, by: str) -> None:
    """Mark a waiting message as nonsense: it leaves the queue and is not trained on."""
    row = session.get(Misunderstood, message_id)
    if row is None or row.status != "waiting":
        raise AlreadyDecided("That message was already dealt with.")
    row.status, row.decided_by, row.decided_at = "nonsense", by, now()


def learned(
    session: Session,
    sender_id: str | None,
    text: str,
    language: str,
    intent: str,
    source: str,
    by: str,
) -> None:
    """Record that a training example came from a person's own words."""
    session.add(
        LearnedExample(
            sender_id=sender_id,
            text=text[:MAX_TEXT],
            language=language,
            intent=intent,
            source=source,
            added_by=by,
            added_at=now(),
        )  # fmt: skip
    )


# --- erasure --------------------------------------------------------------------------------------


def forget_person(session: Session, sender_id: str) -> int:
    """A person is erased: their queued messages go at once, and the examples taken from their
    words wait for `apply_erasures`. Returns how many examples are to be erased."""
    session.execute(delete(Misunderstood).where(Misunderstood.sender_id == sender_id))
    theirs = list(
        session.scalars(
            select(LearnedExample).where(
                LearnedExample.sender_id == sender_id, LearnedExample.status == "live"
            )
        )
    )
    for item in theirs:
        item.status, item.sender_id = "erase_pending", None
    return len(theirs)


def redact_audit(session: Session, text: str) -> None:
    """Replace a text in the audit log: an annotation's target ("text → intent") and the text
    as one element of the example lists kept before and after a change (JSON)."""
    element = json.dumps(text, ensure_ascii=False)  # with its quotes: the whole element only
    target = f"{text} → "

    def containing(value: str) -> str:
        return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    for entry in session.scalars(
        select(AuditEntry).where(
            AuditEntry.target.like(containing(target), escape="\\")
            | AuditEntry.before.like(containing(element), escape="\\")
            | AuditEntry.after.like(containing(element), escape="\\")
        )
    ):
        if entry.target.startswith(target):
            entry.target = ERASED + entry.target[len(text) :]
        redacted = json.dumps(ERASED)
        entry.before = entry.before and entry.before.replace(element, redacted)
        entry.after = entry.after and entry.after.replace(element, redacted)


def retrain_due(session: Session) -> int:
    """How many examples were erased since the newest model was trained (0: none due)."""
    trained = session.scalar(select(func.max(ModelVersion.trained_at)))
    query = select(func.count()).where(LearnedExample.status == "erased")
    if trained is not None:
        query = query.where(LearnedExample.erased_at > trained)
    return int(session.scalar(query) or 0)


def last_trained(session: Session) -> dt.datetime | None:
    """When the newest model was trained in the studio."""
    return session.scalar(select(func.max(ModelVersion.trained_at)))
