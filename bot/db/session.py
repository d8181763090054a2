"""Engines and sessions, created on demand (never at import time)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets foreign keys and a busy timeout (several processes).
    Errors never show the statement's parameters: they hold people's messages and profiles."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


@lru_cache
def session_factory(url: str) -> sessionmaker[Session]:
    """The session factory of this process for `url` (one engine per database)."""
    return sessionmaker(make_engine(url), expire_on_commit=False)


def insert_ignoring_conflicts(
    session: Session, model: type[Any], *key: str
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `model`'s table that skips rows whose `key` columns are already stored
    (PostgreSQL and SQLite): safe when two processes or threads insert the same row at once."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(model).on_conflict_do_nothing(index_elements=list(key))


def in_transaction(sessions: sessionmaker[Session], change: Callable[..., T], *args: Any) -> T:
    """`change(session, *args)` in a transaction of its own: committed when it returns, rolled
    back when it raises (for work handed to a thread: `asyncio.to_thread(in_transaction, ...)`)."""
    with sessions.begin() as session:
        return change(session, *args)
