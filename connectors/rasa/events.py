"""Rasa's tracker store, read directly: the one reader of Rasa's event records.

Rasa's `SQLTrackerStore` (rasa/core/tracker_store.py) keeps one row per event with its JSON in
`data`. `parse` turns a row into the core's plain `Event`; `RasaEvents` answers the core's
`EventLog` questions (transcripts, summaries, figures, export, erasure) with SQL on that table.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import replace
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    cast,
    create_engine,
    delete,
    func,
    inspect,
    select,
)

from bot.services.events import Activity, Event

DAY = 86400

# The table of Rasa's SQLTrackerStore, the columns we use.
_metadata = MetaData()
EVENTS = Table(
    "events",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


@lru_cache
def tracker_engine(url: str) -> Engine:
    """An engine on Rasa's tracker store (shared per process)."""
    return create_engine(url, pool_pre_ping=True)


def has_events(engine: Engine) -> bool:
    """Whether Rasa created its events table yet (it does on its first conversation)."""
    return inspect(engine).has_table("events")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _maybe(value: Any) -> str | None:
    return None if value is None else str(value)


def parse(
    event_id: int, sender_id: str, type_name: str, timestamp: float | None, data: dict[str, Any]
) -> Event:
    """One of Rasa's event records as the core's `Event`."""
    metadata = data.get("metadata") or {}
    metadata = metadata if isinstance(metadata, dict) else {}
    base = Event(event_id, sender_id, type_name, timestamp or 0.0)
    if type_name == "user":
        parse_data = data.get("parse_data") or {}
        intent = parse_data.get("intent") or {}
        ranking = tuple(
            (str(item.get("name")), float(item["confidence"]))
            for item in parse_data.get("intent_ranking") or []
            if isinstance(item, dict) and _number(item.get("confidence")) is not None
        )
        return replace(
            base,
            text=str(data.get("text") or ""),
            intent=_maybe(intent.get("name")),
            confidence=_number(intent.get("confidence")),
            ranking=ranking,
            entities=tuple(
                (str(item.get("entity")), str(item.get("value")))
                for item in parse_data.get("entities") or []
                if isinstance(item, dict)
            ),
            language=_maybe(metadata.get("language")),
            via_button=metadata.get("via") in ("button", "coach_button"),
        )
    if type_name == "bot":
        payload = data.get("data") or {}
        offered = [
            button
            for button in (payload.get("buttons") or [] if isinstance(payload, dict) else [])
            if isinstance(button, dict)
        ]
        return replace(
            base,
            text=str(data.get("text") or ""),
            buttons=tuple(str(button.get("title", "")) for button in offered),
            payloads=tuple(str(button.get("payload", "")) for button in offered),
            coach=_maybe(metadata.get("coach")),
        )
    if type_name in ("action", "slot"):
        return replace(base, name=_maybe(data.get("name")), value=data.get("value"))
    return base


def _loaded(data: str | None) -> dict[str, Any] | None:
    try:
        loaded = json.loads(data or "{}")
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


class RasaEvents:
    """The core's `EventLog` on Rasa's tracker store at `url` (SQLAlchemy URL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = tracker_engine(url)

    def events(
        self,
        sender_id: str | None = None,
        *,
        after: int = 0,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        if not has_events(self.engine):
            return []
        query = select(
            EVENTS.c.id, EVENTS.c.sender_id, EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.data
        ).where(EVENTS.c.id > after)
        if sender_id is not None:
            query = query.where(EVENTS.c.sender_id == sender_id)
        if kinds is not None:
            query = query.where(EVENTS.c.type_name.in_(list(kinds)))
        query = query.order_by(EVENTS.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        found = []
        for event_id, sender, type_name, timestamp, data in rows:
            loaded = _loaded(data)
            if loaded is None:  # kept in the order, marked: the core decides what it means
                found.append(Event(event_id, sender, type_name, timestamp or 0.0, readable=False))
            else:
                found.append(parse(event_id, sender, type_name, timestamp or 0.0, loaded))
        return found

    def newest_id(self, sender_id: str | None = None) -> int:
        if not has_events(self.engine):
            return 0
        query = select(func.max(EVENTS.c.id))
        if sender_id is not None:
            query = query.where(EVENTS.c.sender_id == sender_id)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar() or 0)

    def erase(self, sender_id: str) -> int:
        if not has_events(self.engine):
            return 0
        with self.engine.begin() as connection:
            result = connection.execute(delete(EVENTS).where(EVENTS.c.sender_id == sender_id))
        return int(result.rowcount or 0)

    def idle_since(self, cutoff: dt.datetime) -> set[str]:
        if not has_events(self.engine):
            return set()
        with self.engine.connect() as connection:
            return set(
                connection.execute(
                    select(EVENTS.c.sender_id)
                    .group_by(EVENTS.c.sender_id)
                    .having(func.max(EVENTS.c.timestamp) < cutoff.timestamp())
                ).scalars()
            )

    def activity(self, start: dt.datetime, end: dt.datetime) -> Activity:
        found = Activity()
        if not has_events(self.engine):
            return found
        in_period = (
            EVENTS.c.type_name == "user",
            EVENTS.c.timestamp >= start.timestamp(),
            EVENTS.c.timestamp < end.timestamp(),
        )
        day_number = cast(EVENTS.c.timestamp / DAY, Integer)
        with self.engine.connect() as connection:
            for number, people in connection.execute(
                select(day_number, func.count(EVENTS.c.sender_id.distinct()))
                .where(*in_period)
                .group_by(day_number)
            ):
                day = dt.date(1970, 1, 1) + dt.timedelta(days=int(number))
                found.people_per_day[day] = int(people)
            found.people = int(
                connection.execute(
                    select(func.count(EVENTS.c.sender_id.distinct())).where(*in_period)
                ).scalar()
                or 0
            )
            intents = connection.execute(
                select(EVENTS.c.intent_name, func.count())
                .where(*in_period)
                .group_by(EVENTS.c.intent_name)
                .order_by(func.count().desc())
            ).all()
        found.messages = sum(int(count) for _, count in intents)
        found.intents = {str(name): int(count) for name, count in intents if name}
        return found
