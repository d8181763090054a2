"""Handing a conversation to a human coach and back.

The states: waiting (asked, nobody took it yet) → active (a coach took it) → closed (handed
back, or the person went back to the bot); waiting → timed_out when nobody took it in time.
While a handoff is open (waiting or active) the bot does not answer that person. The Telegram
chat id is stored only while the handoff is open, so that a coach can write to the person.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bot.db.models import HANDOFF_OPEN, Handoff, User
from bot.refusal import Number, Refusal
from bot.services.people import now
from bot.services.routing import route

MAX_NOTE = 1000  # characters of a transfer's note


class HandoffError(Refusal):
    """A step of a handoff that cannot be taken now, with a reason for the coach."""


@dataclass(frozen=True)
class State:
    """What the connector needs to know about a person's open handoff."""

    id: int
    status: str
    acknowledged: bool
    urgent: bool = False  # a crisis: the bot does not go on with anything else


def open_for(session: Session, sender_id: str) -> Handoff | None:
    """The person's open handoff, if any."""
    return session.scalar(
        select(Handoff)
        .where(Handoff.sender_id == sender_id, Handoff.status.in_(HANDOFF_OPEN))
        .order_by(Handoff.id.desc())
        .limit(1)
    )


def state(session: Session, sender_id: str) -> State | None:
    """A snapshot of the person's open handoff, if any."""
    handoff = open_for(session, sender_id)
    if handoff is None:
        return None
    return State(handoff.id, handoff.status, handoff.acknowledged, handoff.urgent)


def request(
    session: Session,
    sender_id: str,
    language: str,
    reason: str = "request",
    category: str | None = None,
) -> tuple[Handoff, bool]:
    """Ask for a coach; returns the handoff and whether it is new. A crisis makes an open
    request urgent rather than opening a second one."""
    handoff = open_for(session, sender_id)
    created = handoff is None
    if handoff is None:
        handoff = Handoff(
            sender_id=sender_id,
            status="waiting",
            reason=reason,
            urgent=False,
            language=language,
            requested_at=now(),
            acknowledged=False,
        )
        session.add(handoff)
    if reason == "crisis":
        handoff.reason, handoff.urgent, handoff.category = "crisis", True, category
    handoff.language = language
    session.flush()
    if created or reason == "crisis":
        route(session, handoff)  # to a coach who covers the language; urgent: to everyone
    return handoff, created


def attach_chat(session: Session, sender_id: str, chat_id: int) -> bool:
    """Remember where to reach the person while their handoff is open."""
    handoff = open_for(session, sender_id)
    if handoff is None:
        return False
    handoff.telegram_chat_id = chat_id
    return True


def acknowledge(session: Session, handoff_id: int) -> None:
    """Note that the person was told their messages reach the coaches."""
    handoff = session.get(Handoff, handoff_id)
    if handoff is not None:
        handoff.acknowledged = True


def get(session: Session, handoff_id: int) -> Handoff:
    """One handoff; HandoffError if there is none."""
    handoff = session.get(Handoff, handoff_id)
    if handoff is None:
        raise HandoffError("There is no such request for a coach.")
    return handoff


@dataclass(frozen=True)
class Held:
    """A conversation a coach holds: what they need to write to the person."""

    id: int
    sender_id: str
    telegram_chat_id: int | None
    language: str
    status: str
    taken_by: int | None
    taken_at: dt.datetime | None


def _held(handoff: Handoff) -> Held:
    return Held(
        handoff.id, handoff.sender_id, handoff.telegram_chat_id, handoff.language,
        handoff.status, handoff.taken_by, handoff.taken_at,
    )  # fmt: skip


