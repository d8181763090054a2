"""One turn's replies: while an update is handled, the messages the handlers send are collected
(`Sink`), not sent; `Dispatcher` queues them in the outbox once the turn is done (decision 18).
`ConnectorBot` is the bot that collects them."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

from telegram.ext import ExtBot


@dataclass
class Sink:
    """What handling one update produced: the messages to send, and whether to retry."""

    update_id: int
    recheck: bool = False  # handled before (crash or retry): Rasa may already have the turn
    messages: list[dict[str, Any]] = field(default_factory=list)
    retry: str | None = None  # why it must be tried again ("rasa" / "actions")
    leave: list[int] = field(default_factory=list)  # chats to leave once the messages are sent

    def retry_later(self, reason: str) -> None:
        """Rasa could not answer: drop what was collected, handle the update again later."""
        self.retry = reason


SINK: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("neetbot_sink", default=None)
_CAPTURED = {"parse_mode", "reply_markup", "disable_web_page_preview"}


def current_sink() -> Sink | None:
    """The sink of the update being handled, if any."""
    return SINK.get()


class ConnectorBot(ExtBot):
    """The connector's bot: while an update is handled, `send_message` is collected for the
    outbox instead of sent, and `leave_chat` waits until the collected messages are sent;
    everything else (and every call outside an update) goes through."""

    async def send_message(self, chat_id: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        sink = SINK.get()
        if sink is None or args or not set(kwargs) <= _CAPTURED or not isinstance(chat_id, int):
            return await super().send_message(chat_id, text, *args, **kwargs)
        params: dict[str, Any] = {"chat_id": chat_id, "text": text}
        for name, value in kwargs.items():
            if value is None:
                continue
            params[name] = value.to_dict() if hasattr(value, "to_dict") else value
        sink.messages.append(params)
        return None

    async def leave_chat(self, chat_id: Any, *args: Any, **kwargs: Any) -> bool:
        sink = SINK.get()
        if sink is None or args or kwargs or not isinstance(chat_id, int):
            return await super().leave_chat(chat_id, *args, **kwargs)
        sink.leave.append(chat_id)  # after the messages collected so far (why the bot leaves)
        return True


def bot_id_of(bot: ExtBot) -> int:
    """The bot's own id, which its update ids belong to: the number before the colon of its
    token (what getMe says), else getMe's (the bot must be initialised then)."""
    prefix = bot.token.partition(":")[0]
    return int(prefix) if prefix.isdigit() else bot.id
