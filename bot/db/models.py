"""SQLAlchemy 2 models of the application database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# A naming convention so Alembic migrations name constraints the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


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


class ButtonPayload(Base):
    """A button payload too long for Telegram's 64-byte `callback_data`, under a short key."""

    __tablename__ = "button_payloads"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


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

    coach: Mapped[User | None] = relationship(lazy="joined")

    @property
    def is_open(self) -> bool:
        """Whether the bot must stay silent for this person."""
        return self.status in HANDOFF_OPEN


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
