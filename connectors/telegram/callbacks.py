"""Button payloads and Telegram's 64-byte `callback_data`.

Short payloads travel as they are. Longer ones are stored under a short key ("#" + hash) in the
database, so a button keeps working after a restart of the connector.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import ButtonPayload
from bot.db.session import insert_ignoring_conflicts

KEY_PREFIX = "#"
MAX_BYTES = 64
_CACHE_SIZE = 10_000


class PayloadStore:
    """Maps payloads to callback data and back."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._cache: OrderedDict[str, str] = OrderedDict()

    def _remember(self, key: str, payload: str) -> None:
        self._cache[key] = payload
        self._cache.move_to_end(key)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)

    def encode(self, payload: str) -> str:
        """Callback data for `payload`: itself when it fits, else a stored short key."""
        return self.encode_many([payload])[payload]

    def encode_many(self, payloads: Iterable[str]) -> dict[str, str]:
        """Callback data for each payload; the long ones not yet known are stored in one
        transaction."""
        data: dict[str, str] = {}
        new: dict[str, str] = {}
        for payload in payloads:
            if len(payload.encode()) <= MAX_BYTES and not payload.startswith(KEY_PREFIX):
                data[payload] = payload
                continue
            key = KEY_PREFIX + hashlib.sha256(payload.encode()).hexdigest()[:24]
            data[payload] = key
            if key not in self._cache:
                new[key] = payload
        if new:
            rows = [{"key": key, "payload": payload} for key, payload in new.items()]
            with self._sessions.begin() as session:
                session.execute(
                    insert_ignoring_conflicts(session, ButtonPayload, "key").values(rows)
                )
            for key, payload in new.items():
                self._remember(key, payload)
        return data

    def decode(self, data: str) -> str | None:
        """The payload behind callback data; None for an unknown key."""
        if not data.startswith(KEY_PREFIX):
            return data
        if data in self._cache:
            return self._cache[data]
        with self._sessions.begin() as session:
            payload = session.scalar(select(ButtonPayload.payload).where(ButtonPayload.key == data))
        if payload is not None:
            self._remember(data, payload)
        return payload
