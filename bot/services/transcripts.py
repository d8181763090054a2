"""A conversation's transcript for coaches: what the young person wrote (a tapped button as
its title, as they saw it), what the assistant understood (language, intent, confidence,
entities; nothing while a coach had the conversation: the bot did not act on it), and what it
answered. The assistant's internal steps (actions) are left out."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from bot.services.events import Event, EventLog

_PAYLOAD_VALUES = re.compile(r'"([^"{}]*)"\s*[,}]')  # the values of a payload's JSON
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
    interpreted: bool = True  # False: written while a coach had it (the bot did not act on it)

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
            "via_button": self.via_button,
            "interpreted": self.interpreted,
        }


def tapped_title(payload: str, offered: dict[str, str]) -> str:
    """What the person saw on the button they tapped: its title when the buttons offered last
    are known, else the payload's values in words (`/inform{"choice":"upper_secondary"}` →
    "upper secondary")."""
    if payload in offered:
        return offered[payload]
    values = [value.replace("_", " ") for value in _PAYLOAD_VALUES.findall(payload)]
    return ", ".join(value for value in values if value) or payload


def _entry(event: Event, offered: dict[str, str], paused: bool) -> Entry | None:
    when = event.time
    if event.kind == "user":
        text = _text(event.text)
        if event.via_button:
            text = _text(tapped_title(event.text, offered))
        return Entry(
            event.id,
            "user",
            when,
            text=text,
            language=_maybe(event.language),
            intent=None if paused else _maybe(event.intent),
            confidence=None if paused else event.confidence,
            entities=[]
            if paused
            else [(_text(entity), _text(value)) for entity, value in event.entities],
            via_button=event.via_button,
            interpreted=not paused,
        )
    if event.kind == "bot":
        buttons = [_text(title) for title in event.buttons]
        text = _text(event.text)
        if not text and not buttons:
            return None  # a message to the channel only (language, erasure, ...)
        return Entry(event.id, "bot", when, text=text, buttons=buttons, by=_maybe(event.coach))
    if event.kind == "pause":
        return Entry(event.id, "paused", when)
    if event.kind == "resume":
        return Entry(event.id, "resumed", when)
    return None  # the assistant's own steps (actions, slots, ...): not for coaches


def transcript(log: EventLog, sender_id: str, after: int = 0, limit: int = 2000) -> list[Entry]:
    """The transcript of one conversation (entries after event id `after`), oldest first."""
    entries = []
    offered: dict[str, str] = {}  # payload → title of the buttons offered last
    paused = False
    # From the start, to know the buttons offered and whether the bot was paused at `after`
    for event in log.events(sender_id, limit=None if after else limit):
        if not event.readable:
            continue
        if event.kind == "bot" and event.payloads:
            offered = dict(zip(event.payloads, event.buttons, strict=False))
        entry = _entry(event, offered, paused) if event.id > after else None
        paused = event.kind == "pause" or (paused and event.kind != "resume")
        if entry is not None:
            entries.append(entry)
            if len(entries) >= limit:
                break
    return entries


def last_event_id(log: EventLog, sender_id: str) -> int:
    """The id of the conversation's newest event (0 if none), for the live view."""
    return log.newest_id(sender_id)
