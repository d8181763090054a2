"""A conversation's transcript for coaches: what the young person wrote, what the assistant
understood (language, intent, confidence, entities), and what it answered, as they saw it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from bot.services.events import Event, EventLog

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


def _entry(event: Event) -> Entry | None:
    when = event.time
    if event.kind == "user":
        return Entry(
            event.id,
            "user",
            when,
            text=_text(event.text),
            language=_maybe(event.language),
            intent=_maybe(event.intent),
            confidence=event.confidence,
            entities=[(_text(entity), _text(value)) for entity, value in event.entities],
            via_button=event.via_button,
        )
    if event.kind == "bot":
        buttons = [_text(title) for title in event.buttons]
        text = _text(event.text)
        if not text and not buttons:
            return None  # a message to the channel only (language, erasure, ...)
        return Entry(event.id, "bot", when, text=text, buttons=buttons, by=_maybe(event.coach))
    if event.kind == "action" and event.name not in HIDDEN_ACTIONS:
        if str(event.name or "").startswith("utter_"):
            return None  # its message is the next line
        return Entry(event.id, "action", when, text=_text(event.name))
    if event.kind == "pause":
        return Entry(event.id, "paused", when)
    if event.kind == "resume":
        return Entry(event.id, "resumed", when)
    return None


def transcript(log: EventLog, sender_id: str, after: int = 0, limit: int = 2000) -> list[Entry]:
    """The transcript of one conversation (entries after event id `after`), oldest first."""
    entries = []
    for event in log.events(sender_id, after=after, limit=limit):
        entry = _entry(event) if event.readable else None
        if entry is not None:
            entries.append(entry)
    return entries


def last_event_id(log: EventLog, sender_id: str) -> int:
    """The id of the conversation's newest event (0 if none), for the live view."""
    return log.newest_id(sender_id)
