"""The channel's records: stored button payloads, the inbox of updates and the outbox of
messages to send."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base


class ButtonPayload(Base):
    """A button payload too long for Telegram's 64-byte `callback_data`, under a short key."""

    __tablename__ = "button_payloads"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class InboundUpdate(Base):
    """A Telegram update, stored before it is acknowledged (webhook: before the 200; polling:
    before the offset moves on). The key is the bot's id with the update id, so a replayed
    update is stored once; each bot counts its update ids on its own, so a new bot token's
    updates never pass for an earlier bot's (`bot_id` 0: stored before the id was kept).

    `payload` holds the update until it is handled, then it is emptied (it carries a person's
    message); the row is kept a little longer, only to recognise replays, then pruned.
    """

    __tablename__ = "inbound_updates"
    __table_args__ = (Index("ix_inbound_updates_state", "state", "update_id"),)

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending/done/dropped
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class OutboxMessage(Base):
    """A message for a chat, written in the same transaction that marks its update handled, and
    deleted once Telegram accepted it: sent in order per chat, retried until then."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_chat", "chat_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    update_id: Mapped[int | None] = mapped_column(BigInteger)
    params: Mapped[str] = mapped_column(Text)  # sendMessage's parameters, as JSON
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ChannelFact(Base):
    """What the channel learnt about itself that other processes need, by name (e.g. the
    bot's Telegram username, read from `getMe`, for the campaigns' deep links)."""

    __tablename__ = "channel_facts"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Claim(Base):
    """Which connector replica works on what, for how long (decision 26).

    `key` is a chat's id (its updates handled and its outbox sent, in order, by one replica at
    a time), 2**60 plus the update id for an update without a chat, `STUDIO` (-2**62, beyond
    any chat id: the dashboards' one studio job at a time), or `UPKEEP` (0, no chat has that
    id): the scheduled rounds (alerts, follow-ups and broadcasts, coach requests
    nobody took, erasures), done by one replica. A claim whose `until` has passed is free: its
    replica died, or stopped in the middle of a turn, and whoever takes it looks in the
    tracker first for a turn the message may have had."""

    __tablename__ = "claims"
    __table_args__ = (Index("ix_claims_owner", "owner"),)

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    owner: Mapped[str] = mapped_column(String(64))
    until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
