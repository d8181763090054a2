"""Coaches and their work: accounts and sign-in throttling, handoffs, notes and outcomes,
and the conversation summaries of the coach console (with tags and proposed intents)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.models.base import Base

if TYPE_CHECKING:
    from bot.db.models.catalogue import Opportunity
    from bot.db.models.people import Person


class User(Base):
    """A coach or admin of the web dashboard. The password is stored as an argon2 hash only.

    A session is valid while it carries the account's `session_version` (signing out, a new
    password, disabling or a role change bump it). `display_name` is what young people see
    when this coach joins their chat, never the username.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)  # lower case
    display_name: Mapped[str] = mapped_column(String(40))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # coach or admin
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Their own Telegram chat, linked by a one-time link (test broadcasts arrive there).
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    # Routing (bot.services.routing): new requests go to an available coach who covers the
    # person's language (and country, if they named countries), fewest open ones first.
    status: Mapped[str] = mapped_column(String(16), default="available")  # or away
    languages: Mapped[str] = mapped_column(String(64), default="")  # "it,en"; none: not routed
    countries: Mapped[str] = mapped_column(String(200), default="")  # "IT,MT"; none: any
    last_routed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The dashboard's language they chose (one of the ten); none: their browser's.
    dashboard_language: Mapped[str | None] = mapped_column(String(8))

    @property
    def language_list(self) -> list[str]:
        return [code for code in self.languages.split(",") if code]

    @property
    def country_list(self) -> list[str]:
        return [code for code in self.countries.split(",") if code]


class LoginThrottle(Base):
    """Wrong passwords in a row per username, known or not (keyed by a keyed hash of it), and
    until when the next try must wait."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PersonNote(Base):
    """A coach's note about a registered person."""

    __tablename__ = "person_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    person: Mapped[Person] = relationship(back_populates="notes")
    author: Mapped[User | None] = relationship(lazy="joined")


OUTCOME_KINDS = ("training", "job", "education")
# Who said so: a coach recorded it, or the person answered a check-in ("self-reported").
OUTCOME_SOURCES = ("coach", "self")


class Outcome(Base):
    """What became of a person: started a training, got a job, went back to education."""

    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # one of OUTCOME_KINDS
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="SET NULL")
    )
    detail: Mapped[str] = mapped_column(String(300), default="")
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(16), default="coach")  # one of OUTCOME_SOURCES
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    person: Mapped[Person] = relationship(back_populates="outcomes")
    opportunity: Mapped[Opportunity | None] = relationship(lazy="joined")


class Conversation(Base):
    """One conversation (all sessions of one pseudonym), summarised from Rasa's tracker store
    for fast lists and filters, plus what coaches add: a note and whether it was reviewed.

    Filled by `bot.services.conversations.sync` from the tracker's events, in order of their
    ids; `last_event_id` is the last event folded in.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_last_at", "last_at"),
        Index("ix_conversations_language_last_at", "language", "last_at"),
        Index("ix_conversations_min_confidence", "min_confidence"),
    )

    sender_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    user_messages: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str | None] = mapped_column(String(8))
    languages: Mapped[str] = mapped_column(String(64), default="")  # ";"-separated, in order
    intents: Mapped[str] = mapped_column(Text, default="")  # " a b c " for LIKE '% a %'
    min_confidence: Mapped[float | None] = mapped_column()
    fallback: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    search_text: Mapped[str] = mapped_column(Text, default="")  # normalised user messages
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(Text, default="")
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    tags: Mapped[list[ConversationTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )


class ConversationTag(Base):
    """A coach's tag on a conversation ("job-ready", "follow up", ...)."""

    __tablename__ = "conversation_tags"

    sender_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.sender_id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class SyncState(Base):
    """Bookmarks of background work, by name (e.g. the last tracker event summarised)."""

    __tablename__ = "sync_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


HANDOFF_OPEN = ("waiting", "active")


class Handoff(Base):
    """A young person's request for a human coach, from asking to handing back.

    waiting → active (a coach took it) → closed; or waiting → timed_out when nobody took it in
    time; or → closed by the person. While it is open the bot does not answer. The Telegram
    chat id is kept only while it is open, so that a coach can write to the person.
    """

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_status_requested_at", "status", "requested_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    reason: Mapped[str] = mapped_column(String(16), default="request")  # request or crisis
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    category: Mapped[str | None] = mapped_column(String(16))  # of a crisis
    language: Mapped[str] = mapped_column(String(8), default="en")
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    taken_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)
    # The coach it was routed (or transferred) to; None: anyone may take it (urgent ones are
    # everyone's). A transfer leaves a note for the next coach.
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    transfer_note: Mapped[str] = mapped_column(Text, default="")

    coach: Mapped[User | None] = relationship(lazy="joined", foreign_keys=[taken_by])
    assignee: Mapped[User | None] = relationship(lazy="joined", foreign_keys=[assigned_to])

    @property
    def is_open(self) -> bool:
        """Whether the bot must stay silent for this person."""
        return self.status in HANDOFF_OPEN


class SavedReply(Base):
    """A reply a coach keeps to insert with a few keystrokes: shared (no owner; admins keep
    those) or a coach's own. `{name}`, `{coach}` and `{opportunity:ID}` are filled in for the
    person it goes to."""

    __tablename__ = "saved_replies"
    __table_args__ = (Index("ix_saved_replies_language_shortcut", "language", "shortcut"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    shortcut: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Annotation(Base):
    """A coach's proposal: this message meant that intent. Admins accept it into the training
    data (as an example in the message's language) or reject it."""

    __tablename__ = "annotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(300))
    language: Mapped[str] = mapped_column(String(8))
    predicted: Mapped[str | None] = mapped_column(String(80))
    intent: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default="proposed", index=True)
    proposed_by: Mapped[str] = mapped_column(String(40))
    proposed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
