"""A conversation's transcript for coaches: what the young person wrote, what the assistant
understood (language, intent, confidence, entities), and what it answered, as they saw it."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot.services.tracker_store import EVENTS, has_events, tracker_engine

# Actions shown in the transcript (the others are bookkeeping: listen, session start, ...).
HIDDEN_ACTIONS = {"action_listen", "action_session_start", None}
# Half a surrogate pair: JSON can carry one ("\ud800"), UTF-8 cannot, so a page holding it
# could not be sent (a 500 for every coach opening the conversation).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: Any) -> str:
    """A value of the tracker as text a page can hold (a lone surrogate shown as "�")."""
    return _SURROGATE.sub("\ufffd", str(value))


def _maybe(value: Any) -> str | None:
    return None if value is None else _text(value)


@dataclass
class Entry:
    """One line of a transcript."""

    id: int
    kind: str  # user, bot, action, paused, resumed
    time: dt.datetime
    text: str = ""
    language: str | None = None
    intent: str | None = None
    confidence: float | None = None
    entities: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[str] = field(default_factory=list)
    by: str | None = None  # a coach's name, for their messages
    via_button: bool = False

    def as_json(self) -> dict[str, Any]:
        """The entry for the live view (JSON)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "time": self.time.isoformat(),
            "text": self.text,
            "language": self.language,
            "intent": self.intent,
            "confidence": self.confidence,
            "entities": [list(item) for item in self.entities],
            "buttons": self.buttons,
            "by": self.by,
        }


def _entry(event_id: int, type_name: str, timestamp: float, data: dict[str, Any]) -> Entry | None:
    when = dt.datetime.fromtimestamp(timestamp or 0, dt.UTC)
    if type_name == "user":
        parse = data.get("parse_data") or {}
        intent = parse.get("intent") or {}
        metadata = data.get("metadata") or {}
        return Entry(
            event_id,
            "user",
            when,
            text=_text(data.get("text") or ""),
            language=_maybe(metadata.get("language")),
            intent=_maybe(intent.get("name")),
            confidence=intent.get("confidence"),
            entities=[
                (_text(item.get("entity")), _text(item.get("value")))
                for item in parse.get("entities") or []
            ],
            via_button=metadata.get("via") == "button",
        )
    if type_name == "bot":
        payload = data.get("data") or {}
        metadata = data.get("metadata") or {}
        buttons = [_text(button.get("title", "")) for button in payload.get("buttons") or []]
        text = _text(data.get("text") or "")
        if not text and not buttons:
            return None  # a message to the channel only (language, erasure, ...)
        return Entry(
            event_id, "bot", when, text=text, buttons=buttons, by=_maybe(metadata.get("coach"))
        )
    if type_name == "action" and data.get("name") not in HIDDEN_ACTIONS:
        if str(data.get("name", "")).startswith("utter_"):
            return None  # its message is the next line
        return Entry(event_id, "action", when, text=_text(data.get("name")))
    if type_name == "pause":
        return Entry(event_id, "paused", when)
    if type_name == "resume":
        return Entry(event_id, "resumed", when)
    return None


def transcript(tracker_url: str, sender_id: str, after: int = 0, limit: int = 2000) -> list[Entry]:
    """The transcript of one conversation (entries after event id `after`), oldest first."""
    engine = tracker_engine(tracker_url)
    if not has_events(engine):
        return []
    with engine.connect() as connection:
        rows = connection.execute(
            select(EVENTS.c.id, EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.data)
            .where(EVENTS.c.sender_id == sender_id, EVENTS.c.id > after)
            .order_by(EVENTS.c.id)
            .limit(limit)
        ).all()
    entries = []
    for event_id, type_name, timestamp, data in rows:
        try:
            event = json.loads(data or "{}")
        except ValueError:
            continue
        entry = _entry(event_id, type_name, timestamp or 0.0, event)
        if entry is not None:
            entries.append(entry)
    return entries


def last_event_id(tracker_url: str, sender_id: str) -> int:
    """The id of the conversation's newest event (0 if none), for the live view."""
    engine = tracker_engine(tracker_url)
    if not has_events(engine):
        return 0
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(EVENTS.c.id)
                .where(EVENTS.c.sender_id == sender_id)
                .order_by(EVENTS.c.id.desc())
                .limit(1)
            ).scalar()
            or 0
        )
