"""The admin studio: the audit log, training jobs and model versions, the misunderstood
messages and the training examples taken from people's words."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base


class AuditEntry(Base):
    """One change made in the dashboard: who, when, what, before and after (JSON)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(40))  # kept if the account goes
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(200))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)


class StudioJob(Base):
    """A training or a validation started from the studio, with its progress and outcome."""

    __tablename__ = "studio_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # train or validate
    status: Mapped[str] = mapped_column(String(16), default="running")  # running/done/failed
    stage: Mapped[str] = mapped_column(String(120), default="")
    progress: Mapped[float] = mapped_column(default=0.0)  # 0..1 within the stage
    started_by: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    output: Mapped[str] = mapped_column(Text, default="")  # the last lines, or the findings
    model_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))


class ModelVersion(Base):
    """A trained model: where it is, when and by whom it was trained, and whether it is live."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(500))
    fingerprint: Mapped[str] = mapped_column(String(32))
    trained_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    trained_by: Mapped[str] = mapped_column(String(40))
    seconds: Mapped[float] = mapped_column(default=0.0)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    activated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Held-out scores per language of this model and of the live one when it was trained.
    metrics: Mapped[str | None] = mapped_column(Text)


class Misunderstood(Base):
    """A young person's message the NLU was unsure of (a fallback, or a low confidence), waiting
    in the studio to be labelled with an intent or set aside as nonsense."""

    __tablename__ = "misunderstood"
    __table_args__ = (Index("ix_misunderstood_status", "status", "language", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    text: Mapped[str] = mapped_column(String(300))
    language: Mapped[str] = mapped_column(String(8))
    intent: Mapped[str] = mapped_column(String(80))  # the NLU's best guess
    confidence: Mapped[float] = mapped_column(default=0.0)
    guesses: Mapped[str] = mapped_column(Text, default="[]")  # JSON: the ranking's top three
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # /labelled/nonsense
    label: Mapped[str | None] = mapped_column(String(80))
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # for grouping alike ones


class LearnedExample(Base):
    """A training example taken from a young person's own words (a labelled misunderstanding or
    an accepted annotation): where it came from, so that erasing the person removes it from
    the training data too (`status`: live, erase_pending, erased)."""

    __tablename__ = "learned_examples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str | None] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(String(300))
    language: Mapped[str] = mapped_column(String(8))
    intent: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(16))  # misunderstood / annotation
    added_by: Mapped[str] = mapped_column(String(40))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="live", index=True)
    erased_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
