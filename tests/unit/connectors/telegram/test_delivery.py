"""The connector's inbox and outbox, offline: updates stored once, handled in order per chat,
retried until Rasa answers (reading a lost answer back instead of asking twice), replies sent
through the outbox past 429s, network errors, 400s and 403s; the webhook's checks.

Bot API calls go to the fake server; Rasa is a stand-in that keeps each turn by update id, like
the tracker does."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import InboundUpdate, OutboxMessage, Person
from bot.services import claims, inbox, outbox
from bot.services.people import now
from connectors.rasa.client import replies_after
from connectors.telegram import delivery, sending
from connectors.telegram.app import build_application
from connectors.telegram.delivery import Dispatcher
from connectors.telegram.intake import SECRET_HEADER, webhook_app
from connectors.telegram.updates import incoming
from tests.conftest import connector_settings
from tests.fakes.rasa import TrackerRasa
from tests.fakes.telegram_api import FakeTelegramAPI


@pytest.fixture(scope="module")
def api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as fake:
        yield fake


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (delivery, sending):
        monkeypatch.setattr(module, "RETRY_FIRST", 0.05)
        monkeypatch.setattr(module, "RETRY_MAX", 0.1)


@pytest.fixture
async def setup(
    api: FakeTelegramAPI, database_url: str, sessions: sessionmaker[Session]
) -> AsyncIterator[tuple[Dispatcher, TrackerRasa]]:
    rasa = TrackerRasa()
    application = build_application(connector_settings(api, database_url), rasa)  # type: ignore[arg-type]
    await application.initialize()
    dispatcher = Dispatcher(application)
    yield dispatcher, rasa
    await dispatcher.stop(grace=1)
    await application.shutdown()


async def settle(dispatcher: Dispatcher, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not dispatcher.idle():
        assert time.monotonic() < deadline, "the dispatcher did not finish"
        await asyncio.sleep(0.02)


async def deliver(dispatcher: Dispatcher, *updates: dict[str, Any]) -> list[inbox.Pending]:
    fresh = await asyncio.to_thread(dispatcher.store, list(updates))
    dispatcher.accept(fresh)
    return fresh


def texts(api: FakeTelegramAPI, chat_id: int) -> list[str]:
    return [message["text"] for message in api.sent_messages(chat_id)]


def stored(sessions: sessionmaker[Session], update_id: int) -> InboundUpdate | None:
    with sessions.begin() as session:
        query = select(InboundUpdate).where(InboundUpdate.update_id == update_id)
        return session.scalars(query).one_or_none()  # (one bot in these tests)


def queued(sessions: sessionmaker[Session], chat_id: int) -> int:
    with sessions.begin() as session:
        return session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.chat_id == chat_id)
        )


async def test_a_replayed_update_is_stored_once_and_answered_once(setup, api, sessions) -> None:
    dispatcher, rasa = setup
    update = api.make_text_update(5001, "hi")
    first = await deliver(dispatcher, update, update)
    again = await deliver(dispatcher, update)
    assert len(first) == 1 and again == []
    await settle(dispatcher)
    assert [text for _, text, _ in rasa.received] == ["hi"]
    assert texts(api, 5001) == ["echo: hi"]
    row = stored(sessions, update["update_id"])
    assert row is not None and row.state == "done" and row.payload == "", "the text is dropped"
    assert await deliver(dispatcher, update) == [], "still recognised after it was handled"
    assert queued(sessions, 5001) == 0, "sent messages leave the outbox"


async def test_one_chat_in_order_and_chats_side_by_side(setup, api) -> None:
    dispatcher, rasa = setup
    rasa.delay = 0.2
    await deliver(
        dispatcher,
        api.make_text_update(5002, "one"),
        api.make_text_update(5002, "two"),
        api.make_text_update(5102, "other"),
        api.make_text_update(5002, "three"),
    )
    await settle(dispatcher)
    assert texts(api, 5002) == ["echo: one", "echo: two", "echo: three"]
    assert texts(api, 5102) == ["echo: other"]
    assert api.send_times(5102)[0] < api.send_times(5002)[1], "the other chat did not wait"


async def test_rasa_down_keeps_the_messages_tells_once_and_answers_when_back(
    setup, api, monkeypatch
) -> None:
    monkeypatch.setattr(delivery, "NOTICE_AFTER", 0.0)
    dispatcher, rasa = setup
    rasa.down = True
    await deliver(dispatcher, api.make_text_update(5003, "first"))
    await deliver(dispatcher, api.make_text_update(5003, "second"))
    for _ in range(100):  # the notice comes after the first failed try, however slow
        if texts(api, 5003):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # room for a second notice, which must not come
    assert len(texts(api, 5003)) == 1 and "kept your message" in texts(api, 5003)[0]
    rasa.down = False
    await settle(dispatcher)
    assert texts(api, 5003)[1:] == ["echo: first", "echo: second"]
    assert [text for _, text, _ in rasa.received] == ["first", "second"]


async def test_an_answer_lost_on_the_way_is_read_back_not_asked_twice(setup, api) -> None:
    dispatcher, rasa = setup
    rasa.lose_next = True
    await deliver(dispatcher, api.make_text_update(5004, "jobs in Malta"))
    await settle(dispatcher)
    assert len(rasa.received) == 1, "Rasa saw the message once"
    assert texts(api, 5004) == ["echo: jobs in Malta"], "a short blip is not announced"


async def test_a_turn_without_reply_is_tried_again(setup, api) -> None:
    dispatcher, rasa = setup
    rasa.silent = True  # what Rasa answers while its action server is down
    await deliver(dispatcher, api.make_text_update(5005, "courses"))
    await asyncio.sleep(0.3)
    assert texts(api, 5005) == [] and len(rasa.received) >= 2
    rasa.silent = False
    await settle(dispatcher)
    assert texts(api, 5005) == ["echo: courses"]


async def test_after_a_crash_the_outbox_goes_first_then_pending_updates(
    setup, api, sessions
) -> None:
    dispatcher, rasa = setup
    answered = api.make_text_update(5006, "answered before the crash")
    fresh = api.make_text_update(5006, "never reached Rasa")
    with sessions.begin() as session:
        inbox.store(session, dispatcher.bot_id, [incoming(answered), incoming(fresh)])
        outbox.enqueue(session, 5006, [{"chat_id": 5006, "text": "left in the outbox"}], None)
    # Rasa had answered the first one, but the connector died before the answer was queued.
    rasa.turns[answered["update_id"]] = [{"text": "the answer Rasa gave"}]
    assert await dispatcher.recover() >= 2
    await settle(dispatcher)
    assert texts(api, 5006) == [
        "left in the outbox",
        "the answer Rasa gave",
        "echo: never reached Rasa",
    ]
    assert [text for _, text, _ in rasa.received] == ["never reached Rasa"]


async def test_a_new_message_right_after_a_restart_waits_for_the_left_over_outbox(
    setup, api, sessions
) -> None:
    dispatcher, _ = setup
    with sessions.begin() as session:
        outbox.enqueue(
            session, 5017, [{"chat_id": 5017, "text": f"left over {n}"} for n in range(3)], None
        )
    assert await dispatcher.recover() == 0  # nothing pending: only the outbox is sent
    await deliver(dispatcher, api.make_text_update(5017, "hello again"))
    await settle(dispatcher)
    # Once each, in order: the restart's flush and the new turn never send the same row.
    assert texts(api, 5017) == ["left over 0", "left over 1", "left over 2", "echo: hello again"]
    assert queued(sessions, 5017) == 0


async def test_a_flush_that_waited_for_another_sends_nothing_that_one_sent(
    setup, api, sessions
) -> None:
    dispatcher, _ = setup
    sender = dispatcher.outbox
    with sessions.begin() as session:
        outbox.enqueue(session, 5018, [{"chat_id": 5018, "text": "left over"}], None)
        # Another chat's turn queues a message for this chat (as for a coach) and flushes it.
        fresh = outbox.enqueue(session, 5018, [{"chat_id": 5018, "text": "to the coach"}], None)
    sender.unsure.add(5018)  # as after a restart
    restart = asyncio.ensure_future(sender.flush(5018))  # reads both rows from the database
    await asyncio.sleep(0)  # it holds the chat's flush lock now
    turn = asyncio.ensure_future(sender.flush(5018, fresh))
    await asyncio.gather(restart, turn)
    assert texts(api, 5018) == ["left over", "to the coach"]
    assert queued(sessions, 5018) == 0


async def test_429_waits_retry_after_then_sends_once(setup, api) -> None:
    dispatcher, _ = setup
    api.fail_next("sendMessage", 429, retry_after=1, chat_id=5007)
    await deliver(dispatcher, api.make_text_update(5007, "hello"))
    await settle(dispatcher)
    calls = [c for c in api.calls_to("sendMessage") if c.params["chat_id"] == 5007]
    assert [c.error_code for c in calls] == [429, None]
    assert calls[1].time - calls[0].time >= 1.0
    assert texts(api, 5007) == ["echo: hello"]


async def test_network_errors_are_retried(setup, api) -> None:
    dispatcher, _ = setup
    api.fail_next("sendMessage", 502, times=2, chat_id=5008)
    await deliver(dispatcher, api.make_text_update(5008, "hello"))
    await settle(dispatcher)
    assert texts(api, 5008) == ["echo: hello"]


async def test_400_drops_that_message_and_sends_the_next(setup, api, sessions) -> None:
    dispatcher, _ = setup
    with sessions.begin() as session:
        messages = [{"chat_id": 5009, "text": "refused"}, {"chat_id": 5009, "text": "fine"}]
        outbox.enqueue(session, 5009, messages, None)
    api.fail_next("sendMessage", 400, chat_id=5009)
    await dispatcher.outbox.flush(5009)
    assert texts(api, 5009) == ["fine"] and queued(sessions, 5009) == 0


async def test_403_marks_the_person_and_drops_their_queue(setup, api, sessions) -> None:
    dispatcher, _ = setup
    with sessions.begin() as session:
        person = Person(
            sender_id="tg-blocked-5010",
            telegram_chat_id=5010,
            consent_at=now(),
            consent_version="1",
            last_active_at=now(),
        )
        session.add(person)
        messages = [{"chat_id": 5010, "text": "one"}, {"chat_id": 5010, "text": "two"}]
        outbox.enqueue(session, 5010, messages, None)
    api.fail_next("sendMessage", 403, chat_id=5010)
    await dispatcher.outbox.flush(5010)
    assert texts(api, 5010) == [] and queued(sessions, 5010) == 0
    assert len(api.calls_to("sendMessage")) and not [
        c for c in api.calls_to("sendMessage") if c.params["chat_id"] == 5010 and not c.error_code
    ]
    with sessions.begin() as session:
        assert session.scalars(
            select(Person.alerts_paused).where(Person.sender_id == "tg-blocked-5010")
        ).one()


async def test_the_webhook_checks_the_secret_and_the_body(setup, api, sessions) -> None:
    dispatcher, rasa = setup
    secret_value = "s3cret-token_value"
    app = webhook_app(dispatcher, secret_value)
    update = api.make_text_update(5011, "hello")
    body = json.dumps(update).encode()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hook"
    ) as client:

        async def post(content: bytes, secret: str | None = "") -> int:
            secret = secret_value if secret == "" else secret
            headers = {SECRET_HEADER: secret} if secret is not None else {}
            return (await client.post("/telegram", content=content, headers=headers)).status_code

        assert await post(body, "wrong") == 403
        assert await post(body, "s3cret-token_valuE") == 403
        assert await post(body, None) == 403
        assert stored(sessions, update["update_id"]) is None, "nothing stored without the secret"
        assert await post(b"{not json") == 400
        assert await post(b'{"update_id": 1, "message": {"text": "\xff\xfe"}}') == 400
        assert await post(b"[1, 2]") == 400
        assert await post(b'{"update_id": "7"}') == 400
        assert await post(body) == 200
        assert stored(sessions, update["update_id"]) is not None, "stored before the 200"
        assert await post(body) == 200, "a replay is acknowledged"
        await settle(dispatcher)
    assert texts(api, 5011) == ["echo: hello"] and len(rasa.received) == 1


def test_replies_are_read_back_from_tracker_events() -> None:
    events = [
        {"event": "user", "text": "hi", "metadata": {"update_id": 41}},
        {"event": "bot", "text": "old"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "jobs", "metadata": {"update_id": 42}},
        {"event": "action", "name": "action_search"},
        {"event": "bot", "text": "Here", "data": {"buttons": [{"title": "More", "payload": "/m"}]}},
        {"event": "bot", "text": None, "data": {"custom": {"neetbot": {"x": 1}}}},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "thanks", "metadata": {"update_id": 43}},
        {"event": "bot", "text": "welcome"},
    ]
    assert replies_after(events, 42) == [
        {"text": "Here", "buttons": [{"title": "More", "payload": "/m"}]},
        {"custom": {"neetbot": {"x": 1}}},
    ]
    assert replies_after(events, 44) is None
    assert replies_after(events[:4], 42) == []
    # A first attempt without answer (the action server was down), then the answered one.
    retried = [*events[:5], {"event": "action", "name": "action_listen"}, *events[3:]]
    assert replies_after(retried, 42) == replies_after(events, 42)


@pytest.fixture
async def replicas(
    api: FakeTelegramAPI, database_url: str, sessions: sessionmaker[Session]
) -> AsyncIterator[tuple[Dispatcher, Dispatcher, TrackerRasa]]:
    """Two connector replicas on one database, one Rasa behind them (as a Service would)."""
    rasa = TrackerRasa()
    applications = [
        build_application(connector_settings(api, database_url), rasa)  # type: ignore[arg-type]
        for _ in range(2)
    ]
    for application in applications:
        await application.initialize()
    first, second = (Dispatcher(application) for application in applications)
    assert first.claims.owner != second.claims.owner
    yield first, second, rasa
    for dispatcher, application in zip((first, second), applications, strict=True):
        await dispatcher.stop(grace=1)
        await application.shutdown()


async def test_two_replicas_answer_each_chat_once_and_in_order(replicas, api) -> None:
    first, second, rasa = replicas
    rasa.delay = 0.05
    chats = [5201, 5202, 5203, 5204]
    for n in range(6):  # a load balancer sends each update to either replica
        for chat in chats:
            await deliver((first, second)[(n + chat) % 2], api.make_text_update(chat, f"m{n}"))
    deadline = time.monotonic() + 20
    while not (first.idle() and second.idle()):
        assert time.monotonic() < deadline, "the replicas did not finish"
        await asyncio.sleep(0.02)
    for chat in chats:
        assert texts(api, chat) == [f"echo: m{n}" for n in range(6)], chat
    assert len(rasa.received) == 6 * len(chats), "Rasa saw each message once"


async def test_a_chat_held_by_a_live_replica_is_left_to_it_then_taken_over(
    replicas, api, sessions
) -> None:
    first, second, rasa = replicas
    answered = api.make_text_update(5205, "answered by the replica that died")
    later = api.make_text_update(5205, "sent as it died")
    with sessions.begin() as session:
        inbox.store(session, first.bot_id, [incoming(answered)])
        claims.take(session, 5205, second.claims.owner, dt.timedelta(seconds=15))
    rasa.turns[answered["update_id"]] = [{"text": "the answer Rasa gave"}]  # then it died
    await deliver(first, later)
    await asyncio.sleep(0.5)
    assert texts(api, 5205) == [] and rasa.received == [], "the chat is the other replica's"
    assert await first.claims.unclaimed(first.bot_id) == []
    with sessions.begin() as session:
        claims.expire(session, second.claims.owner)  # its lease ran out
    assert await first.claims.unclaimed(first.bot_id) == [5205]
    sweep = asyncio.ensure_future(first.sweep_forever(every=0.05))
    try:
        await asyncio.sleep(0.2)
        await settle(first)
    finally:
        sweep.cancel()
    assert texts(api, 5205) == ["the answer Rasa gave", "echo: sent as it died"]
    assert [text for _, text, _ in rasa.received] == ["sent as it died"]


async def test_the_scheduled_rounds_are_one_replicas_and_move_when_it_stops(replicas) -> None:
    first, second, _ = replicas
    assert await first.claims.leading()
    assert not await second.claims.leading()
    assert await first.claims.leading(), "it keeps them"
    await first.stop(grace=1)
    assert await second.claims.leading()
    assert not await first.claims.leading()


async def test_a_coachs_message_is_sent_by_one_replica_only(replicas, api, sessions) -> None:
    first, second, _ = replicas
    with sessions.begin() as session:
        outbox.enqueue(
            session, 5206, [{"chat_id": 5206, "text": f"coach {n}"} for n in range(5)], None
        )
    sweeps = [asyncio.ensure_future(d.sweep_forever(every=0.01)) for d in (first, second)]
    try:
        for _ in range(200):
            if queued(sessions, 5206) == 0:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
    finally:
        for sweep in sweeps:
            sweep.cancel()
    assert texts(api, 5206) == [f"coach {n}" for n in range(5)]
