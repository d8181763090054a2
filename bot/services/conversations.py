"""Conversations for the coach console: summaries of Rasa's tracker store, filters, transcripts.

Rasa's tracker store holds every event under the person's pseudonym. Listing and filtering
100,000 conversations by reading those events on each page would be slow, so `sync` folds new
events (in order of their ids) into one `conversations` row per pseudonym, with indexes for the
filters. Transcripts are read from the tracker store itself.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from bot.db.models import (
    HANDOFF_OPEN,
    Annotation,
    Conversation,
    ConversationTag,
    DetailsViewed,
    Handoff,
    Person,
    SyncState,
)
from bot.services.tracker_store import EVENTS, has_events, tracker_engine
from bot.text import normalise

SYNC_KEY = "tracker_events"
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = {
    "action_default_fallback",
    "action_default_ask_affirmation",
    "action_two_stage_fallback",
    "utter_default",
    "utter_ask_rephrase",
}
# Events that do not change what was said (between a `rewind` and the message read again).
BOOKKEEPING = {"action", "user_featurization", "slot", "active_loop"}
SEARCH_TEXT_LIMIT = 8000  # characters of a conversation kept for free-text search
_sync_lock = threading.Lock()


def display_name(sender_id: str, person_name: str | None) -> str:
    """How a conversation is shown: the name a registered person gave, else a pseudonym."""
    return person_name or f"anon-{sender_id[:8]}"


def _when(timestamp: float | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp or 0, dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite gives stored UTC times back without their zone."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _fold(
    row: Conversation, type_name: str, timestamp: float, data: dict[str, Any], replay: bool = False
) -> None:
    """Fold one tracker event into a conversation's summary. A `replay` is a message Rasa reads
    again after a `rewind` (its two-stage fallback): the same message, not a new one."""
    when = _when(timestamp)
    row.started_at = min(_aware(row.started_at), when)
    if type_name in ("user", "bot"):
        row.last_at = max(_aware(row.last_at), when)
    if type_name == "user":
        row.user_messages += 0 if replay else 1
        parse = data.get("parse_data") or {}
        intent = parse.get("intent") or {}
        name, confidence = intent.get("name"), intent.get("confidence")
        if name:
            if f" {name} " not in row.intents:
                row.intents = (row.intents or " ") + f"{name} "
            if name == FALLBACK_INTENT:
                row.fallback = True
        if isinstance(confidence, int | float) and not str(data.get("text", "")).startswith("/"):
            current = row.min_confidence
            row.min_confidence = confidence if current is None else min(current, confidence)
        language = (data.get("metadata") or {}).get("language")
        if isinstance(language, str) and language:
            _set_language(row, language)
        text = str(data.get("text") or "")
        searchable = text and not text.startswith("/") and not replay
        if searchable and len(row.search_text) < SEARCH_TEXT_LIMIT:
            row.search_text = (row.search_text + " " + normalise(text)).strip()
    elif type_name == "action" and data.get("name") in FALLBACK_ACTIONS:
        row.fallback = True
    elif type_name == "slot" and data.get("name") == "language" and data.get("value"):
        _set_language(row, str(data["value"]))


def _set_language(row: Conversation, language: str) -> None:
    row.language = language
    known = [code for code in row.languages.split(";") if code]
    if language not in known:
        row.languages = ";".join([*known, language])


def sync(session: Session, tracker_url: str, batch: int = 5000) -> int:
    """Fold the tracker events added since the last sync into the summaries; returns how many
    events were read. One sync at a time per process; safe to call on every page view."""
    engine = tracker_engine(tracker_url)
    if not has_events(engine):
        return 0
    with _sync_lock:
        state = session.get(SyncState, SYNC_KEY) or SyncState(name=SYNC_KEY, value=0)
        session.add(state)
        read = 0
        while True:
            with engine.connect() as connection:
                rows = connection.execute(
                    select(
                        EVENTS.c.id,
                        EVENTS.c.sender_id,
                        EVENTS.c.type_name,
                        EVENTS.c.timestamp,
                        EVENTS.c.data,
                    )
                    .where(EVENTS.c.id > state.value)
                    .order_by(EVENTS.c.id)
                    .limit(batch)
                ).all()
            if not rows:
                break
            senders = {row.sender_id for row in rows}
            summaries = {
                item.sender_id: item
                for item in session.scalars(
                    select(Conversation).where(Conversation.sender_id.in_(senders))
                )
            }
            last: dict[str, str] = {}  # each sender's last event that is not bookkeeping
            for event_id, sender, type_name, timestamp, data in rows:
                summary = summaries.get(sender)
                if summary is None:
                    when = _when(timestamp)
                    summary = Conversation(
                        sender_id=sender,
                        started_at=when,
                        last_at=when,
                        user_messages=0,
                        languages="",
                        intents=" ",
                        fallback=False,
                        search_text="",
                        note="",
                    )
                    session.add(summary)
                    summaries[sender] = summary
                try:
                    event = json.loads(data or "{}")
                except ValueError:
                    event = {}
                _fold(summary, type_name, timestamp or 0.0, event, last.get(sender) == "rewind")
                if type_name not in BOOKKEEPING:
                    last[sender] = type_name
                summary.last_event_id = event_id
            state.value = rows[-1].id
            read += len(rows)
            session.flush()
            if len(rows) < batch:
                break
    return read


def forget(session: Session, tracker_url: str, sender_id: str) -> None:
    """Erase what the console keeps about one conversation (after its tracker events went):
    the summary, tags, note, handoffs and views. Also moves the sync bookmark back if the
    erased events were the newest, because SQLite may hand their ids out again."""
    session.execute(delete(ConversationTag).where(ConversationTag.sender_id == sender_id))
    session.execute(delete(Conversation).where(Conversation.sender_id == sender_id))
    session.execute(delete(Handoff).where(Handoff.sender_id == sender_id))
    session.execute(delete(DetailsViewed).where(DetailsViewed.sender_id == sender_id))
    session.execute(delete(Annotation).where(Annotation.sender_id == sender_id))
    engine = tracker_engine(tracker_url)
    if has_events(engine):
        with engine.connect() as connection:
            newest = connection.execute(select(func.max(EVENTS.c.id))).scalar() or 0
        session.execute(
            update(SyncState)
            .where(SyncState.name == SYNC_KEY, SyncState.value > newest)
            .values(value=newest)
        )


# --- listing ------------------------------------------------------------------------------


@dataclass
class Filters:
    """The filters of the conversation list (None: not filtered)."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    language: str | None = None
    intent: str | None = None
    below: float | None = None  # lowest confidence below this
    fallback: bool | None = None
    registered: bool | None = None
    tag: str | None = None
    reviewed: bool | None = None
    waiting: bool | None = None
    query: str | None = None


