"""Builders for realistic incoming Telegram updates (what a young person's client would send).

Every builder returns a plain ``dict`` in the Bot API's JSON shape, complete enough for
``telegram.Update.de_json`` to accept it. :class:`UpdateBuilder` works on its own (e.g. to feed
handlers directly); :class:`tests.fakes.telegram_api.FakeTelegramAPI` inherits from it and
overrides the ``_allocate_*``/``_remember_*`` hooks so ids and files are shared with the server.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from telegram.constants import ChatType, MessageEntityType

DEFAULT_GROUP_TITLE = "Test group"


def _command_entities(text: str) -> list[dict[str, Any]]:
    """Return the ``bot_command`` entity a Telegram client adds for text starting with ``/``."""
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    # Commands are ASCII, so the UTF-16 length Telegram uses equals len().
    return [{"type": MessageEntityType.BOT_COMMAND.value, "offset": 0, "length": len(command)}]


class UpdateBuilder:
    """Builds incoming updates with increasing ``update_id``/``message_id`` values."""

    def __init__(self) -> None:
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._unique = itertools.count(1)

    # -- hooks (FakeTelegramAPI overrides these to share state with the server) -----------------

    def _allocate_update_id(self) -> int:
        return next(self._update_ids)

    def _allocate_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _remember_chat(self, chat: dict[str, Any]) -> None:
        """Called with every chat a builder creates (no-op here)."""

    def _remember_file(self, file_id: str, content: bytes) -> None:
        """Called with every file a builder creates (no-op here)."""

    def _bot_message(
        self, chat: dict[str, Any], message_id: int | None, data: str
    ) -> dict[str, Any]:
        """Return the bot message the button with ``data`` belongs to (built from scratch here)."""
        return {
            "message_id": message_id or self._allocate_message_id(chat["id"]),
            "from": {"id": 1, "is_bot": True, "first_name": "Bot", "username": "bot"},
            "chat": chat,
            "date": int(time.time()),
            "text": "Choose an option",
        }

    # -- building blocks ------------------------------------------------------------------------

    def _unique_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._unique)}"

    @staticmethod
    def make_user(
        user_id: int, first_name: str = "Alex", language_code: str | None = "en"
    ) -> dict[str, Any]:
        """Return a human ``User`` object."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        return user

    def make_chat(
        self,
        user: dict[str, Any],
        chat_type: str = ChatType.PRIVATE.value,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """Return a ``Chat``: a private chat's id equals the user id; groups get a title."""
        if chat_type == ChatType.PRIVATE.value:
            chat = {"id": user["id"], "type": chat_type, "first_name": user["first_name"]}
        else:
            if chat_id is None:
                raise ValueError("chat_id is required for non-private chats")
            chat = {"id": chat_id, "type": chat_type, "title": DEFAULT_GROUP_TITLE}
        self._remember_chat(chat)
        return chat

    def make_message_update(
        self,
        user_id: int,
        content: dict[str, Any],
        *,
        first_name: str = "Alex",
        language_code: str | None = "en",
        chat_type: str = ChatType.PRIVATE.value,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """Return a ``message`` update from ``user_id`` carrying ``content`` (text, photo, ...)."""
        user = self.make_user(user_id, first_name, language_code)
        chat = self.make_chat(user, chat_type, chat_id)
        message = {
            "message_id": self._allocate_message_id(chat["id"]),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        return {"update_id": self._allocate_update_id(), "message": message}

    def _file(self, kind: str, content: bytes | None) -> dict[str, Any]:
        data = content if content is not None else f"fake {kind} bytes".encode()
        file_id = self._unique_id(f"{kind}-file-")
        self._remember_file(file_id, data)
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(data)}

    # -- public builders ------------------------------------------------------------------------

    def make_text_update(
        self,
        user_id: int,
        text: str,
        first_name: str = "Alex",
        language_code: str | None = "en",
        chat_type: str = ChatType.PRIVATE.value,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """Return a text message update; ``/command`` text gets its ``bot_command`` entity."""
        content: dict[str, Any] = {"text": text}
        entities = _command_entities(text)
        if entities:
            content["entities"] = entities
        return self.make_message_update(
            user_id,
            content,
            first_name=first_name,
            language_code=language_code,
            chat_type=chat_type,
            chat_id=chat_id,
        )

    def make_edited_text_update(
        self,
        user_id: int,
        text: str,
        message_id: int | None = None,
        first_name: str = "Alex",
        language_code: str | None = "en",
    ) -> dict[str, Any]:
        """Return an ``edited_message`` update: the person changed the text of a message they
        sent earlier (``message_id``; by default a new id, as if sent before)."""
        update = self.make_text_update(
            user_id, text, first_name=first_name, language_code=language_code
        )
        message = update.pop("message")
        if message_id is not None:
            message["message_id"] = message_id
        message["edit_date"] = message["date"]
        message["date"] -= 60
        update["edited_message"] = message
        return update

    def make_group_text_update(
        self, user_id: int, group_chat_id: int, text: str, **kw: Any
    ) -> dict[str, Any]:
        """Return a text message sent by ``user_id`` in the group ``group_chat_id``."""
        return self.make_text_update(
            user_id, text, chat_type=ChatType.GROUP.value, chat_id=group_chat_id, **kw
        )

    def make_callback_update(
        self,
        user_id: int,
        data: str,
        message_id: int | None = None,
        first_name: str = "Alex",
        language_code: str | None = "en",
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """Return a ``callback_query`` update for a button press on a bot message.

        ``message_id`` picks the bot message the keyboard was attached to; by default the fake
        server picks the latest bot message in that chat with a button carrying ``data`` (else
        the latest bot message, else a fresh placeholder message).
        """
        user = self.make_user(user_id, first_name, language_code)
        chat_type = ChatType.PRIVATE.value if chat_id is None else ChatType.GROUP.value
        chat = self.make_chat(user, chat_type, chat_id)
        query = {
            "id": self._unique_id("cbq-"),
            "from": user,
            "message": self._bot_message(chat, message_id, data),
            "chat_instance": f"instance-{chat['id']}",
            "data": data,
        }
        return {"update_id": self._allocate_update_id(), "callback_query": query}

    def make_sticker_update(self, user_id: int, emoji: str = "👍", **kw: Any) -> dict[str, Any]:
        """Return a message update carrying a regular static sticker."""
        sticker = {
            **self._file("sticker", None),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self.make_message_update(user_id, {"sticker": sticker}, **kw)

    def make_photo_update(
        self, user_id: int, caption: str | None = None, content: bytes | None = None, **kw: Any
    ) -> dict[str, Any]:
        """Return a message update carrying a photo (two sizes), optionally captioned."""
        sizes = [
            {**self._file("photo", content), "width": 90, "height": 67},
            {**self._file("photo", content), "width": 1280, "height": 960},
        ]
        body: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            body["caption"] = caption
        return self.make_message_update(user_id, body, **kw)

    def make_voice_update(
        self, user_id: int, duration: int = 3, content: bytes | None = None, **kw: Any
    ) -> dict[str, Any]:
        """Return a message update carrying an OGG/Opus voice note."""
        voice = {**self._file("voice", content), "duration": duration, "mime_type": "audio/ogg"}
        return self.make_message_update(user_id, {"voice": voice}, **kw)

    def make_document_update(
        self,
        user_id: int,
        file_name: str = "notes.txt",
        mime_type: str = "text/plain",
        content: bytes | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        """Return a message update carrying a document."""
        document = {**self._file("document", content), "file_name": file_name}
        document["mime_type"] = mime_type
        return self.make_message_update(user_id, {"document": document}, **kw)
