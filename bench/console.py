"""The coach console with 100,000 conversations: how long the list takes with each filter.

Fills a temporary SQLite database with 100,000 conversation summaries (languages, intents,
confidences, fallbacks, tags, registered people, reviews, open handoffs spread over 90 days)
and times `list_conversations` for each filter, first page and a deep page, and the figures'
summary queries. Prints the median and p95 of 20 runs each. Not part of `make test`.

    .venv/bin/python bench/console.py [--conversations 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from bot.db.models import Conversation, ConversationTag, Handoff, Person  # noqa: E402
from bot.db.session import session_factory  # noqa: E402
from bot.services.conversation_list import Filters, list_conversations, waiting  # noqa: E402
from bot.services.setup import prepare_database  # noqa: E402

LANGUAGES = ["en", "it", "fr", "es", "de", "ro", "hr", "sl", "lt", "ar"]
INTENTS = ["greet", "ask_trainings", "ask_jobs", "ask_programme", "register", "thank", "help"]
WORDS = ["courses", "jobs", "split", "zagreb", "malta", "cook", "it", "free", "online", "lavoro"]


def fill(url: str, count: int, rng: random.Random) -> None:
    """`count` conversation summaries, with 5% registered people, tags, reviews, handoffs."""
    now = dt.datetime.now(dt.UTC)
    conversations, tags, people, handoffs = [], [], [], []
    for number in range(count):
        sender = f"tg-{number:024x}"
        started = now - dt.timedelta(minutes=rng.randrange(90 * 24 * 60))
        intents = rng.sample(INTENTS, 3)
        conversations.append(
            {
                "sender_id": sender,
                "started_at": started,
                "last_at": started + dt.timedelta(minutes=rng.randrange(60)),
                "user_messages": rng.randrange(1, 30),
                "language": rng.choice(LANGUAGES),
                "languages": rng.choice(LANGUAGES),
                "intents": " " + " ".join(intents) + " ",
                "min_confidence": rng.random(),
                "fallback": rng.random() < 0.2,
                "search_text": " ".join(rng.choices(WORDS, k=12)),
                "last_event_id": number,
                "note": "",
                "reviewed_at": now if rng.random() < 0.3 else None,
            }
        )
        if rng.random() < 0.1:
            tags.append({"sender_id": sender, "tag": rng.choice(["follow up", "job ready"])})
        if rng.random() < 0.05:
            people.append(
                {
                    "sender_id": sender, "consent_at": started, "consent_version": "1",
                    "registered_at": started, "name": f"Person {number}", "interests": "",
                    "last_active_at": started, "alerts_paused": False, "channel": "telegram",
                }
            )  # fmt: skip
        if rng.random() < 0.0005:
            handoffs.append(
                {
                    "sender_id": sender, "status": "waiting", "reason": "request",
                    "urgent": False, "language": "en", "requested_at": started,
                    "acknowledged": False,
                }
            )  # fmt: skip
    with session_factory(url).begin() as session:
        session.execute(insert(Conversation), conversations)
        session.execute(insert(ConversationTag), tags)
        session.execute(insert(Person), people)
        session.execute(insert(Handoff), handoffs)


def timed(url: str, filters: Filters, page: int, runs: int) -> tuple[float, float, int]:
    """Median and p95 (ms) of listing one page; and how many matched."""
    times, total = [], 0
    for _ in range(runs):
        with session_factory(url).begin() as session:
            start = time.perf_counter()
            result = list_conversations(session, filters, page, 25)
            waiting(session)
            times.append((time.perf_counter() - start) * 1000)
            total = result.total
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/console.db"
        prepare_database(url, sample=None)
        started = time.perf_counter()
        fill(url, args.conversations, random.Random(7))
        print(
            f"{args.conversations:,} conversations stored in {time.perf_counter() - started:.1f} s"
        )
        week_ago = dt.date.today() - dt.timedelta(days=7)
        cases = {
            "no filter, page 1": (Filters(), 1),
            "no filter, page 2000": (Filters(), 2000),
            "last 7 days": (Filters(date_from=week_ago), 1),
            "language=hr": (Filters(language="hr"), 1),
            "intent=ask_jobs": (Filters(intent="ask_jobs"), 1),
            "confidence < 0.3": (Filters(below=0.3), 1),
            "fallback": (Filters(fallback=True), 1),
            "registered": (Filters(registered=True), 1),
            "tag=follow up": (Filters(tag="follow up"), 1),
            "not reviewed": (Filters(reviewed=False), 1),
            "waiting": (Filters(waiting=True), 1),
            "search 'cook'": (Filters(query="cook"), 1),
            "hr + fallback + 7 days": (
                Filters(language="hr", fallback=True, date_from=week_ago),
                1,
            ),
        }
        header = "list (25 a page, with the pinned waiting list)"
        print(f"{header:<48} {'p50':>8} {'p95':>8} {'matches':>9}")
        for name, (filters, page) in cases.items():
            p50, p95, total = timed(url, filters, page, args.runs)
            print(f"{name:<48} {p50:>6.1f}ms {p95:>6.1f}ms {total:>9,}")


if __name__ == "__main__":
    main()
