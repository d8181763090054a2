"""Reading Telegram's raw updates (JSON as the Bot API sends them), before python-telegram-bot
parses them: what the inbox needs to store an update, even a malformed one."""

from __future__ import annotations

from typing import Any

from bot.services.inbox import Incoming


def chat_of(payload: dict[str, Any]) -> int | None:
    """The chat an update belongs to, read from the raw update (also when it is malformed):
    the first `chat.id` of its content, else its sender's id (a private chat has the same id)."""
    for key, value in payload.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        inner = value.get("message") if key == "callback_query" else value
        for holder in (inner, value):
            if isinstance(holder, dict):
                chat = holder.get("chat")
                if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                    return chat["id"]
        sender = value.get("from")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return sender["id"]
    return None


def incoming(payload: dict[str, Any]) -> Incoming:
    """A raw update as the inbox stores it."""
    return Incoming(payload["update_id"], chat_of(payload), payload)
