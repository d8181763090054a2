"""A fake Telegram Bot API server for tests.

:class:`FakeTelegramAPI` runs a real HTTP server (a Starlette app served by uvicorn in a
background thread with its own event loop) on ``127.0.0.1`` and answers the Bot API methods the
bot uses, in the Bot API's JSON shapes. Point python-telegram-bot at it with
``Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)``.

Requests are decoded the way PTB 22's ``HTTPXRequest`` encodes them: a url-encoded form, or
``multipart/form-data`` when files are uploaded, whose complex values (``reply_markup``,
``commands``, ``scope``...) are JSON strings. JSON bodies and query strings work too. Multipart
bodies are parsed with the standard library's ``email`` package, because Starlette's
``Request.form()`` needs python-multipart, which is not a project dependency.

Telegram's flood control is opt-in: ``FakeTelegramAPI(rate_limit=30)`` answers a message with
429 and ``retry_after`` when it would be the 31st in any sliding one-second window, or when the
same chat got a message less than ``chat_interval`` (1) second before. Off by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram.constants import (
    BotCommandLimit,
    ChatType,
    InlineKeyboardButtonLimit,
    MessageLimit,
    UpdateType,
)

from .telegram_updates import DEFAULT_GROUP_TITLE, UpdateBuilder

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TOKEN = "123456:TEST-token"
BOT_USERNAME = "neet_test_bot"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Parameters that are plain strings even when they look like JSON (e.g. text="123").
_STRING_PARAMS = frozenset(
    {
        *("text", "caption", "parse_mode", "url", "secret_token", "language_code", "action"),
        *("callback_query_id", "inline_message_id", "file_id", "document", "emoji", "query"),
        *("description", "short_description", "name", "title", "ip_address"),
        *("business_connection_id", "message_effect_id"),
    }
)
_DEFAULT_UPDATE_TYPES = frozenset(UpdateType) - {
    UpdateType.CHAT_MEMBER,
    UpdateType.MESSAGE_REACTION,
    UpdateType.MESSAGE_REACTION_COUNT,
}
_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
}
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active;"
    " use deleteWebhook to delete the webhook first"
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are"
    " exactly the same as a current content and reply markup of the message"
)
_COMMAND_RE = re.compile(rf"^[a-z0-9_]{{1,{BotCommandLimit.MAX_COMMAND}}}$")
# The methods Telegram's flood control counts as messages (when ``rate_limit`` is on).
_RATE_LIMITED = frozenset({"sendMessage", "sendDocument"})


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    field: str
    filename: str
    content: bytes
    content_type: str


@dataclass
class Call:
    """One recorded API call.

    ``params`` are decoded (JSON fields as dicts/lists, numbers as ints; uploaded file parts as
    :class:`UploadedFile`, also found in ``files``); ``time`` is ``time.monotonic()`` at arrival;
    ``error_code`` is set when the call was answered with an error.
    """

    method: str
    params: dict[str, Any]
    time: float
    files: dict[str, UploadedFile] = field(default_factory=dict)
    error_code: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the call was answered with ``"ok": true``."""
        return self.error_code is None


class ApiError(Exception):
    """An error answer in the Bot API's shape."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.error_code, self.description, self.retry_after = error_code, description, retry_after

    def body(self) -> dict[str, Any]:
        """Return the JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class _Failure:
    method: str
    error: ApiError
    remaining: int
    chat_id: int | str | None


def _decode(name: str, value: Any) -> Any:
    """JSON-decode a parameter value unless it is a plain-string parameter."""
    if name in _STRING_PARAMS or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Split a multipart/form-data body into text fields and uploaded files."""
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = payload.decode()
        else:
            files[name] = UploadedFile(name, filename, payload, part.get_content_type())
    return fields, files


async def _parse_request(request: Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Return the decoded parameters (files included) and the uploaded files."""
    raw: dict[str, Any] = dict(request.query_params)
    files: dict[str, UploadedFile] = {}
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        fields, files = _parse_multipart(content_type, body)
        raw.update(fields)
    elif content_type.startswith("application/json") and body:
        raw.update(json.loads(body))
    elif body:
        raw.update(parse_qsl(body.decode(), keep_blank_values=True))
    params = {name: _decode(name, value) for name, value in raw.items()}
    params.update(files)
    return params, files


