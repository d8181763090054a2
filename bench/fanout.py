"""Alert fan-out: one new opportunity, 1,000 subscribers, against Telegram's 30 messages a second.

Registers 1,000 people (ten languages, their countries, all subscribed to the new item's
topic) in a temporary SQLite database, imports one new opportunity and queues its alerts as
`neetbot catalogue import` does, then runs the connector's real `AlertSender.run_forever`
(default `ALERT_POLL_SECONDS`, noon UTC so nobody is in quiet hours) with the connector's
alert bot (`alert_bot`: paced by the sender, no PTB rate limiter) against the fake Bot API, in
a process of its own, with Telegram's flood control on (30 messages in any second, one a
second per chat: 429 with retry_after). Prints messages per second, the share of Telegram's
30/s, the 429s, and whether every alert was delivered exactly once.
Not part of `make test`.

    .venv/bin/python bench/fanout.py [--subscribers 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import io
import logging
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import SecretStr  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bot.db.models import AlertDelivery  # noqa: E402
from bot.db.session import session_factory  # noqa: E402
from bot.services import alerts, people  # noqa: E402
from bot.services.catalogue_csv import import_catalogue  # noqa: E402
from bot.services.setup import SAMPLE_CATALOGUE, prepare_database  # noqa: E402
from bot.settings import Settings  # noqa: E402
from connectors.telegram.alerts import ALERT_RATE, AlertSender, alert_bot  # noqa: E402
from connectors.telegram.callbacks import PayloadStore  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402

TELEGRAM_RATE = 30  # messages a second Telegram lets a bot send overall
COUNTRIES = {
    "en": "MT", "it": "IT", "fr": "FR", "es": "ES", "de": "DE",
    "ro": "RO", "hr": "HR", "sl": "SI", "lt": "LT", "ar": "LB",
}  # fmt: skip
FIRST_CHAT = 900_000_000
NOON = dt.datetime.combine(dt.date.today(), dt.time(12), tzinfo=dt.UTC)


def new_item() -> str:
    """A catalogue CSV with one new opportunity (the sample's first row, renamed, open to
    all ages)."""
    rows = list(csv.DictReader(io.StringIO(SAMPLE_CATALOGUE.read_text(encoding="utf-8"))))
    row = dict(rows[0], title="Hotel reception traineeship, spring intake", deadline="")
    row["min_age"] = row["max_age"] = ""  # open to every subscriber's age
    start = dt.date.today() + dt.timedelta(days=30)
    row["start_date"], row["end_date"] = str(start), str(start + dt.timedelta(days=90))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(row), lineterminator="\n")
    writer.writeheader()
    writer.writerow(row)
    return out.getvalue()


def prepare(url: str, subscribers: int) -> int:
    """Register and subscribe the people, publish the item; return the alerts queued."""
    prepare_database(url, sample=None)
    languages = list(COUNTRIES)
    with session_factory(url).begin() as session:
        for number in range(subscribers):
            language = languages[number % len(languages)]
            sender = f"tg-bench-{number}"
            person = people.give_consent(session, sender, language=language)
            profile = people.Profile(age=16 + number % 14, country=COUNTRIES[language])
            people.save_profile(session, sender, profile)
            person.language = language
            person.telegram_chat_id = FIRST_CHAT + number
            alerts.subscribe(session, person, "both", ["tourism_hospitality"], None)
    with session_factory(url).begin() as session:
        report = import_catalogue(session, new_item())
        assert report.ok, report.errors
        return alerts.queue_alerts(session, report.created)


class LogPrinter(logging.Handler):
    """Prints the alert loop's own summary of each round."""

    def emit(self, record: logging.LogRecord) -> None:
        """Print one record."""
        print(f"  {record.name}: {record.getMessage()}")


@dataclass(frozen=True)
class Attempt:
    """One sendMessage that reached the fake Telegram: to whom, when, and whether refused."""

    chat_id: int
    time: float  # time.monotonic(), the same clock in every process on Linux
    error_code: int | None


def serve_telegram(connection: Connection, rate_limit: int) -> None:
    """The fake Bot API in a process of its own (as Telegram is: not sharing the sender's
    interpreter lock); sends its address, then, when asked, every sendMessage it got."""
    with FakeTelegramAPI(rate_limit=rate_limit) as api:
        connection.send((api.token, api.base_url))
        connection.recv()
        calls = api.calls_to("sendMessage")
        connection.send([Attempt(c.params["chat_id"], c.time, c.error_code) for c in calls])


