"""Young people: the profile (which exists only with consent), alert subscriptions and
deliveries, and erasures still to finish."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.models.base import Base

if TYPE_CHECKING:
    from bot.db.models.catalogue import Opportunity
    from bot.db.models.coaching import Outcome, PersonNote, User
    from bot.db.models.plans import Appointment, PlanStep


class Person(Base):
    """A young person who gave consent: consent record, profile, Telegram chat for alerts.

    Nobody gets a row before accepting the privacy notice. `sender_id` is the pseudonym Rasa
    knows them by; `telegram_chat_id` is written by the connector (Rasa never sees it) and is
    only used to deliver alerts. Deleting the row deletes everything that hangs off it.
    """

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16), default="telegram")
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    consent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    consent_version: Mapped[str] = mapped_column(String(16))
    guardian_consent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    registered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    name: Mapped[str | None] = mapped_column(String(80))
    age: Mapped[int | None] = mapped_column(Integer)
    city: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[str | None] = mapped_column(String(2))
    place: Mapped[str | None] = mapped_column(String(120))  # the name shown back to them
    education: Mapped[str | None] = mapped_column(String(32))
    situation: Mapped[str | None] = mapped_column(String(32))
    interests: Mapped[str] = mapped_column(String(400), default="")  # topic keys, ";"-separated
    language: Mapped[str | None] = mapped_column(String(8))
    alerts_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    last_active_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Reach and outcomes: the campaign they came by (stored from consent on), the optional
    # gender question (only for the figures and offers reserved to women), whether they may be
    # checked in with later (None: not asked yet), and when the bot found itself blocked.
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True
    )
    gender: Mapped[str | None] = mapped_column(String(16))
    followup_consent: Mapped[bool | None] = mapped_column(Boolean)
    blocked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    coach: Mapped[User | None] = relationship(lazy="joined")
    notes: Mapped[list[PersonNote]] = relationship(
        back_populates="person",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="PersonNote.created_at.desc()",
    )
    outcomes: Mapped[list[Outcome]] = relationship(
        back_populates="person",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Outcome.date.desc()",
    )

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )
    deliveries: Mapped[list[AlertDelivery]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )
    plan_steps: Mapped[list[PlanStep]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="PlanStep.due_on",
    )
    appointments: Mapped[list[Appointment]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Appointment.starts_at"
    )

    @property
    def interest_keys(self) -> list[str]:
        """The topic keys of their interests."""
        return [key for key in self.interests.split(";") if key]


class Subscription(Base):
    """An alert subscription: new opportunities of a kind, about topics, in a place."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # training, job or both
    topics: Mapped[str] = mapped_column(String(400), default="")  # ";"-separated, "" = any
    place: Mapped[str | None] = mapped_column(String(120))  # as shown; None = anywhere
    city: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    person: Mapped[Person] = relationship(back_populates="subscriptions")

    @property
    def topic_keys(self) -> list[str]:
        """The topic keys it is about (empty: any topic)."""
        return [key for key in self.topics.split(";") if key]


class AlertDelivery(Base):
    """One alert about one opportunity to one person: queued, then sent (or why not).

    Unique per person and opportunity, so nobody ever gets the same item twice.
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("person_id", "opportunity_id", name="uq_alert_deliveries_person_item"),
        Index("ix_alert_deliveries_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued/sent/blocked/failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(String(200))

    person: Mapped[Person] = relationship(back_populates="deliveries")
    opportunity: Mapped[Opportunity] = relationship(lazy="joined")


class Erasure(Base):
    """A person asked to erase everything (`/delete`): a job kept until every store is erased,
    retried after a failure, so that "erased" is said only once it is true."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str | None] = mapped_column(String(64), index=True)  # emptied when done
    chat_id: Mapped[int | None] = mapped_column(BigInteger)  # to confirm; emptied when done
    language: Mapped[str] = mapped_column(String(8), default="en")
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
