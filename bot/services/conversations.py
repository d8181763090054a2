"""Conversations for the coach console: summaries of Rasa's tracker store, and what coaches add
(tags, a note, reviewed). Listing and filtering them: `bot.services.conversation_list`.

Rasa's tracker store holds every event under the person's pseudonym. Listing and filtering
100,000 conversations by reading those events on each page would be slow, so `sync` folds new
events (in order of their ids) into one `conversations` row per pseudonym, with indexes for the
filters. Transcripts are read from the tracker store itself.
"""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.db.models import (
    Annotation,
    Conversation,
    ConversationTag,
    DetailsViewed,
    Handoff,
    Rating,
    SyncState,
)
from bot.db.session import insert_ignoring_conflicts
from bot.refusal import Refusal
from bot.services import misunderstood
from bot.services.events import Event, EventLog
from bot.text import normalise

SYNC_KEY = "tracker_events"
FALLBACK_INTENT = "nlu_fallback"
# Messages the bot did not understand: unsure (fallback), or nonsense and questions outside
# what it does (out_of_scope: the NLU's class for "blah blah" and "what's the weather")
NOT_UNDERSTOOD = frozenset({FALLBACK_INTENT, "out_of_scope"})
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


def aware(value: dt.datetime) -> dt.datetime:
    """SQLite gives stored UTC times back without their zone."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _fold(row: Conversation, event: Event, replay: bool = False) -> None:
    """Fold one logged event into a conversation's summary. A `replay` is a message Rasa reads
    again after a `rewind` (its two-stage fallback): the same message, not a new one."""
    when = _when(event.timestamp)
    row.started_at = min(aware(row.started_at), when)
    if event.kind in ("user", "bot"):
        row.last_at = max(aware(row.last_at), when)
    if event.kind == "user":
        row.user_messages += 0 if replay else 1
        name, confidence = event.intent, event.confidence
        if name:
            if f" {name} " not in row.intents:
                row.intents = (row.intents or " ") + f"{name} "
            if name in NOT_UNDERSTOOD:
                row.fallback = True
        if confidence is not None and not event.text.startswith("/"):
            current = row.min_confidence
            row.min_confidence = confidence if current is None else min(current, confidence)
        if event.language:
            _set_language(row, event.language)
        text = event.text
        searchable = text and not text.startswith("/") and not replay
        if searchable and len(row.search_text) < SEARCH_TEXT_LIMIT:
            row.search_text = (row.search_text + " " + normalise(text)).strip()
    elif event.kind == "action" and event.name in FALLBACK_ACTIONS:
        row.fallback = True
    elif event.kind == "slot" and event.name == "language" and event.value:
        _set_language(row, str(event.value))


def _set_language(row: Conversation, language: str) -> None:
    row.language = language
    known = [code for code in row.languages.split(";") if code]
    if language not in known:
        row.languages = ";".join([*known, language])


def sync(session: Session, log: EventLog, batch: int = 5000) -> int:
    """Fold the events logged since the last sync into the summaries; returns how many events
    were read. Safe to call on every page view, by several processes at once (dashboard
    replicas, the command line): one sync at a time per process, and across processes the
    bookmark's row is locked (written first) before it is read, so no event is folded twice."""
    with _sync_lock:
        known = session.get(SyncState, SYNC_KEY)
        if known is not None and not log.events(after=known.value, limit=1):
            return 0  # nothing new: no lock taken
        session.execute(
            insert_ignoring_conflicts(session, SyncState, "name").values(name=SYNC_KEY, value=0)
        )
        session.execute(
            update(SyncState).where(SyncState.name == SYNC_KEY).values(value=SyncState.value)
        )  # SQLite: the write lock; PostgreSQL: the row's lock, until this transaction ends
        state = session.get(SyncState, SYNC_KEY, populate_existing=True)
        assert state is not None
        read = 0
        while True:
            events = log.events(after=state.value, limit=batch)
            if not events:
                break
            senders = {event.sender_id for event in events}
            summaries = {
                item.sender_id: item
                for item in session.scalars(
                    select(Conversation).where(Conversation.sender_id.in_(senders))
                )
            }
            last: dict[str, str] = {}  # each sender's last event that is not bookkeeping
            for event in events:
                sender = event.sender_id
                summary = summaries.get(sender)
                if summary is None:
                    when = _when(event.timestamp)
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
                replay = last.get(sender) == "rewind"
                _fold(summary, event, replay)
                if event.kind == "user" and event.readable and not replay:
                    misunderstood.note_message(session, event)
                if event.kind not in BOOKKEEPING:
                    last[sender] = event.kind
                summary.last_event_id = event.id
            state.value = events[-1].id
            read += len(events)
            session.flush()
            if len(events) < batch:
                break
    return read


def forget(session: Session, log: EventLog, sender_id: str) -> None:
    """Erase what the console keeps about one conversation (after its logged events went):
    the summary, tags, note, handoffs, views and unanswered ratings. Also moves the sync
    bookmark back if the erased events were the newest, because SQLite may hand their ids out
    again."""
    session.execute(delete(ConversationTag).where(ConversationTag.sender_id == sender_id))
    session.execute(delete(Conversation).where(Conversation.sender_id == sender_id))
    session.execute(delete(Handoff).where(Handoff.sender_id == sender_id))
    session.execute(delete(DetailsViewed).where(DetailsViewed.sender_id == sender_id))
    session.execute(delete(Annotation).where(Annotation.sender_id == sender_id))
    session.execute(delete(Rating).where(Rating.sender_id == sender_id))  # not answered yet
    misunderstood.forget_person(session, sender_id)  # and examples taken from their words
    newest = log.newest_id()
    session.execute(
        update(SyncState)
        .where(SyncState.name == SYNC_KEY, SyncState.value > newest)
        .values(value=newest)
    )


# --- coaches' additions ---------------------------------------------------------------------

MAX_TAG = 40


class ConversationError(Refusal):
    """A change to a conversation that cannot be made, with a reason for the coach."""


def get(session: Session, sender_id: str) -> Conversation | None:
    """The summary of one conversation."""
    return session.get(Conversation, sender_id)


def add_tag(session: Session, sender_id: str, tag: str) -> str:
    """Tag a conversation; returns the tag as stored (trimmed, lower case)."""
    clean = " ".join(tag.split()).lower()
    if not clean or len(clean) > MAX_TAG:
        raise ConversationError("A tag has 1 to %(max)d characters.", max=MAX_TAG)
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
