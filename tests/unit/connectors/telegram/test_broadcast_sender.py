"""A broadcast to 500 people through the fake Bot API with Telegram's flood limits on: every
person gets it once, at Telegram's pace, without a single 429; the progress counts follow it;
cancelling stops what is not sent yet."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot

from bot.services import broadcasts, people
from bot.services.broadcasts import Segment
from connectors.telegram.bulk import BulkSender
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.unit.connectors.telegram.test_alert_sender import Clock, sender_for

NOON = dt.datetime(2026, 11, 24, 11, 0, tzinfo=dt.UTC)  # daytime everywhere in Europe


def bulk_sender(sessions: sessionmaker[Session]) -> BulkSender:
    pace = sender_for(sessions, Clock(NOON))  # the alerts' sender: its pace is shared
    return BulkSender(sessions, pace.payloads, pace, clock=lambda: NOON)


def audience(sessions: sessionmaker[Session], first_chat: int, count: int) -> None:
    """`count` people who agreed to stay in touch, half in Italian, half in English."""
    with sessions.begin() as session:
        for number in range(count):
            chat = first_chat + number
            person = people.give_consent(session, f"tg-b{chat}")
            person.telegram_chat_id, person.followup_consent = chat, True
            person.language = "it" if number % 2 else "en"
            person.country, person.registered_at = "IT", NOON - dt.timedelta(days=3)


def scheduled(sessions: sessionmaker[Session], title: str, first_chat: int) -> int:
    with sessions.begin() as session:
        made = broadcasts.create(
            session, title=title, texts={"en": f"{title}!", "it": f"{title} (it)!"},
            buttons=[{"url": "https://example.org/a", "labels": {"en": "Open", "it": "Apri"}}],
            segment=Segment(), by="boss",
        )  # fmt: skip
        broadcasts.schedule(session, made.id, NOON - dt.timedelta(minutes=1))
        return made.id


def progress(sessions: sessionmaker[Session], broadcast_id: int) -> dict[str, object]:
    with sessions.begin() as session:
        return broadcasts.progress(session, broadcast_id)


async def test_a_broadcast_to_500_people_at_telegrams_pace(
    sessions: sessionmaker[Session],
) -> None:
    audience(sessions, 9_100_000, 500)
    broadcast_id = scheduled(sessions, "Summer courses", 9_100_000)
    sender = bulk_sender(sessions)
    seen: list[dict[str, object]] = []
    with FakeTelegramAPI(rate_limit=30) as strict:
        async with Bot(strict.token, base_url=strict.base_url) as strict_bot:
            job = asyncio.ensure_future(sender.round(strict_bot))
            while not job.done():  # what the page's progress bar reads, while it goes out
                seen.append(progress(sessions, broadcast_id))
                await asyncio.sleep(1)
            report = await job
        assert strict.rate_limited == []  # not one 429
        calls = strict.calls_to("sendMessage")
    assert report.sent == 500 and report.failed == report.blocked == 0
    per_chat = Counter(call.params["chat_id"] for call in calls)
    assert len(per_chat) == 500 and set(per_chat.values()) == {1}  # everyone, once
    texts = Counter(call.params["text"] for call in calls)
    assert texts == Counter({"Summer courses!": 250, "Summer courses (it)!": 250})
    times = sorted(call.time for call in calls)
    busiest = max(sum(1 for moment in times if start <= moment < start + 1.0) for start in times)
    assert busiest <= 30  # Telegram's limit, in any one second
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(f"\n500 messages in {times[-1] - times[0]:.1f} s: {rate:.1f}/s, busiest second {busiest}")
    done = progress(sessions, broadcast_id)
    assert done["status"] == "done" and done["sent"] == 500 and done["queued"] == 0
    counts = [int(item["sent"]) for item in seen]  # type: ignore[call-overload]
    assert counts == sorted(counts) and 0 < counts[len(counts) // 2] < 500  # it moved along


async def test_cancelling_stops_what_is_not_sent_yet(sessions: sessionmaker[Session]) -> None:
    audience(sessions, 9_200_000, 200)
    broadcast_id = scheduled(sessions, "Open day", 9_200_000)
    sender = bulk_sender(sessions)
    with FakeTelegramAPI(rate_limit=30) as strict:
        async with Bot(strict.token, base_url=strict.base_url) as strict_bot:
            job = asyncio.ensure_future(sender.round(strict_bot))
            while len(strict.calls_to("sendMessage")) < 40:
                await asyncio.sleep(0.05)
            with sessions.begin() as session:
                left = broadcasts.cancel(session, broadcast_id)
            report = await job
            after_cancel = len(strict.calls_to("sendMessage"))
            await sender.round(strict_bot)  # a later round sends nothing of it either
            assert len(strict.calls_to("sendMessage")) == after_cancel
    final = progress(sessions, broadcast_id)
    assert final["status"] == "cancelled"
    assert int(final["cancelled"]) == left > 100  # type: ignore[call-overload]
    # Those on their way when it was cancelled still went; nothing after
    assert report.sent == after_cancel == int(final["sent"]) < 100  # type: ignore[call-overload]
    assert report.sent + left == 200
