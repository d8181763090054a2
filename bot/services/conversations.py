"""Conversations for the coach console: summaries of Rasa's tracker store, and what coaches add
(tags, a note, reviewed). Listing and filtering them: `bot.services.conversation_list`.

Rasa's tracker store holds every event under the person's pseudonym. Listing and filtering
100,000 conversations by reading those events on each page would be slow, so `sync` folds new
events (in order of their ids) into one `conversations` row per pseudonym, with indexes for the
filters. Transcripts are read from the tracker store itself.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.db.models import (
    Annotation,
    Conversation,
    ConversationTag,
    DetailsViewed,
    Handoff,
    SyncState,
)
from bot.services.tracker_store import EVENTS, has_events, tracker_engine
from bot.text import normalise
from connectors.rasa.studio import learning

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


def _fold(
    row: Conversation, type_name: str, timestamp: float, data: dict[str, Any], replay: bool = False
) -> None:
    """Fold one tracker event into a conversation's summary. A `replay` is a message Rasa reads
    again after a `rewind` (its two-stage fallback): the same message, not a new one."""
    when = _when(timestamp)
    row.started_at = min(aware(row.started_at), when)
    if type_name in ("user", "bot"):
        row.last_at = max(aware(row.last_at), when)
    if type_name == "user":
        row.user_messages += 0 if replay else 1
        parse = data.get("parse_data") or {}
        intent = parse.get("intent") or {}
        name, confidence = intent.get("name"), intent.get("confidence")
        if name:
            if f" {name} " not in row.intents:
                row.intents = (row.intents or " ") + f"{name} "
            if name in NOT_UNDERSTOOD:
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
                replay = last.get(sender) == "rewind"
                _fold(summary, type_name, timestamp or 0.0, event, replay)
                if type_name == "user" and not replay:
                    learning.note_message(session, sender, event_id, _when(timestamp), event)
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
    learning.forget_person(session, sender_id)  # and examples taken from their words
    engine = tracker_engine(tracker_url)
    if has_events(engine):
        with engine.connect() as connection:
            newest = connection.execute(select(func.max(EVENTS.c.id))).scalar() or 0
        session.execute(
            update(SyncState)
            .where(SyncState.name == SYNC_KEY, SyncState.value > newest)
            .values(value=newest)
        )


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