def take(session: Session, handoff_id: int, user: User) -> Held:
    """A coach takes a waiting conversation. Refused if another coach has it, or it is over."""
    handoff = get(session, handoff_id)
    if handoff.status == "active" and handoff.taken_by == user.id:
        return _held(handoff)
    if handoff.status == "active":
        if handoff.coach is None:
            raise HandoffError("Another coach is already talking with this person.")
        raise HandoffError(
            "%(holder)s is already talking with this person.", holder=handoff.coach.username
        )
    if handoff.status != "waiting":
        raise HandoffError("This request is over: the person is back with the assistant.")
    # Compare and set: of two coaches taking at the same moment, exactly one gets it.
    moment = now()
    taken = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff.id, Handoff.status == "waiting")
        .values(status="active", taken_by=user.id, taken_at=moment, assigned_to=user.id)
        .returning(Handoff.id)
    ).first()
    if taken is None:
        session.refresh(handoff)
        return take(session, handoff_id, user)  # someone else moved first: say who
    done = {"status": "active", "taken_by": user.id, "taken_at": moment, "assigned_to": user.id}
    for name, value in {**done, "assignee": user}.items():
        set_committed_value(handoff, name, value)  # as written, without writing it again
    return _held(handoff)


def check_holder(handoff: Handoff, user: User) -> None:
    """HandoffError unless `user` holds this conversation (admins may step in too)."""
    if handoff.status != "active":
        raise HandoffError("Take the conversation first.")
    if handoff.taken_by != user.id and user.role != "admin":
        raise HandoffError("Another coach is talking with this person.")


def held(session: Session, handoff_id: int, user: User) -> Held:
    """The conversation `user` holds (HandoffError if they do not: take it first)."""
    handoff = get(session, handoff_id)
    check_holder(handoff, user)
    return _held(handoff)


def hand_back(session: Session, handoff_id: int, user: User) -> Held:
    """The coach who holds the conversation gives it back to the bot; what it was."""
    handoff = get(session, handoff_id)
    check_holder(handoff, user)
    found = _held(handoff)
    close(session, handoff)
    return found


def close(session: Session, handoff: Handoff, status: str = "closed") -> None:
    """End a handoff (handed back, cancelled or timed out): the bot may answer again."""
    handoff.status, handoff.closed_at, handoff.telegram_chat_id = status, now(), None
    session.flush()


def close_for(session: Session, sender_id: str) -> Handoff | None:
    """The person went back to the bot themselves: close their open handoff, if any."""
    handoff = open_for(session, sender_id)
    if handoff is not None:
        close(session, handoff)
    return handoff


@dataclass(frozen=True)
class Expired:
    """A request nobody took in time: whom to tell, in which language."""

    sender_id: str
    chat_id: int | None
    language: str


def expire_waiting(session: Session, timeout: dt.timedelta) -> list[Expired]:
    """Close the requests that waited longer than `timeout` for a coach."""
    cutoff = now() - timeout
    expired = []
    for handoff in session.scalars(
        select(Handoff).where(Handoff.status == "waiting", Handoff.requested_at < cutoff)
    ):
        expired.append(Expired(handoff.sender_id, handoff.telegram_chat_id, handoff.language))
        close(session, handoff, "timed_out")
    return expired


def transfer(session: Session, handoff_id: int, user: User, to: User, note: str) -> Handoff:
    """The coach who holds a conversation (or has it waiting for them) passes it to another:
    it waits for them, with the note. HandoffError when that cannot be."""
    handoff = get(session, handoff_id)
    if handoff.status == "waiting":
        if handoff.assigned_to not in (None, user.id) and user.role != "admin":
            raise HandoffError("This request is waiting for another coach.")
    else:
        check_holder(handoff, user)
    if to.id == user.id:
        raise HandoffError("Choose another coach.")
    if to.disabled_at is not None:
        raise HandoffError("That account is disabled.")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise HandoffError("A note has at most %(max)s characters.", max=Number(MAX_NOTE))
    handoff.status, handoff.taken_by, handoff.taken_at = "waiting", None, None
    handoff.assignee = to
    handoff.transfer_note = f"{user.display_name}: {note}" if note else ""
    session.flush()
    return handoff
