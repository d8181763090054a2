"""The conversation list of the coach console: filters, pages, exports, and the conversations
waiting for a coach, pinned on top. Reads the summaries `bot.services.conversations.sync`
keeps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from bot.db.models import HANDOFF_OPEN, Conversation, ConversationTag, Handoff, Person
from bot.services.conversations import aware, display_name
from bot.services.events import EventLog
from bot.services.paging import Page, clamp
from bot.text import normalise


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
        started_at=aware(conversation.started_at),
        last_at=aware(conversation.last_at),
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
) -> Page[Row]:
    """One page of the conversations that match, the most recently active first."""
    query = _filtered(filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = clamp(page, total, per_page)
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
@dataclass(frozen=True)
class QueueRow:
    """An open request for a coach, as the queue shows it."""

    handoff_id: int
    sender_id: str
    name: str
    status: str  # waiting or active
    urgent: bool
    reason: str
    category: str | None
    language: str
    requested_at: dt.datetime
    minutes_waiting: int  # since the request (until taken, for one in progress)
    coach: str | None  # who talks with them (display name)
    assignee: str | None  # whom it waits for (display name); None: anyone
    mine: bool  # waits for the viewer, or the viewer talks with them
    needs_me: bool  # waits, and the viewer should see to it: theirs, unassigned or urgent
    transfer_note: str
    first_words: str = ""


QUEUE_VIEWS = ("mine", "unassigned", "all")


@dataclass(frozen=True)
class Queue:
    """One view of the queue, and the size of every view."""

    view: str
    rows: list[QueueRow]
    counts: dict[str, int]
    needs_me: list[int]  # ids of the waiting requests that need the viewer (the alert)


def _queue_row(handoff: Handoff, name: str | None, viewer: int, moment: dt.datetime) -> QueueRow:
    requested = aware(handoff.requested_at)
    until = aware(handoff.taken_at) if handoff.taken_at else moment
    waiting = handoff.status == "waiting"
    mine = handoff.taken_by == viewer if not waiting else handoff.assigned_to == viewer
    return QueueRow(
        handoff.id,
        handoff.sender_id,
        display_name(handoff.sender_id, name),
        handoff.status,
        handoff.urgent,
        handoff.reason,
        handoff.category,
        handoff.language,
        requested,
        max(0, int((until - requested).total_seconds() // 60)),
        handoff.coach.display_name if handoff.coach else None,
        handoff.assignee.display_name if handoff.assignee else None,
        mine,
        waiting and (mine or handoff.assigned_to is None or handoff.urgent),
        handoff.transfer_note,
    )


def _in_view(row: QueueRow, view: str) -> bool:
    if view == "mine":
        return row.mine or (row.status == "waiting" and row.urgent)
    if view == "unassigned":
        return row.status == "waiting" and row.assignee is None
    return True


def queue(session: Session, viewer: int, view: str, moment: dt.datetime) -> Queue:
    """Open requests in `view` (mine, unassigned or all): the waiting ones first, urgent first
    and then the longest waiting; then the conversations in progress."""
    results = session.execute(
        select(Handoff, Person.name)
        .outerjoin(Person, Person.sender_id == Handoff.sender_id)
        .where(Handoff.status.in_(HANDOFF_OPEN))
        .order_by((Handoff.status == "active"), Handoff.urgent.desc(), Handoff.requested_at)
    ).unique()
    rows = [_queue_row(handoff, name, viewer, moment) for handoff, name in results]
    view = view if view in QUEUE_VIEWS else "all"
    return Queue(
        view,
        [row for row in rows if _in_view(row, view)],
        {name: sum(1 for row in rows if _in_view(row, name)) for name in QUEUE_VIEWS},
        [row.handoff_id for row in rows if row.needs_me],
    )


def first_words(log: EventLog, sender_id: str, limit: int = 80) -> str:
    """The person's last typed words (what they asked), shortened for the queue."""
    said = [
        event.text
        for event in log.events(sender_id, kinds={"user"})
        if event.text and not event.via_button and not event.text.startswith("/")
    ]
    if not said:
        return ""
    words = " ".join(said[-1].split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


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
