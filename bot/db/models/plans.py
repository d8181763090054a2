"""Plans and appointments, written by a coach with a young person: the steps of an action plan
(each with a due date, perhaps an opportunity) and the appointments a coach proposes. Both are
the person's data: in `/mydata`, erased with them (`ON DELETE CASCADE`)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.models.base import Base

if TYPE_CHECKING:
    from bot.db.models.catalogue import Opportunity
    from bot.db.models.coaching import User

# proposed → confirmed / other_time / declined (the person's answer) → attended / missed (the
# coach's record); cancelled by the coach at any time before.
APPOINTMENT_STATUSES = (
    "proposed",
    "confirmed",
    "other_time",
    "declined",
    "attended",
    "missed",
    "cancelled",
)


class PlanStep(Base):
    """One step of a person's action plan."""

    __tablename__ = "plan_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[dt.date] = mapped_column(Date, index=True)
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="SET NULL")
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    done_by: Mapped[str | None] = mapped_column(String(8))  # "self" (a tap) or "coach"
    # When each reminder was queued (never twice; none for a step already done).
    week_reminder_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    day_reminder_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    opportunity: Mapped[Opportunity | None] = relationship(lazy="joined")
    author: Mapped[User | None] = relationship(lazy="joined")


class Appointment(Base):
    """An appointment a coach proposed to a person: when, where (a place, a phone number or a
    video link), the person's answer and whether they came."""

    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    place: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="proposed")  # APPOINTMENT_STATUSES
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    day_reminder_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    soon_reminder_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    coach: Mapped[User | None] = relationship(lazy="joined")