def _update_type(update: dict[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _check_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    """Validate ``reply_markup``; return it if it is an inline keyboard (Telegram echoes those)."""
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data", "")
            if len(data.encode()) > InlineKeyboardButtonLimit.MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup if "inline_keyboard" in markup else None


def _check_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text) > MessageLimit.MAX_TEXT_LENGTH:
        raise ApiError(400, "Bad Request: message is too long")
    return text


def _int_param(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    return default if value in (None, "") else int(value)


class FakeTelegramAPI(UpdateBuilder):
    """A fake Bot API server recording every call; see the module docstring.

    ``rate_limit`` (messages a second overall) and ``chat_interval`` (seconds between two
    messages to one chat) turn on Telegram-like 429 answers; ``None``, the default, is off.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = BOT_USERNAME,
        rate_limit: int | None = None,
        chat_interval: float = 1.0,
    ):
        super().__init__()
        self._token = token
        self._rate_limit = rate_limit
        self._chat_interval = chat_interval
        prefix = token.split(":", 1)[0]
        self._bot_user: dict[str, Any] = {
            "id": int(prefix) if prefix.isdigit() else 123456,
            "is_bot": True,
            "first_name": "NEET Test Bot",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._lock = threading.RLock()
        # Like Telegram's, update ids are large and differ between servers: a fake started
        # later in a test session never reuses the ids an earlier one gave out.
        self._last_update_id = int(time.time() * 1000)
        self._message_counters: dict[int, int] = {}
        self._reset_state()
        self._port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Event] = set()
        self._closing = False
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": lambda _: self._bot_user,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": lambda p: self._commands.get(self._commands_key(p), []),
            "deleteMyCommands": self._delete_my_commands,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getFile": self._get_file,
            "leaveChat": self._leave_chat,
        }
        for name in ("sendChatAction", "answerCallbackQuery", "deleteMessage", "close", "logOut"):
            self._handlers[name] = lambda _: True
        self._methods = {name.lower(): name for name in self._handlers}
        self._app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", self._download),
            ],
            exception_handlers={404: self._not_found},
        )

    def _reset_state(self) -> None:
        self._calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._failures: list[_Failure] = []
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._files: dict[str, bytes] = {}
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._webhook: dict[str, Any] = {}
        self._allowed_updates: list[str] = []
        self._accepted: deque[float] = deque()  # times of messages let through (rate_limit)
        self._last_to_chat: dict[Any, float] = {}
        self._left: set[int] = set()  # groups the bot left (until an update shows it back)

    # -- addresses --------------------------------------------------------------------------------

    @property
    def token(self) -> str:
        """The only token the server accepts."""
        return self._token

    @property
    def url(self) -> str:
        """Root URL of the server, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """Value for PTB's ``base_url`` (``{url}/bot``)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for PTB's ``base_file_url`` (``{url}/file/bot``)."""
        return f"{self.url}/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot's ``User`` object as returned by getMe."""
        return dict(self._bot_user)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> FakeTelegramAPI:
        """Start serving on a free port; return once the server accepts connections."""
        if self._thread is not None:
            return self
        # IPPROTO_TCP explicitly, else asyncio skips TCP_NODELAY (40 ms per keep-alive reply).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_config=None,  # leave the test session's logging configuration alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        self._server, self._closing = uvicorn.Server(config), False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, args=(self._server, self._loop, sock), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("fake Telegram API server failed to start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop the server (waking pending long polls) and wait for its thread to end."""
        if self._thread is None or self._server is None:
            return
        self._closing = True
        self._wake()
        self._server.should_exit = True
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            logger.warning("fake Telegram API server thread did not stop in time")
        self._thread = self._server = self._loop = None

    def __enter__(self) -> FakeTelegramAPI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @staticmethod
    def _serve(
        server: uvicorn.Server, loop: asyncio.AbstractEventLoop, sock: socket.socket
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        finally:
            loop.close()
            sock.close()

    # -- inspection -------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every answered call of a known method with the right token, in answer order.

        A long-polling getUpdates shows up once it has been answered.
        """
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The calls of one method (e.g. ``"sendMessage"``)."""
        return [call for call in self.calls if call.method == method]

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The params of successful sendMessage calls (optionally to one chat), in order."""
        return [
            call.params
            for call in self.calls_to("sendMessage")
            if call.ok and chat_id in (None, call.params.get("chat_id"))
        ]

    def send_times(self, chat_id: int | None = None) -> list[float]:
        """Arrival times of every ``send*`` attempt except sendChatAction, failed ones too."""
        return [
            call.time
            for call in self.calls
            if call.method.startswith("send")
            and call.method != "sendChatAction"
            and chat_id in (None, call.params.get("chat_id"))
        ]

    @property
    def left_chats(self) -> set[int]:
        """The group chats the bot left (leaveChat) and was not seen back in since."""
        with self._lock:
            return set(self._left)

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed through getUpdates' ``offset``."""
        with self._lock:
            return list(self._updates)

    def my_commands(
        self, language_code: str = "", scope: dict[str, Any] | None = None
    ) -> list[dict[str, Any]] | None:
        """Commands stored by setMyCommands for that language and scope (None if never set)."""
        params = {"language_code": language_code, "scope": scope}
        with self._lock:
            return self._commands.get(self._commands_key(params))

    @property
    def webhook(self) -> dict[str, Any]:
        """The webhook settings stored by setWebhook (empty when none is set)."""
        with self._lock:
            return dict(self._webhook)

    def clear(self) -> None:
        """Forget calls, queued updates, injected failures and all stored bot state.

        Update and message ids keep increasing, so offsets held by a bot stay valid.
        """
        with self._lock:
            self._reset_state()

    # -- waiting ----------------------------------------------------------------------------------

    def _timeout_error(self, timeout: float) -> TimeoutError:
        recent = ", ".join(call.method for call in self.calls[-20:])
        return TimeoutError(f"condition not met within {timeout}s; last calls: {recent}")

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:
        """Poll ``predicate`` until it returns something truthy and return it.

        This blocks the calling thread: in an async test whose event loop runs the bot, use
        :meth:`async_wait_for` instead. Raises ``TimeoutError`` listing the latest calls.
        """
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise self._timeout_error(timeout)
            time.sleep(0.01)
        return result

    async def async_wait_for(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:
        """Like :meth:`wait_for`, but yields to the event loop (for async tests)."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise self._timeout_error(timeout)
            await asyncio.sleep(0.01)
        return result

    def wait_for_messages(
        self, chat_id: int | None, count: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until ``count`` messages were sent to ``chat_id``; return all sent there."""
        self.wait_for(lambda: len(self.sent_messages(chat_id)) >= count, timeout)
        return self.sent_messages(chat_id)

    async def async_wait_for_messages(
        self, chat_id: int | None, count: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Async variant of :meth:`wait_for_messages`."""
        await self.async_wait_for(lambda: len(self.sent_messages(chat_id)) >= count, timeout)
        return self.sent_messages(chat_id)

    # -- simulating users -------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue ``update`` for getUpdates, assigning an ``update_id`` if missing; return it."""
        with self._lock:
            if "update_id" not in update:
                update = {**update, "update_id": self._allocate_update_id()}
            self._last_update_id = max(self._last_update_id, update["update_id"])
            self._updates.append(update)
        self._wake()
        return int(update["update_id"])

    def send_text(self, user_id: int, text: str, **kw: Any) -> int:
        """Queue a text message from ``user_id`` (see ``make_text_update``); return update_id."""
        return self.push_update(self.make_text_update(user_id, text, **kw))

    def _allocate_update_id(self) -> int:
        with self._lock:
            self._last_update_id += 1
            return self._last_update_id

    def _allocate_message_id(self, chat_id: int) -> int:
        with self._lock:
            self._message_counters[chat_id] = self._message_counters.get(chat_id, 0) + 1
            return self._message_counters[chat_id]

    def _remember_chat(self, chat: dict[str, Any]) -> None:
        with self._lock:
            self._chats[chat["id"]] = chat
            self._left.discard(chat["id"])  # an update from it: the bot was added back

    def _remember_file(self, file_id: str, content: bytes) -> None:
        with self._lock:
            self._files[file_id] = content

    def _bot_message(
        self, chat: dict[str, Any], message_id: int | None, data: str
    ) -> dict[str, Any]:
        with self._lock:
            if message_id is None:
                message_id = self._message_with_button(chat["id"], data)
            key = (chat["id"], message_id or 0)
            if key not in self._messages:
                message = super()._bot_message(chat, message_id, data)
                message["from"] = self._bot_user
                key = (chat["id"], message["message_id"])
                self._messages[key] = message
                counter = self._message_counters.get(chat["id"], 0)
                self._message_counters[chat["id"]] = max(counter, key[1])
            return self._messages[key]

    def _message_with_button(self, chat_id: int, data: str) -> int | None:
        """The latest bot message in the chat with a button for ``data``, else the latest."""
        ids = sorted((mid for cid, mid in self._messages if cid == chat_id), reverse=True)
        for message_id in ids:
            markup = self._messages[(chat_id, message_id)].get("reply_markup") or {}
            rows = markup.get("inline_keyboard", [])
            if any(button.get("callback_data") == data for row in rows for button in row):
                return message_id
        return ids[0] if ids else None

    # -- error injection --------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (optionally for one chat) with an error.

        A 429 without ``retry_after`` gets ``retry_after=1``; descriptions default to Telegram's.
        """
        if error_code == 429:
            retry_after = 1 if retry_after is None else retry_after
            default = f"Too Many Requests: retry after {retry_after}"
        else:
            default = _DESCRIPTIONS.get(error_code, "Bad Request")
        error = ApiError(error_code, description or default, retry_after)
        with self._lock:
            self._failures.append(_Failure(method, error, times, chat_id))

    def _injected_failure(self, method: str, params: dict[str, Any]) -> _Failure | None:
        return next(
            (
                failure
                for failure in self._failures
                if failure.method == method and failure.chat_id in (None, params.get("chat_id"))
            ),
            None,
        )

    def _check_flood(self, params: dict[str, Any]) -> None:
        """Raise a 429 as Telegram would if this message breaks the opt-in rate limits (only
        messages that were answered ok count)."""
        assert self._rate_limit is not None
        moment = time.monotonic()
        while self._accepted and self._accepted[0] <= moment - 1.0:
            self._accepted.popleft()
        if len(self._accepted) >= self._rate_limit:
            raise self._too_many(self._accepted[0] + 1.0 - moment)
        chat = params.get("chat_id")
        last = self._last_to_chat.get(chat)
        if last is not None and moment - last < self._chat_interval:
            raise self._too_many(last + self._chat_interval - moment)

    @staticmethod
    def _too_many(wait: float) -> ApiError:
        retry_after = max(1, math.ceil(wait))
        return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)

    @property
    def rate_limited(self) -> list[Call]:
        """The calls answered with 429 (by ``rate_limit`` or by ``fail_next``)."""
        return [call for call in self.calls if call.error_code == 429]

    # -- webhook delivery -------------------------------------------------------------------------

    def _webhook_request(
        self, update: dict[str, Any], url: str | None, secret_token: str | None
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        hook = self.webhook
        target = url or hook.get("url")
        if not target:
            raise RuntimeError("no webhook URL: call setWebhook first or pass url=")
        secret = hook.get("secret_token") if secret_token is None else secret_token
        headers = {SECRET_HEADER: secret} if secret else {}
        if "update_id" not in update:
            update = {**update, "update_id": self._allocate_update_id()}
        return target, headers, update

    def deliver_webhook(
        self, update: dict[str, Any], url: str | None = None, secret_token: str | None = None
    ) -> httpx.Response:
        """POST ``update`` to the webhook as Telegram would (blocking).

        ``url``/``secret_token`` default to what setWebhook stored; ``secret_token=""`` omits
        the ``X-Telegram-Bot-Api-Secret-Token`` header.
        """
        target, headers, payload = self._webhook_request(update, url, secret_token)
        return httpx.post(target, json=payload, headers=headers, timeout=10, trust_env=False)

    async def async_deliver_webhook(
        self, update: dict[str, Any], url: str | None = None, secret_token: str | None = None
    ) -> httpx.Response:
        """Async variant of :meth:`deliver_webhook` (use it when the receiver shares the loop)."""
        target, headers, payload = self._webhook_request(update, url, secret_token)
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            return await client.post(target, json=payload, headers=headers)

    # -- HTTP layer -------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        arrived = time.monotonic()
        if request.path_params["token"] != self._token:
            return JSONResponse(ApiError(401, "Unauthorized").body(), status_code=401)
        method = self._methods.get(request.path_params["method"].lower())
        if method is None:
            logger.warning("fake Telegram API: unknown method %s", request.path_params["method"])
            return await self._not_found(request, HTTPException(404))
        try:
            params, files = await _parse_request(request)
        except ValueError:
            return JSONResponse(ApiError(400, "Bad Request: can't parse JSON").body(), 400)
        if method == "getUpdates":
            await self._await_updates(params)
        status, body = self._process(method, params, files, arrived)
        return JSONResponse(body, status_code=status)

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return JSONResponse(ApiError(404, "Not Found").body(), status_code=404)

    async def _download(self, request: Request) -> Response:
        file_id = request.path_params["file_path"].rsplit("/", 1)[-1]
        with self._lock:
            content = self._files.get(file_id)
        if request.path_params["token"] != self._token or content is None:
            return await self._not_found(request, HTTPException(404))
        return Response(content, media_type="application/octet-stream")

    def _process(
        self, method: str, params: dict[str, Any], files: dict[str, UploadedFile], arrived: float
    ) -> tuple[int, dict[str, Any]]:
        """Run one call under the lock and record it together with its outcome."""
        with self._lock:
            call = Call(method, params, arrived, files)
            self._calls.append(call)
            try:
                failure = self._injected_failure(method, params)
                if failure is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    raise failure.error
                limited = self._rate_limit is not None and method in _RATE_LIMITED
                if limited:
                    self._check_flood(params)
                result = self._handlers[method](params)
                if limited:
                    self._accepted.append(time.monotonic())
                    self._last_to_chat[params.get("chat_id")] = self._accepted[-1]
                return 200, {"ok": True, "result": result}
            except ApiError as error:
                call.error_code = error.error_code
                return error.error_code, error.body()
            except Exception:  # a bug in the fake or absurd params: answer like Telegram's 500
                logger.exception("fake Telegram API: %s failed", method)
                call.error_code = 500
                return 500, ApiError(500, "Internal Server Error").body()

    async def _await_updates(self, params: dict[str, Any]) -> None:
        """Long polling: return once getUpdates has something to answer or its timeout ends."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(params.get("timeout") or 0)
        while not self._closing:
            with self._lock:
                if (
                    self._webhook.get("url")
                    or self._injected_failure("getUpdates", params)
                    or self._deliverable(params)
                ):
                    return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            event = asyncio.Event()
            self._waiters.add(event)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                self._waiters.discard(event)

    def _wake(self) -> None:
        """Wake long polls from any thread."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(self._notify_waiters)

    def _notify_waiters(self) -> None:
        for event in self._waiters:
            event.set()

    # -- method handlers (called with the lock held) ----------------------------------------------

    def _deliverable(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Confirm updates below ``offset``, drop unwanted types, return what is left."""
        offset = _int_param(params, "offset", 0)
        if offset < 0:
            self._updates = self._updates[offset:]
        elif offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if isinstance(params.get("allowed_updates"), list):
            self._allowed_updates = list(params["allowed_updates"])
        wanted = set(self._allowed_updates) or _DEFAULT_UPDATE_TYPES
        self._updates = [u for u in self._updates if _update_type(u) in wanted]
        return self._updates

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self._webhook.get("url"):
            raise ApiError(409, _WEBHOOK_CONFLICT)
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        return list(self._deliverable(params)[:limit])

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self._chats:
            return self._chats[chat_id]
        if chat_id > 0:
            return {"id": chat_id, "type": ChatType.PRIVATE.value, "first_name": "User"}
        return {"id": chat_id, "type": ChatType.GROUP.value, "title": DEFAULT_GROUP_TITLE}

    def _new_message(self, params: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        if chat["id"] in self._left:
            raise ApiError(403, "Forbidden: bot is not a member of the group chat")
        markup = _check_markup(params)
        message = {
            "message_id": self._allocate_message_id(chat["id"]),
            "from": self._bot_user,
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        if markup is not None:
            message["reply_markup"] = markup
        self._messages[(chat["id"], message["message_id"])] = message
        return message

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        content: dict[str, Any] = {"text": _check_text(params.get("text"))}
        if params.get("entities"):
            content["entities"] = params["entities"]
        return self._new_message(params, content)

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        upload = params.get("document")
        if isinstance(upload, UploadedFile):
            file_id = self._unique_id("document-file-")
            self._files[file_id] = upload.content
            document: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"u-{file_id}"}
            document.update(file_name=upload.filename, mime_type=upload.content_type)
            document["file_size"] = len(upload.content)
        elif isinstance(upload, str) and upload:
            document = {"file_id": upload, "file_unique_id": f"u-{upload}"}
        else:
            raise ApiError(400, "Bad Request: there is no document in the request")
        content: dict[str, Any] = {"document": document}
        if params.get("caption"):
            if len(params["caption"]) > MessageLimit.CAPTION_LENGTH:
                raise ApiError(400, "Bad Request: message caption is too long")
            content["caption"] = params["caption"]
        return self._new_message(params, content)

    def _edit(self, params: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any] | bool:
        markup = _check_markup(params)
        if params.get("inline_message_id"):
            return True
        key = (self._chat(params)["id"], _int_param(params, "message_id", 0))
        old = self._messages.get(key)
        if old is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        dropped = ("edit_date", "reply_markup")
        new = {k: v for k, v in {**old, **changes}.items() if v is not None and k not in dropped}
        if markup is not None:
            new["reply_markup"] = markup
        if new == {k: v for k, v in old.items() if k != "edit_date"}:
            raise ApiError(400, _NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        self._messages[key] = new
        return new

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        text = _check_text(params.get("text"))
        return self._edit(params, {"text": text, "entities": params.get("entities") or None})

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        return self._edit(params, {})

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), params.get("language_code") or ""

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if not all(_COMMAND_RE.match(str(c.get("command", ""))) for c in commands):
            raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self._commands[self._commands_key(params)] = list(commands)
        return True

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        if not params.get("url"):
            return self._delete_webhook(params)
        if params.get("drop_pending_updates"):
            self._updates = []
        keys = ("url", "secret_token", "allowed_updates", "max_connections")
        self._webhook = {key: params[key] for key in keys if key in params}
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates = []
        self._webhook = {}
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info = {
            "url": self._webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        for key in ("allowed_updates", "max_connections"):
            if key in self._webhook:
                info[key] = self._webhook[key]
        return info

    def _leave_chat(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params)
        if chat["type"] == ChatType.PRIVATE.value:
            raise ApiError(400, "Bad Request: chat member status can't be changed in private chats")
        if chat["id"] in self._left:
            raise ApiError(403, "Forbidden: bot is not a member of the group chat")
        self._left.add(chat["id"])
        return True

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = params.get("file_id")
        content = self._files.get(str(file_id))
        if content is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(content),
            "file_path": f"files/{file_id}",
        }
