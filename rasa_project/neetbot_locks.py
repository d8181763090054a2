"""A Redis lock store whose every change is atomic, loaded by the Rasa servers
(`lock_store: type: neetbot_locks.AtomicRedisLockStore`).

Rasa 3.6's `RedisLockStore` changes a conversation's ticket lock by reading it, changing it and
writing it back: two Rasa servers receiving the same person's messages within milliseconds
both read "no lock", both take ticket 0, and both process at once. One turn's events can then
be lost when the two save the tracker. Here each change runs in a Redis transaction (WATCH,
MULTI, EXEC) and is retried if another server changed the lock in between, so tickets are
issued and served strictly in order across all servers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

_DELETE = object()


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's Redis ticket locks, changed atomically."""

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        options = dict(endpoint_config.kwargs)
        super().__init__(host=endpoint_config.url or "localhost", **options)

    def _change(self, conversation_id: str, change: Callable[[TicketLock | None], Any]) -> Any:
        """Apply `change` to the stored lock in one transaction; it returns the lock to save,
        `_DELETE`, or None to leave it; its result is also returned."""
        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    lock = TicketLock.from_dict(json.loads(raw)) if raw else None
                    outcome, result = change(lock)
                    pipe.multi()
                    if outcome is _DELETE:
                        pipe.delete(key)
                    elif outcome is not None:
                        pipe.set(key, outcome.dumps())
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue  # another server changed the lock: read it again

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Issue the next ticket (creating the lock if needed), atomically."""

        def issue(lock: TicketLock | None) -> tuple[TicketLock, int]:
            lock = lock or TicketLock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        return self._change(conversation_id, issue)

    def update_lock(self, conversation_id: str) -> None:
        """Drop expired tickets, atomically."""

        def update(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, update)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Remove a served ticket, atomically."""

        def finish(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, finish)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Remove a served ticket, and the lock if nobody waits, in one step."""

        def clean(lock: TicketLock | None) -> tuple[Any, None]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return (lock if lock.is_someone_waiting() else _DELETE), None

        self._change(conversation_id, clean)
