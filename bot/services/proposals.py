"""Coaches' proposals of what a message meant (annotations): proposed from a transcript,
accepted by an admin into the training data (the studio writes the example) or rejected."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Annotation
from bot.services.people import now

MAX_TEXT = 300
DECISIONS = ("accept", "reject")


def propose(
    session: Session,
    sender_id: str,
    event_id: int,
    text: str,
    language: str,
    predicted: str | None,
    intent: str,
    by: str,
) -> None:
    """A coach says message `event_id` of a conversation meant `intent`."""
    session.add(
        Annotation(
            sender_id=sender_id, event_id=event_id, text=text[:MAX_TEXT], language=language,
            predicted=predicted, intent=intent, status="proposed", proposed_by=by,
            proposed_at=now(),
        )
    )  # fmt: skip


def of_conversation(session: Session, sender_id: str) -> list[Annotation]:
    """The proposals about one conversation's messages."""
    return list(session.scalars(select(Annotation).where(Annotation.sender_id == sender_id)))


def proposed(session: Session) -> list[Annotation]:
    """Proposals waiting for an admin, oldest first."""
    query = select(Annotation).where(Annotation.status == "proposed").order_by(Annotation.id)
    return list(session.scalars(query))


def decided(session: Session, limit: int = 50) -> list[Annotation]:
    """The latest decisions, newest first."""
    return list(
        session.scalars(
            select(Annotation)
            .where(Annotation.status != "proposed")
            .order_by(Annotation.decided_at.desc())
            .limit(limit)
        )
    )


def waiting(session: Session, annotation_id: int) -> Annotation | None:
    """A proposal still waiting for a decision, or None."""
    annotation = session.get(Annotation, annotation_id)
    return annotation if annotation is not None and annotation.status == "proposed" else None


def decide(session: Session, annotation: Annotation, decision: str, by: str) -> None:
    """Record an admin's decision ("accept" or "reject")."""
    if decision not in DECISIONS:
        raise ValueError(decision)
    annotation.status = "accepted" if decision == "accept" else "rejected"
    annotation.decided_by, annotation.decided_at = by, now()
