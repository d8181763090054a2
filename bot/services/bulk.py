"""The paced queue of check-ins and broadcasts (`bulk_messages`): one row per message and
person, never queued twice, sent by the connector at Telegram's pace and outside quiet hours,
on the same pace as the alerts (`connectors/telegram/alerts.py`).

queued → sending → sent; or blocked (the person blocked the bot), failed (given up),
cancelled (a broadcast stopped), unsure (the process stopped while the request was on its
way: it is not sent again, so a message arrives once or not at all).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.db.models import BulkMessage, CheckIn, Person
from bot.services.alerts import is_quiet
from bot.services.people import now, policy

STATUSES = ("queued", "sending", "sent", "unsure", "blocked", "failed", "cancelled")
# Reminders of a plan's steps and of appointments: no follow-up consent needed (the person
# agreed to the plan or the appointment with their coach; `bot.services.plans`).
STEP_WEEK, STEP_DAY = "plan_week", "plan_day"
APPOINTMENT_DAY, APPOINTMENT_SOON = "appt_day", "appt_soon"
REMINDER_KINDS = (STEP_WEEK, STEP_DAY, APPOINTMENT_DAY, APPOINTMENT_SOON)
NOT_QUIET_KINDS = (APPOINTMENT_SOON,)  # sent in quiet hours too: later it is no use
GIVE_UP_AFTER = 5  # failed attempts (other than Telegram's pace) before a message is given up


@dataclass(frozen=True)
class DueMessage:
    """A queued message whose person may be written to now."""

    id: int
    kind: str
    ref_id: int
    person_id: int | None
    sender_id: str | None
    chat_id: int
    text: str
    buttons: list[dict[str, str]]


def queue(
    session: Session,
    kind: str,
    ref_id: int,
    person: Person,
    text: str,
    buttons: list[dict[str, str]],
) -> bool:
    """Queue a message for `person` (nothing when it is queued already, or they have no chat).
    True when queued now."""
    if person.telegram_chat_id is None:
        return False
    return queue_to(session, kind, ref_id, person.id, person.telegram_chat_id, text, buttons)


def queue_to(
    session: Session,
    kind: str,
    ref_id: int,
    person_id: int | None,
    chat_id: int,
    text: str,
    buttons: list[dict[str, str]],
) -> bool:
    """Queue a message for a chat (`person_id` None: an admin's own chat, for a test)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(BulkMessage).values(
        kind=kind,
        ref_id=ref_id,
        person_id=person_id,
        chat_id=chat_id,
        params=json.dumps({"text": text, "buttons": buttons}, ensure_ascii=False),
        status="queued",
        attempts=0,
        queued_at=now(),
    )
    result = session.execute(
        statement.on_conflict_do_nothing(index_elements=["kind", "ref_id", "person_id"])
    )
    return bool(getattr(result, "rowcount", 0))


def due(
    session: Session, moment: dt.datetime, quiet: tuple[int, int], limit: int = 100, after: int = 0
) -> list[DueMessage]:
    """Queued messages of reachable people for whom it is not night now, oldest first; only
    those numbered above `after`."""
    # A message to nobody's person is a test an admin sent to their own chat: no quiet hours.
    rows = session.execute(
        select(BulkMessage, Person.sender_id, Person.country)
        .join(Person, BulkMessage.person_id == Person.id, isouter=True)
        .where(
            BulkMessage.status == "queued",
            BulkMessage.id > after,
            # Said no since it was queued (in /profile), or blocked the bot: it waits unsent.
            or_(
                BulkMessage.person_id.is_(None),
                and_(
                    Person.blocked_at.is_(None),
                    or_(Person.followup_consent.is_(True), BulkMessage.kind.in_(REMINDER_KINDS)),
                ),
            ),
        )
        .order_by(BulkMessage.id)
        .execution_options(yield_per=500)
    )
    rules = policy()
    found: list[DueMessage] = []
    for message, sender_id, country in rows:
        if (
            message.person_id is not None
            and message.kind not in NOT_QUIET_KINDS
            and is_quiet(moment.astimezone(rules.timezone(country)), *quiet)
        ):
            continue
        params: dict[str, Any] = json.loads(message.params)
        found.append(
            DueMessage(
                message.id,
                message.kind,
                message.ref_id,
                message.person_id,
                sender_id,
                message.chat_id,
                str(params.get("text") or ""),
                list(params.get("buttons") or []),
            )  # fmt: skip
        )
        if len(found) >= limit:
            break
    return found


def claim(session: Session, message_id: int) -> bool:
    """Mark a message as on its way (before the request leaves); False when it is no longer
    queued (cancelled meanwhile)."""
    result = session.execute(
        update(BulkMessage)
        .where(BulkMessage.id == message_id, BulkMessage.status == "queued")
        .values(status="sending")
    )
    return bool(getattr(result, "rowcount", 0))


def mark_sent(session: Session, message_id: int) -> None:
    """Telegram accepted it."""
    message = session.get(BulkMessage, message_id)
    if message is None:
        return
    moment = now()
    message.status, message.sent_at = "sent", moment
    if message.kind == "checkin":
        session.execute(update(CheckIn).where(CheckIn.id == message.ref_id).values(sent_at=moment))


def mark_again(session: Session, message_id: int) -> None:
    """Telegram asked to slow down: back in the queue, tried again on the pace."""
    session.execute(
        update(BulkMessage)
        .where(BulkMessage.id == message_id, BulkMessage.status == "sending")
        .values(status="queued")
    )


def mark_failed(session: Session, message_id: int, give_up_after: int = GIVE_UP_AFTER) -> None:
    """A failed attempt: queued again for a later round, until `give_up_after` attempts."""
    message = session.get(BulkMessage, message_id)
    if message is None:
        return
    message.attempts += 1
    message.status = "failed" if message.attempts >= give_up_after else "queued"


def mark_blocked(session: Session, person_id: int) -> None:
    """The person blocked the bot: nothing queued for them goes out (it is never retried)."""
    session.execute(
        update(BulkMessage)
        .where(BulkMessage.person_id == person_id, BulkMessage.status.in_(("queued", "sending")))
        .values(status="blocked")
    )


def recover(session: Session) -> int:
    """At start: messages left on their way by a stopped process are not sent again."""
    result = session.execute(
        update(BulkMessage).where(BulkMessage.status == "sending").values(status="unsure")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def cancel(session: Session, kind: str, ref_id: int) -> int:
    """Stop what is still queued of a broadcast; how many will not go out."""
    result = session.execute(
        update(BulkMessage)
        .where(
            BulkMessage.kind == kind,
            BulkMessage.ref_id == ref_id,
            BulkMessage.status == "queued",
        )
        .values(status="cancelled")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def progress(session: Session, kind: str, ref_id: int) -> Counter[str]:
    """How many of a broadcast's messages are in each state."""
    return Counter(
        {
            str(status): int(count)
            for status, count in session.execute(
                select(BulkMessage.status, func.count())
                .where(BulkMessage.kind == kind, BulkMessage.ref_id == ref_id)
                .group_by(BulkMessage.status)
            )
        }
    )
