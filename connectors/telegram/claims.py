"""This connector replica's claims (`bot.services.claims`, decision 26): chats it works on,
and the scheduled rounds when it is the one doing them. Several replicas share one database;
each has its own owner name, renews its claims while it lives and lets them go when it stops.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy.orm import Session, sessionmaker

from bot.db.session import in_transaction
from bot.services import claims
from bot.services.claims import UPKEEP, Taken, Work, owner_name

logger = logging.getLogger(__name__)

LEASE = dt.timedelta(seconds=15)  # how long a claim outlives a replica that died
RENEW_SECONDS = 5.0


class Claims:
    """Claims of one connector process, taken and given up in worker threads."""

    def __init__(self, sessions: sessionmaker[Session], lease: dt.timedelta = LEASE) -> None:
        self.sessions = sessions
        self.lease = lease
        self.owner = owner_name()

    async def take(self, key: int) -> Taken | None:
        """Claim a chat (or an update without one); None when another replica holds it."""
        return await asyncio.to_thread(
            in_transaction, self.sessions, claims.take, key, self.owner, self.lease
        )

    async def take_with_work(self, key: int, bot_id: int) -> tuple[Taken | None, Work | None]:
        """Claim a chat and read its first work, in one transaction."""
        return await asyncio.to_thread(
            in_transaction,
            self.sessions,
            claims.take_with_work,
            key,
            self.owner,
            bot_id,
            self.lease,
        )

    async def next_work(self, key: int, bot_id: int) -> Work | None:
        """The claimed chat's next work; None once there is none (the claim is dropped)."""
        return await asyncio.to_thread(
            in_transaction, self.sessions, claims.next_work, key, self.owner, bot_id, self.lease
        )

    async def leading(self) -> bool:
        """Whether this replica does the scheduled rounds now (it takes or keeps their claim)."""
        try:
            return await self.take(UPKEEP) is not None
        except Exception as error:  # the database unreachable: nobody's round this time
            logger.warning("Could not claim the scheduled rounds (%s)", type(error).__name__)
            return False

    async def unclaimed(self, bot_id: int) -> list[int]:
        """Chats with work and no live claim."""
        return await asyncio.to_thread(in_transaction, self.sessions, claims.unclaimed, bot_id)

    async def expire(self, key: int | None = None) -> None:
        """Let this replica's claims (or one) go now; never raises."""
        try:
            await asyncio.to_thread(in_transaction, self.sessions, claims.expire, self.owner, key)
        except Exception as error:  # they run out by themselves within the lease
            logger.warning("Could not give up claims (%s)", type(error).__name__)

    async def renew_forever(self, every: float = RENEW_SECONDS) -> None:
        """Keep this replica's claims alive while it runs."""
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(
                    in_transaction, self.sessions, claims.renew, self.owner, self.lease
                )
            except Exception as error:  # the next round tries again, within the lease
                logger.warning("Could not renew claims (%s)", type(error).__name__)
