"""Tests for the fake Telegram Bot API server, driven by a real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

from tests.fakes.telegram_api import SECRET_HEADER, FakeTelegramAPI

USER = 4242


@pytest.fixture(scope="module")
def server() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as fake_api:
        yield fake_api


@pytest.fixture
def fake(server: FakeTelegramAPI) -> FakeTelegramAPI:
    """One server for the module, reset before every test."""
    server.clear()
    return server


@pytest.fixture
async def bot(fake: FakeTelegramAPI) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


def _keyboard(data: str = "yes") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data=data)]])


async def test_get_me_returns_the_test_bot(fake: FakeTelegramAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.username, me.is_bot, me.can_join_groups) == ("neet_test_bot", True, True)
    assert me.id == 123456
    assert len(fake.calls_to("getMe")) == 2  # Bot.initialize() already called it once


async def test_wrong_token_and_unknown_method(fake: FakeTelegramAPI) -> None:
    async with Bot(fake.token, base_url=fake.base_url) as good:
        assert good.username == "neet_test_bot"
    with pytest.raises(InvalidToken):
        await Bot("999:wrong", base_url=fake.base_url).get_me()
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{fake.base_url}{fake.token}/noSuchMethod")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_send_message_records_parsed_keyboard(fake: FakeTelegramAPI, bot: Bot) -> None:
    first = await bot.send_message(USER, "Hi!", reply_markup=_keyboard())
    second = await bot.send_message(USER, "Again")
    assert second.message_id == first.message_id + 1
    assert first.reply_markup == _keyboard()
    assert first.from_user is not None and first.from_user.username == "neet_test_bot"
    assert first.chat.type == "private"
    sent = fake.sent_messages(USER)
    assert [m["text"] for m in sent] == ["Hi!", "Again"]
    assert sent[0]["chat_id"] == USER
    assert sent[0]["reply_markup"] == {
        "inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]
    }
    assert fake.sent_messages(USER + 1) == []


async def test_text_limits_are_enforced(fake: FakeTelegramAPI, bot: Bot) -> None:
    await bot.send_message(USER, "x" * 4096)
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(USER, "")
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "Pick", reply_markup=_keyboard("é" * 33))  # 66 bytes
    assert len(fake.sent_messages(USER)) == 1
    assert [c.error_code for c in fake.calls_to("sendMessage")] == [None, 400, 400, 400]


async def test_fail_next_429_raises_retry_after(
    fake: FakeTelegramAPI, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # PTB 22 warns when retry_after is read as int
    fake.fail_next("sendMessage", 429, retry_after=3)
    with pytest.raises(RetryAfter) as excinfo:
        await bot.send_message(USER, "hello")
    assert excinfo.value.retry_after == dtm.timedelta(seconds=3)
    await bot.send_message(USER, "hello")  # only the next call fails
    assert len(fake.sent_messages(USER)) == 1
    assert len(fake.send_times(USER)) == 2


async def test_fail_next_403_only_for_one_chat(fake: FakeTelegramAPI, bot: Bot) -> None:
    fake.fail_next("sendMessage", 403, chat_id=7, times=2)
    await bot.send_message(8, "fine")
    for _ in range(2):
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(7, "blocked")
    await bot.send_message(7, "unblocked")
    assert [m["chat_id"] for m in fake.sent_messages()] == [8, 7]


async def test_no_rate_limit_by_default(fake: FakeTelegramAPI, bot: Bot) -> None:
    await asyncio.gather(*(bot.send_message(USER, f"burst {n}") for n in range(40)))
    assert len(fake.sent_messages(USER)) == 40 and fake.rate_limited == []


async def test_rate_limit_30_a_second_overall(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    with FakeTelegramAPI(rate_limit=30) as fake:
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            outcomes = await asyncio.gather(
                *(bot.send_message(1000 + n, "news") for n in range(35)), return_exceptions=True
            )
            refused = [item for item in outcomes if isinstance(item, RetryAfter)]
            assert len(refused) == 5 and len(fake.sent_messages()) == 30
            assert all(item.retry_after == dtm.timedelta(seconds=1) for item in refused)
            assert len(fake.rate_limited) == 5
            assert fake.rate_limited[0].error_code == 429
            with pytest.raises(RetryAfter):  # refused calls did not count, the window is full
                await bot.send_message(2000, "still too soon")
            await asyncio.sleep(1.05)
            await bot.send_message(2000, "a second later")
            assert len(fake.sent_messages()) == 31


async def test_rate_limit_one_message_a_second_per_chat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    with FakeTelegramAPI(rate_limit=30, chat_interval=0.3) as fake:
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            await bot.send_message(7, "first")
            with pytest.raises(RetryAfter) as excinfo:
                await bot.send_message(7, "too soon")
            assert excinfo.value.retry_after == dtm.timedelta(seconds=1)
            await bot.send_message(8, "another chat is fine")
            await asyncio.sleep(0.35)
            await bot.send_message(7, "later")
            assert [m["text"] for m in fake.sent_messages(7)] == ["first", "later"]
            assert [call.params["chat_id"] for call in fake.rate_limited] == [7]


async def test_application_polling_replies(fake: FakeTelegramAPI) -> None:
    seen: list[str] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        seen.append("start")
        await update.message.reply_text("Welcome!")

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        seen.append(update.message.text)
        await update.message.reply_text(f"You said: {update.message.text}")

    app = Application.builder().token(fake.token).base_url(fake.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)  # type: ignore[union-attr]
        fake.send_text(USER, "/start")
        fake.send_text(USER, "hello")
        sent = await fake.async_wait_for_messages(USER, 2, timeout=5)
        await app.updater.stop()  # type: ignore[union-attr]
        await app.stop()
    assert [m["text"] for m in sent] == ["Welcome!", "You said: hello"]
    assert seen == ["start", "hello"]
    assert fake.pending_updates() == []  # confirmed through offset on shutdown


async def test_offset_confirms_updates(fake: FakeTelegramAPI, bot: Bot) -> None:
    first = fake.send_text(USER, "one")
    second = fake.send_text(USER, "two")
    assert second == first + 1
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first, second]
    assert [u.update_id for u in await bot.get_updates(timeout=0, limit=1)] == [first]
    assert [u.update_id for u in await bot.get_updates(offset=second, timeout=0)] == [second]
    assert await bot.get_updates(offset=second + 1, timeout=0) == ()
    assert fake.pending_updates() == []


async def test_allowed_updates_filters_types(fake: FakeTelegramAPI, bot: Bot) -> None:
    fake.push_update(fake.make_callback_update(USER, "yes"))
    text_id = fake.send_text(USER, "hi")
    updates = await bot.get_updates(timeout=0, allowed_updates=["message"])
    assert [u.update_id for u in updates] == [text_id]


async def test_long_poll_wakes_on_push_from_another_thread(fake: FakeTelegramAPI, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    # A concurrent request is served while the long poll is pending.
    await bot.send_message(USER, "not blocked")
    threading.Timer(0.1, fake.send_text, args=(USER, "wake up")).start()
    updates = await asyncio.wait_for(poll, timeout=3)
    assert time.monotonic() - started < 1.5
    assert updates[0].message is not None and updates[0].message.text == "wake up"


async def test_long_poll_times_out_empty(fake: FakeTelegramAPI, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 2.5


async def test_send_document_recorded_and_downloadable(fake: FakeTelegramAPI, bot: Bot) -> None:
    data = b"line 1\r\nline 2\n\x00\xff binary"
    message = await bot.send_document(USER, data, filename="report.txt", caption="Your plan")
    assert message.document is not None and message.document.file_name == "report.txt"
    assert message.caption == "Your plan"
    call = fake.calls_to("sendDocument")[0]
    assert call.files["document"].content == data
    assert call.files["document"].filename == "report.txt"
    assert call.params["caption"] == "Your plan" and call.params["chat_id"] == USER
    downloaded = await (await bot.get_file(message.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == data


async def test_set_my_commands_per_language(fake: FakeTelegramAPI, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    await bot.set_my_commands([BotCommand("start", "Начать")], language_code="ru")
    assert [c["command"] for c in fake.my_commands() or []] == ["start", "help"]
    assert fake.my_commands("ru") == [{"command": "start", "description": "Начать"}]
    assert fake.my_commands("de") is None
    assert [c.description for c in await bot.get_my_commands(language_code="ru")] == ["Начать"]
    await bot.delete_my_commands(language_code="ru")
    assert fake.my_commands("ru") is None and fake.my_commands() is not None
    with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad-Command", "x")])


async def test_edit_message_text_and_markup(fake: FakeTelegramAPI, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Question?", reply_markup=_keyboard())
    edited = await bot.edit_message_text("Answered", USER, sent.message_id)
    assert isinstance(edited, type(sent)) and edited.text == "Answered"
    assert edited.reply_markup is None and edited.edit_date is not None
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("Answered", USER, sent.message_id)
    marked = await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=_keyboard())
    assert marked.reply_markup == _keyboard()  # type: ignore[union-attr]
    assert await bot.edit_message_text("x", inline_message_id="abc") is True
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", USER, 999)


async def test_builders_are_accepted_by_ptb(fake: FakeTelegramAPI, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Pick one", reply_markup=_keyboard())
    command = Update.de_json(fake.make_text_update(USER, "/start payload"), bot)
    assert command.message is not None and command.message.chat.id == USER
    assert command.message.entities[0].type == "bot_command"
    assert command.message.entities[0].length == len("/start")
    await bot.send_message(USER, "No keyboard here")
    callback = Update.de_json(fake.make_callback_update(USER, "yes"), bot)
    query = callback.callback_query
    assert query is not None and query.data == "yes" and query.from_user.id == USER
    # The message carrying the tapped button, not merely the latest one.
    assert query.message is not None and query.message.message_id == sent.message_id
    assert isinstance(query.message, Message) and query.message.reply_markup == _keyboard()
    group = Update.de_json(fake.make_group_text_update(USER, -100123, "hey all"), bot)
    assert group.effective_chat is not None and group.effective_chat.type == "group"
    media = {
        "sticker": fake.make_sticker_update(USER),
        "photo": fake.make_photo_update(USER, caption="me"),
        "voice": fake.make_voice_update(USER),
        "document": fake.make_document_update(USER),
    }
    for attribute, raw in media.items():
        message = Update.de_json(raw, bot).message
        assert message is not None and getattr(message, attribute), attribute
    ids = [raw["update_id"] for raw in media.values()]
    assert ids == sorted(set(ids))


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], dict[str, Any]]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.received
    server.shutdown()
    server.server_close()


async def test_webhook_delivery_sends_secret(
    fake: FakeTelegramAPI,
    bot: Bot,
    receiver: tuple[str, list[tuple[dict[str, str], dict[str, Any]]]],
) -> None:
    url, received = receiver
    await bot.set_webhook(url, secret_token="s3cret")
    assert (await bot.get_webhook_info()).url == url
    assert fake.webhook["secret_token"] == "s3cret"
    with pytest.raises(Conflict):
        await bot.get_updates(timeout=0)
    response = await fake.async_deliver_webhook(fake.make_text_update(USER, "hi"))
    assert response.status_code == 200
    await asyncio.to_thread(fake.deliver_webhook, {"message": {}}, secret_token="")
    (headers, body), (plain_headers, plain_body) = received
    assert headers[SECRET_HEADER] == "s3cret"
    assert SECRET_HEADER not in plain_headers and "update_id" in plain_body
    update = Update.de_json(body, bot)
    assert update.message is not None and update.message.text == "hi"
    await bot.delete_webhook()
    assert fake.webhook == {} and await bot.get_updates(timeout=0) == ()


def test_sync_usage_with_form_and_json_bodies() -> None:
    with FakeTelegramAPI(token="42:other") as fake:
        assert fake.base_url == f"{fake.url}/bot"
        endpoint = f"{fake.base_url}{fake.token}/sendMessage"
        markup = json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
        with httpx.Client(base_url=fake.base_url) as client:
            form = {"chat_id": "5", "text": "123", "reply_markup": markup}
            assert client.post(endpoint, data=form).json()["result"]["text"] == "123"
            client.post(endpoint, json={"chat_id": 5, "text": "true"})
            denied = client.post(f"{fake.base_url}123456:TEST-token/getMe")
        sent = fake.wait_for_messages(5, 2, timeout=2)
        assert [m["text"] for m in sent] == ["123", "true"]
        assert sent[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"
        assert denied.status_code == 401
        assert denied.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        with pytest.raises(TimeoutError):
            fake.wait_for(lambda: fake.calls_to("getMe"), timeout=0.1)
        fake.clear()
        assert fake.calls == [] and fake.sent_messages() == []


def test_stop_is_quick_with_a_pending_long_poll() -> None:
    fake = FakeTelegramAPI().start()
    url = f"{fake.base_url}{fake.token}/getUpdates"
    result: list[httpx.Response] = []
    poller = threading.Thread(target=lambda: result.append(httpx.post(url, data={"timeout": 30})))
    poller.start()
    fake.wait_for(lambda: fake._waiters, timeout=2)  # the long poll is waiting
    started = time.monotonic()
    fake.stop()
    poller.join(timeout=5)
    assert time.monotonic() - started < 2
    assert result and result[0].json() == {"ok": True, "result": []}
