"""Reach and outcomes: outreach campaigns and their anonymous arrivals, follow-up check-ins,
satisfaction after a coach, broadcasts, and the paced queue that sends check-ins and
broadcasts (`bulk_messages`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base

VENUES = ("school", "youth_centre", "pes_office", "social_media", "poster", "other")


class Campaign(Base):
    """An outreach campaign of a partner: a deep link (`/start <code>`) and its QR code."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # [a-z0-9_-], Telegram's rule
    name: Mapped[str] = mapped_column(String(120))
    partner: Mapped[str] = mapped_column(String(120), index=True)
    venue: Mapped[str] = mapped_column(String(20))  # one of VENUES
    language: Mapped[str] = mapped_column(String(8))
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)  # after this day the code is expired
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(40), default="")


class CampaignStart(Base):
    """How many conversations a campaign's link started on a day: a count, nobody's identity
    (before consent nothing else is kept)."""

    __tablename__ = "campaign_starts"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class CheckIn(Base):
    """One follow-up round for one person ("What are you doing now?"): queued, sent, answered.

    Unique per person and round, so a round is never queued twice, even across restarts.
    """

    __tablename__ = "checkins"
    __table_args__ = (UniqueConstraint("person_id", "round", name="uq_checkins_person_round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    round: Mapped[int] = mapped_column(Integer)  # 1, 2, 3: the interval it answers
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str | None] = mapped_column(String(16))  # their answer: working, ...
    helpful: Mapped[int | None] = mapped_column(Integer)  # 1-5
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Rating(Base):
    """ "How was talking to <coach>?" after a hand-back. The person's pseudonym is kept only
    until they answer (or are erased): a score is anonymous."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str | None] = mapped_column(String(64), index=True)
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    score: Mapped[int | None] = mapped_column(Integer)
    asked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Broadcast(Base):
    """A message from admins to a segment of people who agreed to receive updates."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    texts: Mapped[str] = mapped_column(Text)  # JSON {language: text}
    buttons: Mapped[str] = mapped_column(Text, default="[]")  # JSON [{label: {lang: t}, url}]
    segment: Mapped[str] = mapped_column(Text, default="{}")  # JSON of the filters
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # draft → scheduled → sending → done; or cancelled
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    audience: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class BulkMessage(Base):
    """A message of a check-in or a broadcast to one person, sent at Telegram's pace outside
    their quiet hours (`connectors/telegram/alerts.py`, one pace with the alerts).

    queued → sending → sent; or blocked, failed, cancelled. `sending` is written before the
    request leaves, so a restart never sends it again (a check-in arrives once or not at all).
    Unique per kind, reference and person: never queued twice.
    """

    __tablename__ = "bulk_messages"
    __table_args__ = (
        UniqueConstraint("kind", "ref_id", "person_id", name="uq_bulk_messages_kind_ref_person"),
        Index("ix_bulk_messages_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # checkin, broadcast or a reminder
    ref_id: Mapped[int] = mapped_column(Integer)  # the check-in's, broadcast's, step's… id
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    chat_id: Mapped[int] = mapped_column(BigInteger)
    params: Mapped[str] = mapped_column(Text)  # sendMessage's text and buttons, as JSON
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
