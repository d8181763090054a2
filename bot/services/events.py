"""The conversation log as the core sees it: plain events and the few questions the core asks of
the log. The dialogue engine keeps the log (Rasa's tracker store); `connectors.rasa.events` reads
it and answers these questions, so that no service parses the engine's own records.

Transcripts, summaries for the coach console, figures, the data export and erasure all take an
`EventLog`; the process that calls them passes the adapter (`RasaEvents`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    """One event of a conversation, oldest first by `id`.

    `kind` is what happened: "user" (the person wrote or tapped), "bot" (a message to them),
    "action" (the assistant ran `name`), "slot" (`name` set to `value`), "pause" and "resume"
    (a coach took over and handed back), "rewind" (the engine reads the last message again);
    other kinds are bookkeeping.
    """

    id: int
    sender_id: str
    kind: str
    timestamp: float
    text: str = ""
    intent: str | None = None
    confidence: float | None = None
    ranking: tuple[tuple[str, float], ...] = ()  # the best intents after `intent`, best first
    entities: tuple[tuple[str, str], ...] = ()
    language: str | None = None  # the language the channel said the person wrote in
    via_button: bool = False
    buttons: tuple[str, ...] = ()  # titles of the buttons offered with a bot message
    payloads: tuple[str, ...] = ()  # what tapping each of those buttons sends, in order
    coach: str | None = None  # a coach's display name, for a coach's message
    name: str | None = None  # an action's or a slot's name
    value: Any = None  # a slot's value
    readable: bool = True  # False when the log's record of it could not be read

    @property
    def time(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp or 0, dt.UTC)


@dataclass
class Activity:
    """What people wrote over a period: distinct people per day (UTC) and in all, and how many
    messages were understood as each intent."""

    people_per_day: dict[dt.date, int] = field(default_factory=dict)
    people: int = 0
    intents: dict[str, int] = field(default_factory=dict)  # most frequent first
    messages: int = 0


class EventLog(Protocol):
    """The questions the core asks of the conversation log."""

    def events(
        self,
        sender_id: str | None = None,
        *,
        after: int = 0,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events with an id above `after` (of one conversation, or all), oldest first."""
        ...

    def newest_id(self, sender_id: str | None = None) -> int:
        """The newest event's id (of one conversation, or all); 0 when there is none."""
        ...

    def erase(self, sender_id: str) -> int:
        """Delete every event of a conversation; returns how many went."""
        ...

    def idle_since(self, cutoff: dt.datetime) -> set[str]:
        """Conversations whose newest event is older than `cutoff`."""
        ...

    def activity(self, start: dt.datetime, end: dt.datetime) -> Activity:
        """What people wrote from `start` (included) to `end` (excluded)."""
        ...
