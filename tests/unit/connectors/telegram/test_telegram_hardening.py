"""The connector's hardening, offline (issue 16): crisis words are screened wherever a person
types them (command arguments, captions, edits; never button payloads), the bot leaves groups
and ignores their buttons, the inbox tells updates of different bots apart, and the webhook
answers deeply nested JSON with a 400.

Bot API calls go to the fake server; Rasa is a stand-in that records what it was sent and
what was recorded in its transcript."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from telegram import Update

from bot.db.migrate import alembic_config, upgrade
from bot.db.models import InboundUpdate
from bot.messages import text as message_text
from bot.pseudonym import pseudonym
from bot.services import handoff, inbox, outbox
from bot.services.people import now
from connectors.telegram import delivery, sending
from connectors.telegram.app import build_application
from connectors.telegram.callbacks import PayloadStore
from connectors.telegram.coaching import Coaching
from connectors.telegram.delivery import Dispatcher
from connectors.telegram.intake import SECRET_HEADER, webhook_app
from connectors.telegram.updates import incoming
from tests.conftest import connector_settings
from tests.fakes.rasa import CoachingRasa
from tests.fakes.telegram_api import FakeTelegramAPI

HELP = "Thank you for telling me"  # the crisis help message opens with this
CRISIS = "I want to kill myself"


@pytest.fixture(scope="module")
def api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as fake:
        yield fake


@pytest.fixture
async def app(api: FakeTelegramAPI, database_url: str) -> AsyncIterator[tuple[Any, CoachingRasa]]:
    rasa = CoachingRasa()
    application = build_application(connector_settings(api, database_url), rasa)  # type: ignore[arg-type]
    await application.initialize()
    yield application, rasa
    await application.shutdown()


async def process(application: Any, update: dict[str, Any]) -> None:
    await application.process_update(Update.de_json(update, application.bot))


def sender_of(user_id: int) -> str:
    return pseudonym("k" * 32, "tg", user_id)  # connector_settings' secret key


def texts(api: FakeTelegramAPI, chat_id: int) -> list[str]:
    return [message["text"] for message in api.sent_messages(chat_id)]


def urgent_request(sessions: sessionmaker[Session], user_id: int) -> bool:
    with sessions.begin() as session:
        state = handoff.open_for(session, sender_of(user_id))
        return state is not None and state.urgent


# --- 1. crisis words are screened wherever the person typed them -------------------------------


async def test_crisis_words_after_a_command_get_help_and_an_urgent_request(
    app, api, sessions
) -> None:
    application, rasa = app
    await process(application, api.make_text_update(6001, f"/start {CRISIS}"))
    (sent,) = texts(api, 6001)
    assert HELP in sent and "112" in sent, "the help contacts, at once"
    assert urgent_request(sessions, 6001)
    assert rasa.paused == [sender_of(6001)]
    # The coaches' transcript shows what the person wrote, then the help they were given.
    assert [(text, meta.get("handoff")) for _, text, meta in rasa.received] == [(CRISIS, True)]
    assert rasa.recorded == [(sender_of(6001), sent)]


async def test_crisis_words_in_an_unknown_command_get_help(app, api, sessions) -> None:
    application, rasa = app
    await process(application, api.make_text_update(6002, "/whatever i want to die"))
    assert HELP in texts(api, 6002)[0]
    assert urgent_request(sessions, 6002)


async def test_a_captioned_photo_with_crisis_words_gets_help_not_the_text_only_note(
    app, api, sessions
) -> None:
    application, rasa = app
    await process(application, api.make_photo_update(6003, caption=f"look. {CRISIS}"))
    (sent,) = texts(api, 6003)
    assert HELP in sent and urgent_request(sessions, 6003)
    assert [text for _, text, _ in rasa.received] == [f"look. {CRISIS}"]


async def test_an_ordinary_caption_still_gets_the_text_only_note(app, api, sessions) -> None:
    application, rasa = app
    await process(application, api.make_photo_update(6004, caption="my cv"))
    assert texts(api, 6004) == [message_text("non_text", "en")]
    assert rasa.received == [] and not urgent_request(sessions, 6004)


async def test_an_edit_with_crisis_words_gets_help(app, api, sessions) -> None:
    application, rasa = app
    await process(application, api.make_edited_text_update(6005, f"jobs... no. {CRISIS}"))
    (sent,) = texts(api, 6005)
    assert HELP in sent and urgent_request(sessions, 6005)


async def test_an_ordinary_edit_is_not_sent_to_rasa_again(app, api, sessions) -> None:
    application, rasa = app
    await process(application, api.make_edited_text_update(6006, "jobs in Malta"))
    assert texts(api, 6006) == [] and rasa.received == []


async def test_a_button_payload_is_not_screened(app, api, sessions) -> None:
    application, rasa = app
    await process(application, api.make_callback_update(6007, "i want to die"))
    assert rasa.received[0][1] == "i want to die" and rasa.received[0][2]["via"] == "button"
    assert texts(api, 6007) == ["echo: i want to die"], "answered as usual, no help message"
    assert not urgent_request(sessions, 6007) and rasa.paused == []


# --- 2. groups: one note, then the bot leaves; buttons in groups do nothing --------------------


async def test_a_group_gets_the_note_once_and_the_bot_leaves(app, api) -> None:
    application, rasa = app
    first = api.make_group_text_update(6010, -1006010, "/start")
    second = api.make_group_text_update(6011, -1006010, "hi bot")  # sent before the bot left
    for group_update in (first, second):
        await process(application, group_update)
    assert texts(api, -1006010) == [message_text("group_chat", "en")]
    assert [call.params["chat_id"] for call in api.calls_to("leaveChat")] == [-1006010]
    assert rasa.received == []


async def test_a_button_in_a_group_is_answered_with_nothing(app, api) -> None:
    application, rasa = app
    tap = api.make_callback_update(6012, "/export_data", chat_id=-1006012)
    await process(application, tap)
    assert rasa.received == [] and texts(api, -1006012) == []
    assert not api.calls_to("sendDocument")
    (answer,) = [
        call
        for call in api.calls_to("answerCallbackQuery")
        if call.params["callback_query_id"] == tap["callback_query"]["id"]
    ]
    assert not answer.params.get("text"), "the spinner stops, nothing is said"


# --- through the dispatcher: the note leaves before the bot does; bots told apart --------------


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (delivery, sending):
        monkeypatch.setattr(module, "RETRY_FIRST", 0.05)
        monkeypatch.setattr(module, "RETRY_MAX", 0.1)


async def settle(dispatcher: Dispatcher, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not dispatcher.idle():
        assert time.monotonic() < deadline, "the dispatcher did not finish"
        await asyncio.sleep(0.02)


async def deliver(dispatcher: Dispatcher, *updates: dict[str, Any]) -> list[inbox.Pending]:
    fresh = await asyncio.to_thread(dispatcher.store, list(updates))
    dispatcher.accept(fresh)
    return fresh


@pytest.fixture
async def dispatcher(api, database_url) -> AsyncIterator[tuple[Dispatcher, CoachingRasa]]:
    rasa = CoachingRasa()
    application = build_application(connector_settings(api, database_url), rasa)  # type: ignore[arg-type]
    await application.initialize()
    dispatcher = Dispatcher(application)
    yield dispatcher, rasa
    await dispatcher.stop(grace=1)
    await application.shutdown()


async def test_through_the_outbox_the_note_is_sent_before_the_bot_leaves(api, dispatcher) -> None:
    dispatcher, rasa = dispatcher
    group = -1006020
    await deliver(
        dispatcher,
        api.make_text_update(6020, "hello", chat_type="supergroup", chat_id=group),
        api.make_text_update(6021, "hello?", chat_type="supergroup", chat_id=group),
    )
    await settle(dispatcher)
    assert texts(api, group) == [message_text("group_chat", "en")]
    calls = [
        call
        for call in api.calls
        if call.params.get("chat_id") == group and call.method in ("sendMessage", "leaveChat")
    ]
    assert [(call.method, call.ok) for call in calls] == [
        ("sendMessage", True),
        ("leaveChat", True),
    ]
    assert group in api.left_chats


async def test_the_same_update_id_from_two_bots_is_handled_by_each(
    api, dispatcher, database_url
) -> None:
    first, _ = dispatcher
    with FakeTelegramAPI("654321:OTHER-token") as other_api:
        rasa = CoachingRasa()
        settings = connector_settings(other_api, database_url)
        application = build_application(settings, rasa)  # type: ignore[arg-type]
        await application.initialize()
        second = Dispatcher(application)
        try:
            update = api.make_text_update(6030, "hi")
            again = other_api.make_text_update(6031, "hello")
            again["update_id"] = update["update_id"]  # the new bot's ids start over
            assert len(await deliver(first, update)) == 1
            assert len(await deliver(second, again)) == 1, "not taken for a replay"
            await settle(first)
            await settle(second)
            assert texts(api, 6030) == ["echo: hi"]
            assert texts(other_api, 6031) == ["echo: hello"]
            assert await deliver(second, again) == [], "a true replay is still stored once"
            assert await deliver(first, update) == []
        finally:
            await second.stop(grace=1)
            await application.shutdown()


def test_a_replay_is_stored_once_and_logged_without_ids_or_text(
    api, sessions, caplog: pytest.LogCaptureFixture
) -> None:
    update = api.make_text_update(6040, "my secret words")
    with sessions.begin() as session:
        assert len(inbox.store(session, 111, [incoming(update)])) == 1
        assert len(inbox.store(session, 222, [incoming(update)])) == 1, "another bot's update"
    with caplog.at_level(logging.INFO, logger="bot.services.inbox"), sessions.begin() as session:
        assert inbox.store(session, 111, [incoming(update), incoming(update)]) == []
    (record,) = [r for r in caplog.records if r.name == "bot.services.inbox"]
    assert record.levelno == logging.INFO and re.search(r"\b2\b", record.getMessage())
    assert str(update["update_id"]) not in record.getMessage()
    assert "secret" not in record.getMessage()
    with sessions.begin() as session:
        count = session.scalar(
            select(func.count())
            .select_from(InboundUpdate)
            .where(InboundUpdate.update_id == update["update_id"])
        )
    assert count == 2


async def test_updates_from_before_the_upgrade_are_handled_another_bots_are_not(
    api, dispatcher, sessions
) -> None:
    dispatcher, rasa = dispatcher
    legacy = api.make_text_update(6060, "before the upgrade")
    other = api.make_text_update(6061, "to an earlier bot")
    with sessions.begin() as session:
        inbox.store(session, inbox.LEGACY_BOT, [incoming(legacy)])
        inbox.store(session, 999, [incoming(other)])
    assert await dispatcher.recover() == 1
    await settle(dispatcher)
    assert texts(api, 6060) == ["echo: before the upgrade"]
    assert texts(api, 6061) == [], "this bot cannot answer another bot's update"
    long_ago = now() - inbox.KEEP_HANDLED - dt.timedelta(minutes=1)
    with sessions.begin() as session:
        session.execute(update(InboundUpdate).values(received_at=long_ago))
        assert inbox.prune(session, dispatcher.bot_id) == 1  # the other bot's, still pending
        left = session.execute(select(InboundUpdate.bot_id, InboundUpdate.state)).all()
    assert left == [(inbox.LEGACY_BOT, "done")], "kept two days after it was handled"


def test_the_migration_keeps_stored_updates_under_bot_0(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    upgrade(url, "0007")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO inbound_updates (update_id, chat_id, payload, state, received_at)"
                " VALUES (7, 1, '{}', 'pending', '2026-12-01 10:00:00')"
            )
        )
    upgrade(url, "0008")
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT bot_id, update_id FROM inbound_updates")).all()
        assert rows == [(0, 7)]
        connection.execute(
            text(
                "INSERT INTO inbound_updates (bot_id, update_id, chat_id, payload, state,"
                " received_at) VALUES (5, 7, 1, '{}', 'pending', '2026-12-01 10:00:00')"
            )
        )
    command.downgrade(alembic_config(url), "0007")
    with engine.begin() as connection:
        assert connection.execute(text("SELECT update_id FROM inbound_updates")).all() == [(7,)]
    engine.dispose()


# --- 4. deeply nested JSON on the webhook ------------------------------------------------------


async def test_deeply_nested_json_is_a_400_and_nothing_is_stored(api, dispatcher, sessions) -> None:
    dispatcher, rasa = dispatcher
    app = webhook_app(dispatcher, "secret")
    deep_object = '{"a":' * 10_000 + "1" + "}" * 10_000
    nested = json.dumps({"update_id": 99_000_001, "message": {"x": 1}}).replace(
        '{"x": 1}', "[" * 500 + "]" * 500
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hook"
    ) as client:

        async def post(body: str) -> int:
            response = await client.post(
                "/telegram", content=body.encode(), headers={SECRET_HEADER: "secret"}
            )
            return response.status_code

        assert await post("[" * 10_000 + "]" * 10_000) == 400
        assert await post(deep_object) == 400
        assert await post(nested) == 400, "an update nested far deeper than Telegram's"
        assert await post(json.dumps(api.make_text_update(6050, "still fine"))) == 200
        await settle(dispatcher)
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(InboundUpdate)) == 1
    assert texts(api, 6050) == ["echo: still fine"]


async def test_a_request_nobody_took_is_answered_through_the_outbox(sessions) -> None:
    """ "No coach is free" leaves through the outbox like every message to a young person (it
    used to be sent from the coaching loop directly, past the order and the retries)."""
    rasa = CoachingRasa()
    coaching = Coaching(rasa, sessions, PayloadStore(sessions), 0, 60)  # type: ignore[arg-type]
    with sessions.begin() as session:
        handoff.request(session, "tg-nobody-came", "it")
        handoff.attach_chat(session, "tg-nobody-came", 6090)
    assert await coaching.expire_once() == 1
    with sessions.begin() as session:
        (queued,) = outbox.queued(session, 6090)
    assert queued.params["text"] == message_text("handoff_timeout", "it")
    titles = [row[0]["text"] for row in queued.params["reply_markup"]["inline_keyboard"]]
    assert titles == [
        message_text("handoff_timeout_bot_button", "it"),
        message_text("handoff_timeout_again_button", "it"),
    ]
    assert rasa.recorded == [("tg-nobody-came", message_text("handoff_timeout", "it"))]
