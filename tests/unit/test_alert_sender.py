"""Sending alerts through the fake Bot API: one message per subscriber and new item, never twice,
not at night, at most one a second per chat and under 30 a second overall; 403 pauses."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot

from bot.db.models import AlertDelivery, Person
from bot.services import alerts, people
from bot.services.catalogue_csv import import_catalogue
from bot.settings import Settings, get_settings
from connectors.telegram.alerts import AlertSender
from connectors.telegram.callbacks import PayloadStore
from tests.conftest import catalogue_csv, opportunity_row
from tests.fakes.telegram_api import FakeTelegramAPI

# 17:30 UTC: evening in Malta (18:30), night in Tbilisi (21:30).
EVENING = dt.datetime(2026, 11, 23, 17, 30, tzinfo=dt.UTC)
# 05:30 UTC next day: night in Malta (06:30), morning in Tbilisi (09:30).
MORNING = dt.datetime(2026, 11, 24, 5, 30, tzinfo=dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(scope="module")
def api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeTelegramAPI) -> AsyncIterator[Bot]:
    api.clear()
    async with Bot(api.token, base_url=api.base_url) as running:
        yield running


def sender_for(sessions: sessionmaker[Session], clock: Clock) -> AlertSender:
    settings = Settings(
        _env_file=None, var_dir=get_settings().var_dir, secret_key=SecretStr("k"),
        rasa_token=SecretStr("t"),
    )  # fmt: skip
    return AlertSender(sessions, PayloadStore(sessions), settings, clock=clock)


def subscribers(sessions: sessionmaker[Session], chats: dict[int, str]) -> None:
    """One registered person per chat id, in the given country, subscribed to everything."""
    with sessions.begin() as session:
        for chat, country in chats.items():
            person = people.give_consent(session, f"tg-{chat}")
            people.save_profile(session, f"tg-{chat}", people.Profile(country=country, age=20))
            person.telegram_chat_id = chat
            alerts.subscribe(session, person, "both", [], None)


def publish(sessions: sessionmaker[Session], *titles: str) -> int:
    """Import new items (as `neetbot catalogue import` does) and queue their alerts."""
    with sessions.begin() as session:
        report = import_catalogue(
            session, catalogue_csv(*(opportunity_row(title=title) for title in titles))
        )
        assert report.ok
        return alerts.queue_alerts(session, report.created)


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


async def test_each_subscriber_gets_each_new_item_once_and_none_at_night(
    sessions: sessionmaker[Session], api: FakeTelegramAPI, bot: Bot
) -> None:
    malta = {6000 + n: "MT" for n in range(8)}
    tbilisi = {7000 + n: "GE" for n in range(2)}
    subscribers(sessions, {**malta, **tbilisi})
    assert publish(sessions, "Welding course", "Barista job", "Solar installer training") == 30
    clock = Clock(EVENING)
    sender = sender_for(sessions, clock)

    report = await sender.send_due(bot)
    assert report.sent == 24 and report.failed == 0
    for chat in malta:
        texts = [message["text"] for message in api.sent_messages(chat)]
        assert len(texts) == 3
        assert {title for title in ("Welding course", "Barista job", "Solar installer training")
                if any(title in text for text in texts)} == {
            "Welding course", "Barista job", "Solar installer training"}  # fmt: skip
        # Telegram allows one message a second to one chat.
        assert min(gaps(api.send_times(chat))) >= 0.95
    for chat in tbilisi:
        assert api.sent_messages(chat) == []  # queued until morning

    assert (await sender.send_due(bot)).sent == 0  # nothing is sent twice
    assert publish(sessions, "Welding course") == 0  # re-importing is not new

    clock.now = MORNING
    report = await sender.send_due(bot)
    assert report.sent == 6
    for chat in tbilisi:
        assert len(api.sent_messages(chat)) == 3
    assert all(len(api.sent_messages(chat)) == 3 for chat in malta)
    with sessions.begin() as session:
        statuses = set(session.scalars(select(AlertDelivery.status)))
        assert statuses == {"sent"}
        assert all(d.sent_at is not None for d in session.scalars(select(AlertDelivery)))


async def test_an_alert_has_details_and_stop_buttons(
    sessions: sessionmaker[Session], api: FakeTelegramAPI, bot: Bot
) -> None:
    subscribers(sessions, {6100: "MT"})
    publish(sessions, "Welding course")
    await sender_for(sessions, Clock(EVENING)).send_due(bot)
    (message,) = api.sent_messages(6100)
    assert "Welding course" in message["text"] and message["text"].startswith("🔔")
    rows = message["reply_markup"]["inline_keyboard"]
    payloads = PayloadStore(sessions)
    decoded = [payloads.decode(row[0]["callback_data"]) for row in rows]
    assert decoded[0].startswith("/show_details{")
    assert decoded[1].startswith("/unsubscribe_alerts{")


async def test_a_person_who_blocked_the_bot_is_paused_not_retried(
    sessions: sessionmaker[Session], api: FakeTelegramAPI, bot: Bot
) -> None:
    subscribers(sessions, {6200: "MT", 6201: "MT"})
    publish(sessions, "A", "B", "C")
    api.fail_next("sendMessage", 403, chat_id=6200, times=10)
    sender = sender_for(sessions, Clock(EVENING))
    report = await sender.send_due(bot)
    assert report.blocked == 1 and report.sent == 3
    assert len(api.calls_to("sendMessage")) == 4  # one try for the blocked chat, then it stops
    await sender.send_due(bot)
    assert len(api.calls_to("sendMessage")) == 4
    with sessions.begin() as session:
        person = people.get_person(session, "tg-6200")
        assert person is not None and person.alerts_paused
        assert {d.status for d in person.deliveries} == {"blocked"}
        assert not session.scalar(
            select(Person.alerts_paused).where(Person.telegram_chat_id == 6201)
        )


async def test_network_errors_are_retried_later(
    sessions: sessionmaker[Session], api: FakeTelegramAPI, bot: Bot
) -> None:
    subscribers(sessions, {6300: "MT"})
    publish(sessions, "A")
    api.fail_next("sendMessage", 500, chat_id=6300)
    sender = sender_for(sessions, Clock(EVENING))
    assert (await sender.send_due(bot)).failed == 1
    assert (await sender.send_due(bot)).sent == 1
    assert len(api.sent_messages(6300)) == 1


async def test_the_send_rate_stays_under_telegrams_limit(
    sessions: sessionmaker[Session], api: FakeTelegramAPI, bot: Bot
) -> None:
    chats = {8000 + n: "MT" for n in range(75)}
    subscribers(sessions, chats)
    assert publish(sessions, "Welding course") == 75
    report = await sender_for(sessions, Clock(EVENING)).send_due(bot)
    assert report.sent == 75
    times = sorted(api.send_times())
    busiest = max(sum(1 for other in times if start <= other < start + 1.0) for start in times)
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(f"\nalert fan-out: {len(times)} messages, {rate:.1f}/s, busiest second: {busiest}")
    assert busiest <= 30  # Telegram: about 30 messages a second overall
    assert rate >= 24  # and not needlessly slow