def delivered(url: str) -> int:
    """How many deliveries the database records as sent."""
    with session_factory(url).begin() as session:
        query = select(func.count()).where(AlertDelivery.status == "sent")
        return session.scalar(query) or 0


async def fan_out(url: str, settings: Settings, token: str, base_url: str, expected: int) -> None:
    """Run the connector's alert loop until `expected` alerts are recorded as sent, then one
    more round, which must find nothing left to send."""
    sessions = session_factory(url)
    sender = AlertSender(sessions, PayloadStore(sessions), settings, clock=lambda: NOON)
    telegram = {"telegram_bot_token": SecretStr(token), "telegram_api_base_url": base_url}
    bot = alert_bot(settings.model_copy(update=telegram))
    async with bot:
        task = asyncio.create_task(sender.run_forever(bot))
        deadline = time.monotonic() + expected / 5 + 120
        while await asyncio.to_thread(delivered, url) < expected:
            if time.monotonic() > deadline or task.done():
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1)  # anything sent twice would show up now
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        again = await sender.send_due(bot)
    if again.sent:
        print(f"!! a further round sent {again.sent} alerts again")


def rates(times: list[float]) -> tuple[float, float]:
    """Messages a second from first to last, and while sending (pauses over 2 s between the
    alert loop's rounds left out)."""
    intervals = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    busy = [gap for gap in intervals if gap <= 2]
    overall = len(intervals) / sum(intervals) if intervals else 0.0
    return overall, (len(busy) / sum(busy) if busy else 0.0)


def report(attempts: list[Attempt], queued: int, statuses: dict[str, int]) -> None:
    """Print the rates, the 429s and whether each alert reached its person exactly once."""
    times = sorted(a.time for a in attempts if a.error_code is None)
    overall, busy = rates(times)
    print(f"\ndelivered {len(times)} of {queued} in {times[-1] - times[0]:.1f} s (first to last)")
    verdict = "met" if overall >= 0.95 * TELEGRAM_RATE else "NOT met"
    print(
        f"fan-out rate {overall:.1f} msg/s = {overall / TELEGRAM_RATE:.0%} of Telegram's "
        f"{TELEGRAM_RATE}/s (aim ≥ 95%: {verdict})"
    )
    print(f"while sending (rounds only): {busy:.1f} msg/s = {busy / TELEGRAM_RATE:.0%}")
    refused = Counter(a.error_code for a in attempts if a.error_code is not None)
    print(f"429 answers (Telegram's flood control): {refused.get(429, 0)}; other errors: "
          f"{sum(refused.values()) - refused.get(429, 0)}")  # fmt: skip
    per_chat = Counter(a.chat_id for a in attempts if a.error_code is None)
    once = len(per_chat) == queued and set(per_chat.values()) == {1}
    once = once and statuses == {"sent": queued}
    print(
        f"every alert delivered exactly once: {'yes' if once else 'NO'} "
        f"({len(per_chat)} chats, at most {max(per_chat.values())} to one chat; "
        f"deliveries by status {statuses})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/fanout.db"
        queued = prepare(url, args.subscribers)
        settings = Settings(
            _env_file=None, var_dir=Path(folder), database_url=url,
            secret_key=SecretStr("bench-key-0123456789abcdefghijklmnopq"),
            rasa_token=SecretStr("bench-token-0123456789abcdefghijklmno"),
        )  # fmt: skip
        print(
            f"{queued} alerts queued for {args.subscribers} subscribers; alert loop every "
            f"{settings.alert_poll_seconds:.0f} s, paced at {ALERT_RATE:.0f}/s, fake Telegram "
            f"limit {TELEGRAM_RATE}/s"
        )
        logger = logging.getLogger("connectors")
        logger.addHandler(LogPrinter())
        logger.setLevel(logging.INFO)
        logger.propagate = False
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        telegram = context.Process(target=serve_telegram, args=(theirs, TELEGRAM_RATE))
        telegram.start()
        try:
            token, base_url = ours.recv()
            asyncio.run(fan_out(url, settings, token, base_url, queued))
            ours.send("done")
            attempts: list[Attempt] = ours.recv()
        finally:
            telegram.join(timeout=10)
            if telegram.is_alive():
                telegram.terminate()
        with session_factory(url).begin() as session:
            query = select(AlertDelivery.status, func.count()).group_by(AlertDelivery.status)
            statuses = {status: count for status, count in session.execute(query)}
        report(attempts, queued, statuses)


if __name__ == "__main__":
    main()
