"""What the connector's parts share, typed: python-telegram-bot's `bot_data` is one `Shared`
object (`ContextTypes(bot_data=Shared)`), not a dictionary of strings to anything."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot
from telegram.ext import Application, CallbackContext, ContextTypes

if TYPE_CHECKING:
    from connectors.telegram.bridge import Bridge
    from connectors.telegram.claims import Claims

LEFT_GROUPS_FOR = 24 * 3600.0  # seconds: Telegram re-sends a group's updates for a day at most


@dataclass
class Shared:
    """The connector's shared state. `build_application` sets the bridge and the database;
    the background loops (alerts, coaching) are started and stopped with the application."""

    bridge_: Bridge | None = None
    sessions_: sessionmaker[Session] | None = None
    claims_: Claims | None = None
    alert_bot: Bot | None = None  # its own bot, paced apart from the replies
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # group chat id → when the bot left it (time.time()), so that it says so only once
    left_groups: TTLCache[int, float] = field(
        default_factory=lambda: TTLCache(10_000, LEFT_GROUPS_FOR)
    )

    @property
    def bridge(self) -> Bridge:
        if self.bridge_ is None:
            raise RuntimeError("The connector's bridge is not set (build_application sets it)")
        return self.bridge_

    @property
    def claims(self) -> Claims:
        if self.claims_ is None:
            raise RuntimeError("The connector's claims are not set (build_application sets them)")
        return self.claims_

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self.sessions_ is None:
            raise RuntimeError("The connector's database is not set (build_application sets it)")
        return self.sessions_


CONTEXT_TYPES = ContextTypes(bot_data=Shared)
Context = CallbackContext[Any, dict[Any, Any], dict[Any, Any], Shared]
ConnectorApplication = Application[Any, Any, dict[Any, Any], dict[Any, Any], Shared, Any]
