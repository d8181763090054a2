"""Reading Rasa's SQL tracker store directly (transcripts, summaries, erasure)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    inspect,
)

# The table of Rasa's SQLTrackerStore (rasa/core/tracker_store.py), the columns we use.
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