@dataclass
class Row:
    """One conversation as listed."""

    sender_id: str
    name: str
    registered: bool
    started_at: dt.datetime
    last_at: dt.datetime
    user_messages: int
    language: str | None
    languages: list[str]
    intents: list[str]
    min_confidence: float | None
    fallback: bool
    reviewed: bool
    note: str
    tags: list[str] = field(default_factory=list)
    handoff: str | None = None  # waiting or active
    urgent: bool = False


@dataclass
class Page:
    """One page of a filtered list, and how many match in all."""

    rows: list[Row]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the filtered list has (at least one)."""
        return max(1, -(-self.total // self.per_page))


def _open_handoff() -> Any:
    # IN over the few open handoffs (indexed by status) beats a correlated EXISTS per row.
    return Conversation.sender_id.in_(
        select(Handoff.sender_id).where(Handoff.status.in_(HANDOFF_OPEN))
    )


def _filtered(filters: Filters) -> Select[Conversation, str | None, dt.datetime | None]:
    query = select(Conversation, Person.name, Person.registered_at).outerjoin(
        Person, Person.sender_id == Conversation.sender_id
    )
    conditions = []
    if filters.date_from:
        start = dt.datetime.combine(filters.date_from, dt.time(), dt.UTC)
        conditions.append(Conversation.last_at >= start)
    if filters.date_to:
        end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time(), dt.UTC)
        conditions.append(Conversation.started_at < end)
    if filters.language:
        conditions.append(Conversation.language == filters.language)
    if filters.intent:
        conditions.append(Conversation.intents.contains(f" {filters.intent} ", autoescape=True))
    if filters.below is not None:
        conditions.append(Conversation.min_confidence < filters.below)
    if filters.fallback is not None:
        conditions.append(Conversation.fallback.is_(filters.fallback))
    if filters.registered is True:
        conditions.append(Person.registered_at.is_not(None))
    elif filters.registered is False:
        conditions.append(Person.registered_at.is_(None))
    if filters.tag:
        conditions.append(
            exists().where(
                ConversationTag.sender_id == Conversation.sender_id,
                ConversationTag.tag == filters.tag,
            )
        )
    if filters.reviewed is True:
        conditions.append(Conversation.reviewed_at.is_not(None))
    elif filters.reviewed is False:
        conditions.append(Conversation.reviewed_at.is_(None))
    if filters.waiting is True:
        conditions.append(_open_handoff())
    elif filters.waiting is False:
        conditions.append(~_open_handoff())
    if filters.query and normalise(filters.query):
        words = normalise(filters.query)
        typed = filters.query.strip().lower()
        conditions.append(
            or_(
                Conversation.search_text.contains(words, autoescape=True),
                func.lower(Person.name).contains(typed, autoescape=True),
                Conversation.sender_id.startswith(words.removeprefix("anon "), autoescape=True),
                # pseudonyms have dashes ("tg-3f2a…", shown "anon-tg-3f2a9"), which normalise drops
                Conversation.sender_id.startswith(typed.removeprefix("anon-"), autoescape=True),
            )
        )
    return query.where(and_(*conditions)) if conditions else query


def _row(conversation: Conversation, name: str | None, registered_at: Any) -> Row:
    return Row(
        sender_id=conversation.sender_id,
        name=display_name(conversation.sender_id, name),
        registered=registered_at is not None,
        started_at=_aware(conversation.started_at),
        last_at=_aware(conversation.last_at),
        user_messages=conversation.user_messages,
        language=conversation.language,
        languages=[code for code in conversation.languages.split(";") if code],
        intents=conversation.intents.split(),
        min_confidence=conversation.min_confidence,
        fallback=conversation.fallback,
        reviewed=conversation.reviewed_at is not None,
        note=conversation.note,
        tags=sorted(tag.tag for tag in conversation.tags),
    )


def _mark_handoffs(session: Session, rows: list[Row]) -> None:
    senders = [row.sender_id for row in rows]
    if not senders:
        return
    open_handoffs = session.scalars(
        select(Handoff).where(Handoff.sender_id.in_(senders), Handoff.status.in_(HANDOFF_OPEN))
    )
    by_sender = {handoff.sender_id: handoff for handoff in open_handoffs}
    for row in rows:
        handoff = by_sender.get(row.sender_id)
        if handoff is not None:
            row.handoff, row.urgent = handoff.status, handoff.urgent


def list_conversations(
    session: Session, filters: Filters, page: int = 1, per_page: int = 25
) -> Page:
    """One page of the conversations that match, the most recently active first."""
    query = _filtered(filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    results = session.execute(
        query.order_by(Conversation.last_at.desc(), Conversation.sender_id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    rows = [_row(*result) for result in results]
    _mark_handoffs(session, rows)
    return Page(rows, total, page, per_page)


def iter_filtered(session: Session, filters: Filters, chunk: int = 1000) -> Iterator[Row]:
    """Every matching conversation (for exports), read in chunks."""
    query = _filtered(filters).order_by(Conversation.last_at.desc(), Conversation.sender_id)
    offset = 0
    while True:
        results = session.execute(query.offset(offset).limit(chunk)).all()
        if not results:
            return
        rows = [_row(*result) for result in results]
        _mark_handoffs(session, rows)
        yield from rows
        offset += chunk


@dataclass
class WaitingRow:
    """A conversation whose person waits for (or talks with) a coach: pinned on top."""

    handoff_id: int
    sender_id: str
    name: str
    status: str
    urgent: bool
    reason: str
    category: str | None
    requested_at: dt.datetime
    coach: str | None


def waiting(session: Session) -> list[WaitingRow]:
    """Open handoffs: urgent first, then the longest waiting."""
    results = session.execute(
        select(Handoff, Person.name)
        .outerjoin(Person, Person.sender_id == Handoff.sender_id)
        .where(Handoff.status.in_(HANDOFF_OPEN))
        .order_by(Handoff.urgent.desc(), (Handoff.status == "active"), Handoff.requested_at)
    ).all()
    return [
        WaitingRow(
            handoff.id,
            handoff.sender_id,
            display_name(handoff.sender_id, name),
            handoff.status,
            handoff.urgent,
            handoff.reason,
            handoff.category,
            _aware(handoff.requested_at),
            handoff.coach.username if handoff.coach else None,
        )
        for handoff, name in results
    ]


def known_values(session: Session) -> dict[str, list[str]]:
    """The languages and tags in use, for the filters' choices."""
    languages = session.scalars(
        select(Conversation.language)
        .where(Conversation.language.is_not(None))
        .distinct()
        .order_by(Conversation.language)
    )
    tags = session.scalars(select(ConversationTag.tag).distinct().order_by(ConversationTag.tag))
    return {"languages": [code for code in languages if code], "tags": list(tags)}


