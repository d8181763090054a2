"""The inbox in the database: nothing a person sends is lost, nothing is handled twice. (What
leaves goes through the outbox: `bot.services.outbox`.)

- `store` keeps an update before it is acknowledged; a replayed update id is ignored. Update
  ids are the bot's own (a new bot token starts new ones), so they are kept per bot id.
- `finish` marks an update handled, in the transaction that queues its replies
  (`outbox.enqueue`): after a crash, an update is either still pending (and handled again) or
  its replies are in the outbox.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.orm import Session

from bot.db.models import InboundUpdate
from bot.db.session import insert_ignoring_conflicts
from bot.services.people import now

logger = logging.getLogger(__name__)
KEEP_HANDLED = dt.timedelta(days=2)  # Telegram re-sends an update for at most 24 hours
LEGACY_BOT = 0  # the bot of updates stored before the bot's id was kept (migration 0008)


@dataclass(frozen=True)
class Pending:
    """An update not handled yet (`bot_id`: the bot it came to, LEGACY_BOT if unknown)."""

    bot_id: int
    update_id: int
    chat_id: int | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Incoming:
    """An update as the channel received it: its id, the chat it belongs to (None when the
    channel could not tell) and the whole update, kept as it came."""

    update_id: int
    chat_id: int | None
    payload: dict[str, Any]


def store(session: Session, bot_id: int, updates: Iterable[Incoming]) -> list[Pending]:
    """Store the updates of bot `bot_id` not seen before; return those that are new (replays
    are left out)."""
    rows: list[dict[str, Any]] = [
        {
            "bot_id": bot_id,
            "update_id": update.update_id,
            "chat_id": update.chat_id,
            "payload": json.dumps(update.payload, ensure_ascii=False),
            "state": "pending",
            "received_at": now(),
        }
        for update in updates
    ]
    if not rows:
        return []
    ids = [row["update_id"] for row in rows]
    # Only this bot's updates count: another bot's (an earlier token's, or one stored before
    # ids were kept per bot) may carry the same ids and must not hide a new message.
    known = set(
        session.scalars(
            select(InboundUpdate.update_id).where(
                InboundUpdate.bot_id == bot_id, InboundUpdate.update_id.in_(ids)
            )
        )
    )
    fresh: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row["update_id"] not in known:
            fresh.setdefault(row["update_id"], row)  # twice in one batch: the first counts
    inserted: set[int] = set()
    if fresh:
        # A concurrent replay of the same id (two webhook deliveries at once) is ignored by the
        # database itself; only what was really inserted is handled.
        statement = (
            insert_ignoring_conflicts(session, InboundUpdate, "bot_id", "update_id")
            .values(list(fresh.values()))
            .returning(InboundUpdate.update_id)
        )
        inserted = set(session.scalars(statement))
    if len(rows) > len(inserted):
        # How many only: ids and texts are the people's (and would not help anyway).
        logger.info("Ignored %d replayed update(s)", len(rows) - len(inserted))
    return [
        Pending(bot_id, row["update_id"], row["chat_id"], json.loads(row["payload"]))
        for row in fresh.values()
        if row["update_id"] in inserted
    ]


def pending(session: Session, bot_id: int) -> list[Pending]:
    """Every update of bot `bot_id` not handled yet, oldest first (after a restart), after
    those stored before ids were kept per bot (most likely this bot's: handled as before).
    Another bot's are left alone: this bot could not answer them (`prune` forgets them)."""
    rows = session.execute(
        select(
            InboundUpdate.bot_id,
            InboundUpdate.update_id,
            InboundUpdate.chat_id,
            InboundUpdate.payload,
        )
        .where(InboundUpdate.state == "pending", InboundUpdate.bot_id.in_((bot_id, LEGACY_BOT)))
        .order_by(case((InboundUpdate.bot_id == LEGACY_BOT, 0), else_=1), InboundUpdate.update_id)
    )
    return [
        Pending(bot, update_id, chat_id, json.loads(payload))
        for bot, update_id, chat_id, payload in rows
    ]


def finish(session: Session, bot_id: int, update_id: int, state: str = "done") -> bool:
    """Mark an update handled (its text is dropped); its replies are queued with `enqueue` in
    the same transaction. False when it was handled already (by a replica that took its chat
    over): then its replies must not be queued again."""
    result = session.execute(
        update(InboundUpdate)
        .where(
            InboundUpdate.bot_id == bot_id,
            InboundUpdate.update_id == update_id,
            InboundUpdate.state == "pending",
        )
        .values(state=state, payload="", done_at=now())
    )
    return bool(getattr(result, "rowcount", 0))


def prune(session: Session, bot_id: int, older_than: dt.timedelta = KEEP_HANDLED) -> int:
    """Delete handled updates older than `older_than`, and another bot's updates received that
    long ago, handled or not (bot `bot_id` never handles them: their words are not kept for
    nothing); how many."""
    cutoff = now() - older_than
    result = session.execute(
        delete(InboundUpdate).where(
            or_(
                (InboundUpdate.state != "pending") & (InboundUpdate.done_at < cutoff),
                InboundUpdate.bot_id.not_in((bot_id, LEGACY_BOT))
                & (InboundUpdate.received_at < cutoff),
            )
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def pending_one(
    session: Session,
    bots: tuple[int, ...],
    chat_id: int | None = None,
    update_id: int | None = None,
) -> Pending | None:
    """The oldest update of a chat not handled yet (or the update `update_id`, if pending), of
    one of `bots`; None when there is none."""
    query = select(
        InboundUpdate.bot_id, InboundUpdate.update_id, InboundUpdate.chat_id, InboundUpdate.payload
    ).where(InboundUpdate.state == "pending", InboundUpdate.bot_id.in_(bots))
    if update_id is not None:
        query = query.where(InboundUpdate.update_id == update_id)
    else:
        query = query.where(InboundUpdate.chat_id == chat_id)
    row = session.execute(
        query.order_by(
            case((InboundUpdate.bot_id == LEGACY_BOT, 0), else_=1), InboundUpdate.update_id
        ).limit(1)
    ).first()
    if row is None:
        return None
    bot, found_id, found_chat, payload = row
    return Pending(bot, found_id, found_chat, json.loads(payload))
