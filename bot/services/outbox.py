"""The outbox: every message to a young person waits here until the channel has sent it (the
bot's replies, a coach's messages, notices). One way out: ordered per chat, retried, never
twice. The connector sends it (`connectors/telegram/sending.py`); other processes only queue.

- `enqueue` queues messages for a chat, in the transaction that produced them.
- The row is deleted once the channel accepted the message (`sent`); `attempted` counts
  failures; `drop_chat` forgets a chat whose person blocked the bot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.db.models import OutboxMessage, Person
from bot.services import alerts, bulk
from bot.services.people import now


@dataclass(frozen=True)
class Outgoing:
    """A queued message: its row id, chat and sendMessage parameters."""

    id: int
    chat_id: int
    params: dict[str, Any]
    attempts: int


def enqueue(
    session: Session, chat_id: int | None, messages: list[dict[str, Any]], update_id: int | None
) -> list[Outgoing]:
    """Queue messages for a chat (each a dict of sendMessage parameters besides chat_id); the
    queued messages, in order."""
    if chat_id is None:
        return []
    created = now()
    rows = [
        OutboxMessage(
            chat_id=chat_id,
            update_id=update_id,
            params=json.dumps(message, ensure_ascii=False),
            attempts=0,
            created_at=created,
        )
        for message in messages
    ]
    session.add_all(rows)
    session.flush()  # their ids
    return [
        Outgoing(row.id, chat_id, message, 0) for row, message in zip(rows, messages, strict=True)
    ]


def queued(session: Session, chat_id: int) -> list[Outgoing]:
    """The chat's messages still to send, in order."""
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.params, OutboxMessage.attempts)
        .where(OutboxMessage.chat_id == chat_id)
        .order_by(OutboxMessage.id)
    )
    return [Outgoing(id, chat_id, json.loads(params), attempts) for id, params, attempts in rows]


def sent(session: Session, message_id: int) -> None:
    """Telegram accepted the message: forget it."""
    session.execute(delete(OutboxMessage).where(OutboxMessage.id == message_id))


def attempted(session: Session, message_id: int) -> None:
    """One more failed attempt at a message."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(attempts=OutboxMessage.attempts + 1)
    )


def drop_chat(session: Session, chat_id: int) -> int:
    """Forget everything queued for a chat (the person blocked the bot); how many."""
    result = session.execute(delete(OutboxMessage).where(OutboxMessage.chat_id == chat_id))
    return int(getattr(result, "rowcount", 0) or 0)


def blocked(session: Session, chat_id: int) -> int:
    """The person of `chat_id` blocked the bot: pause their alerts, check-ins and broadcasts and
    forget what is queued for them; how many messages went."""
    for person_id in session.scalars(select(Person.id).where(Person.telegram_chat_id == chat_id)):
        alerts.mark_blocked(session, person_id)
        bulk.mark_blocked(session, person_id)
    return drop_chat(session, chat_id)
