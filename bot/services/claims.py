"""Claims: which connector replica works on a chat, or on the scheduled rounds, for now
(decision 26). Several replicas share one database; a chat's updates must still be handled one
at a time and in order, its outbox sent by one sender, and each alert sent by one replica.

- `take` claims a key for a while: a new claim, one this owner holds already, or one whose
  time ran out (its replica died or stopped mid-turn: `TAKEN_OVER`, so the taker looks in the
  tracker for a turn that may have happened). None when another replica holds it.
- `next_work` is what a chat's claimant does next (`take_with_work`: both in one go): the
  chat's queued messages and its oldest update not handled yet. With nothing left the claim is
  dropped in the same transaction, after the claim's row is locked: a replica that stored an
  update and then failed to take the claim had committed that update before, so it is seen
  here, or the claim is gone and that replica takes it.
- `renew` keeps every claim of an owner alive; `expire` lets them go at once (a stop): the
  next taker looks in the tracker first; `release` gives one up when its work is done.
- `unclaimed` finds chats with work and no live claim (a replica died, or a message came
  from the dashboard): any replica takes them.

Writes come first in each transaction: on SQLite that takes the database's one write lock
before anything is read (the single-writer behaviour), on PostgreSQL it locks the claim's row.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import secrets
import socket
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.db.models import Claim, InboundUpdate, OutboxMessage
from bot.db.session import insert_ignoring_conflicts
from bot.services import inbox, outbox
from bot.services.people import now

UPKEEP = 0  # the scheduled rounds' key (no Telegram chat has the id 0)
STUDIO = -(2**62)  # the studio's one job at a time (training or validation), for any dashboard
# Keys of updates without a chat: this plus the update id, beyond any chat id (Telegram's chat
# ids have at most 52 significant bits; groups' are negative).
NO_CHAT = 2**60


class Taken(enum.Enum):
    """How a claim was taken."""

    NEW = "new"  # nobody held it
    HELD = "held"  # this owner held it already
    TAKEN_OVER = "taken over"  # another owner's, whose time ran out


def owner_name() -> str:
    """This process's name in the claims: its host (a pod's name), process id and a random
    part (a restarted process is a new owner)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"[:64]


def key_of(chat_id: int | None, update_id: int) -> int:
    """The claim key of an update: its chat, or the update itself when it has no chat."""
    return chat_id if chat_id is not None else NO_CHAT + update_id


def take(session: Session, key: int, owner: str, lease: dt.timedelta) -> Taken | None:
    """Claim `key` for `owner` until `lease` from now; how, or None if another holds it."""
    moment = now()
    until = moment + lease
    inserted = session.scalar(
        insert_ignoring_conflicts(session, Claim, "key")
        .values(key=key, owner=owner, until=until)
        .returning(Claim.key)
    )
    if inserted is not None:
        return Taken.NEW
    kept = session.execute(
        update(Claim).where(Claim.key == key, Claim.owner == owner).values(until=until)
    )
    if getattr(kept, "rowcount", 0):
        return Taken.HELD
    taken = session.execute(
        update(Claim)
        .where(Claim.key == key, Claim.owner != owner, Claim.until < moment)
        .values(owner=owner, until=until)
    )
    return Taken.TAKEN_OVER if getattr(taken, "rowcount", 0) else None


@dataclass(frozen=True)
class Work:
    """What a chat's claimant does next: send `queued`, then handle `update` (if any)."""

    queued: list[outbox.Outgoing]
    update: inbox.Pending | None


def next_work(
    session: Session, key: int, owner: str, bot_id: int, lease: dt.timedelta
) -> Work | None:
    """The claimed chat's next work; None (and the claim dropped) when there is none, or when
    the claim is no longer this owner's (its time ran out and another took it)."""
    kept = session.execute(
        update(Claim).where(Claim.key == key, Claim.owner == owner).values(until=now() + lease)
    )
    if not getattr(kept, "rowcount", 0):
        return None
    bots = (bot_id, inbox.LEGACY_BOT)
    if key >= NO_CHAT:  # an update without a chat: that update alone
        found = inbox.pending_one(session, bots, update_id=key - NO_CHAT)
        queued: list[outbox.Outgoing] = []
    else:
        found = inbox.pending_one(session, bots, chat_id=key)
        queued = outbox.queued(session, key)
    if found is None and not queued:
        session.execute(delete(Claim).where(Claim.key == key, Claim.owner == owner))
        return None
    return Work(queued, found)


def take_with_work(
    session: Session, key: int, owner: str, bot_id: int, lease: dt.timedelta
) -> tuple[Taken | None, Work | None]:
    """`take`, then `next_work`, in one transaction: how the claim was taken (None: another
    holds it) and the chat's first work (None: there is none, and the claim is dropped)."""
    taken = take(session, key, owner, lease)
    if taken is None:
        return None, None
    return taken, next_work(session, key, owner, bot_id, lease)


def release(session: Session, key: int, owner: str) -> None:
    """Give up `owner`'s claim of `key` (its work is done)."""
    session.execute(delete(Claim).where(Claim.key == key, Claim.owner == owner))


def renew(session: Session, owner: str, lease: dt.timedelta) -> int:
    """Keep every claim of `owner` for `lease` from now; how many it holds."""
    result = session.execute(update(Claim).where(Claim.owner == owner).values(until=now() + lease))
    return int(getattr(result, "rowcount", 0) or 0)


def expire(session: Session, owner: str, key: int | None = None) -> None:
    """Let `owner`'s claims (or its claim of `key`) go now: another replica may take them,
    and looks in the tracker first."""
    statement = update(Claim).where(Claim.owner == owner)
    if key is not None:
        statement = statement.where(Claim.key == key)
    session.execute(statement.values(until=now() - dt.timedelta(seconds=1)))


def unclaimed(session: Session, bot_id: int) -> list[int]:
    """Keys of chats (and of updates without a chat) with work and no live claim."""
    pending = session.execute(
        select(InboundUpdate.chat_id, InboundUpdate.update_id).where(
            InboundUpdate.state == "pending",
            InboundUpdate.bot_id.in_((bot_id, inbox.LEGACY_BOT)),
        )
    ).all()
    keys = {key_of(chat_id, update_id) for chat_id, update_id in pending}
    keys.update(session.scalars(select(OutboxMessage.chat_id).distinct()))
    live = set(session.scalars(select(Claim.key).where(Claim.until >= now())))
    return sorted(keys - live)
