"""Bench only: point Rasa's built-in Telegram channel at the fake Bot API.

`bench/throughput.py` puts this directory on the Rasa server's PYTHONPATH (nowhere else) with
NEETBOT_BENCH_TELEGRAM_API=http://127.0.0.1:PORT. Rasa's installed files are not touched.

- Rasa 3.6's channel is aiogram 2's `Bot`, which reads its server from
  `aiogram.bot.api.TELEGRAM_PRODUCTION` (a frozen dataclass, so it is changed in place).
- As installed, the channel fails every update with "Event loop is closed": it sets its webhook
  at startup inside `asyncio.run()`, whose loop owns the aiohttp session aiogram then reuses on
  Sanic's loop. Here a session whose loop has closed is replaced by a new one, once.
- aiohttp keeps idle connections 15 s, the fake Bot API's server (uvicorn) only 5 s: a request
  on a connection the server is closing fails, and Rasa's channel does not retry. Telegram
  keeps connections far longer; here aiogram lets them go after 4 s, before the server does.
"""

from __future__ import annotations

import os
from typing import Any

_BASE = os.environ.get("NEETBOT_BENCH_TELEGRAM_API")
if _BASE:
    from aiogram.bot import api, base

    _fake = api.TelegramAPIServer.from_base(_BASE)
    object.__setattr__(api.TELEGRAM_PRODUCTION, "base", _fake.base)
    object.__setattr__(api.TELEGRAM_PRODUCTION, "file", _fake.file)

    _session = base.BaseBot.session

    def _live_session(bot: Any) -> Any:
        current = bot._session
        if current is not None and not current.closed and current._loop.is_closed():
            bot._session = None  # created on a loop that is gone: start a new one here
        return _session.fget(bot)

    base.BaseBot.session = property(_live_session)  # type: ignore[assignment,method-assign]

    _init = base.BaseBot.__init__

    def _init_short_keepalive(bot: Any, *args: Any, **kwargs: Any) -> None:
        _init(bot, *args, **kwargs)
        bot._connector_init["keepalive_timeout"] = 4

    base.BaseBot.__init__ = _init_short_keepalive  # type: ignore[method-assign]