# --- coaches' additions ---------------------------------------------------------------------

MAX_TAG = 40


class ConversationError(ValueError):
    """A change to a conversation that cannot be made, with a reason for the coach."""


def get(session: Session, sender_id: str) -> Conversation | None:
    """The summary of one conversation."""
    return session.get(Conversation, sender_id)


def add_tag(session: Session, sender_id: str, tag: str) -> str:
    """Tag a conversation; returns the tag as stored (trimmed, lower case)."""
    clean = " ".join(tag.split()).lower()
    if not clean or len(clean) > MAX_TAG:
        raise ConversationError(f"A tag has 1 to {MAX_TAG} characters.")
    conversation = session.get(Conversation, sender_id)
    if conversation is None:
        raise ConversationError("There is no such conversation.")
    if clean not in {item.tag for item in conversation.tags}:
        conversation.tags.append(ConversationTag(sender_id=sender_id, tag=clean))
    return clean


def remove_tag(session: Session, sender_id: str, tag: str) -> None:
    """Remove a tag from a conversation (nothing happens if it was not there)."""
    session.execute(
        delete(ConversationTag).where(
            ConversationTag.sender_id == sender_id, ConversationTag.tag == tag
        )
    )
    session.expire_all()


def set_note(session: Session, sender_id: str, note: str) -> None:
    """Replace the conversation's note."""
    conversation = session.get(Conversation, sender_id)
    if conversation is None:
        raise ConversationError("There is no such conversation.")
    if len(note) > 5000:
        raise ConversationError("A note has at most 5,000 characters.")
    conversation.note = note.strip()


def set_reviewed(session: Session, sender_id: str, user_id: int, reviewed: bool) -> None:
    """Mark a conversation reviewed (by whom, when) or not reviewed."""
    conversation = session.get(Conversation, sender_id)
    if conversation is None:
        raise ConversationError("There is no such conversation.")
    conversation.reviewed_at = dt.datetime.now(dt.UTC) if reviewed else None
    conversation.reviewed_by = user_id if reviewed else None
