"""The catalogue: opportunities (trainings and jobs), their topics and labels, and which
person opened which (for the figures)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.models.base import Base


class Topic(Base):
    """A topic of the catalogue (`digital`, `green`, ...), labelled in every language."""

    __tablename__ = "topics"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    emoji: Mapped[str] = mapped_column(String(8), default="")
    labels: Mapped[list[TopicLabel]] = relationship(
        back_populates="topic", cascade="all, delete-orphan", lazy="selectin"
    )

    def label(self, language: str, fallback: str = "en") -> str:
        """The label in `language`, else in `fallback`, else the key."""
        by_language = {item.language: item.label for item in self.labels}
        return by_language.get(language) or by_language.get(fallback) or self.key


class TopicLabel(Base):
    """The label of one topic in one language."""

    __tablename__ = "topic_labels"

    topic_key: Mapped[str] = mapped_column(
        ForeignKey("topics.key", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    label: Mapped[str] = mapped_column(String(80))
    topic: Mapped[Topic] = relationship(back_populates="labels")


class OpportunityTopic(Base):
    """Association of an opportunity with one of its topics."""

    __tablename__ = "opportunity_topics"

    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), primary_key=True
    )
    topic_key: Mapped[str] = mapped_column(ForeignKey("topics.key"), primary_key=True, index=True)


class Opportunity(Base):
    """A training or a job, with every column of the catalogue CSV contract.

    `*_norm` and `search_text` are lower-cased, accent-free copies kept for fast matching.
    """

    __tablename__ = "opportunities"
    __table_args__ = (
        UniqueConstraint("natural_key", name="uq_opportunities_natural_key"),
        Index("ix_opportunities_kind_published", "kind", "published"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    natural_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(120), default="")
    region: Mapped[str] = mapped_column(String(120), default="")
    country: Mapped[str] = mapped_column(String(2), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    languages: Mapped[str] = mapped_column(String(64), default="")
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    cost_eur: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal(0))
    min_age: Mapped[int | None] = mapped_column(Integer)
    max_age: Mapped[int | None] = mapped_column(Integer)
    women_only: Mapped[bool] = mapped_column(Boolean, default=False)
    neet_only: Mapped[bool] = mapped_column(Boolean, default=False)
    url: Mapped[str] = mapped_column(String(500), default="")
    contact: Mapped[str] = mapped_column(String(200), default="")
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    city_norm: Mapped[str] = mapped_column(String(120), default="", index=True)
    region_norm: Mapped[str] = mapped_column(String(120), default="", index=True)
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    topic_links: Mapped[list[OpportunityTopic]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def topic_keys(self) -> list[str]:
        """The keys of this opportunity's topics, sorted."""
        return sorted(link.topic_key for link in self.topic_links)

    @property
    def language_codes(self) -> list[str]:
        """The ISO 639-1 codes of the languages it is offered in."""
        return [code for code in self.languages.split(";") if code]


class DetailsViewed(Base):
    """Someone opened the details of a training or job (for the funders' figures)."""

    __tablename__ = "opportunity_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str] = mapped_column(String(64), index=True)
    viewed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class ImportPreview(Base):
    """A catalogue CSV an admin uploaded and previewed, kept until they confirm the import (or
    for a day): in the database, so the confirmation may reach any dashboard replica. Only the
    digest of the token (kept in the admin's session) is stored."""

    __tablename__ = "import_previews"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
