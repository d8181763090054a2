"""Catalogue search at 10,000 opportunities (or as many as asked): how long one search turn
takes.

Generates a catalogue from the sample one (config/catalogue.csv): each new opportunity copies a
sample row's country, provider, languages and kind, moves it to another town of the same
country, shifts its dates, sometimes adds a topic or makes it free or online; one in ten has
a deadline already past (the search must skip it). It is imported with the real CSV import.
Then people's messages in the ten languages go through what the search actions run for a new
question: `understand` (topics, places, "free", "online", content words from the text) and
`search` (page 1), and "show more" (page 2). Prints p50/p95/p99 per step; the aim is a p95
under 20 ms for the whole turn. Runs on SQLite, then on PostgreSQL (127.0.0.1:5432, user
postgres, a database of its own, dropped afterwards) when it answers. Not part of `make test`.

    .venv/bin/python bench/search.py [--opportunities 10000] [--runs 20] [--no-postgres]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import io
import random
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from bench.common import latency_line, percentile  # noqa: E402
from bot.db.session import session_factory  # noqa: E402
from bot.services.catalogue import SearchQuery, count_opportunities, search  # noqa: E402
from bot.services.catalogue_csv import MAX_ROWS, import_catalogue  # noqa: E402
from bot.services.query import understand  # noqa: E402
from bot.services.setup import SAMPLE_CATALOGUE, prepare_database  # noqa: E402
from bot.services.vocabulary import vocabulary  # noqa: E402

AIM_MS = 20.0
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# (language, kind the NLU would pick, message), as young people write them.
MESSAGES = [
    ("en", "training", "any free IT courses in Zagreb?"),
    ("en", "job", "jobs in tourism in malta"),
    ("en", "training", "i want to learn coding online"),
    ("en", "job", "cook"),
    ("it", "job", "lavoro nel turismo a Palermo"),
    ("it", "training", "corsi gratuiti di informatica a Milano"),
    ("it", "job", "cerco lavoro come cameriere"),
    ("fr", "training", "formation gratuite en informatique à Lille"),
    ("fr", "job", "emploi dans la logistique à Toulouse"),
    ("es", "training", "cursos de hostelería en Sevilla"),
    ("es", "job", "trabajo en construcción en Zaragoza"),
    ("de", "training", "Ausbildung im Bereich IT in Berlin"),
    ("de", "job", "Jobs in der Pflege in Köln"),
    ("ro", "training", "cursuri gratuite de programare în București"),
    ("ro", "job", "locuri de muncă în construcții la Cluj"),
    ("hr", "training", "tečaj programiranja u Splitu"),
    ("hr", "job", "posao u turizmu u Dubrovniku"),
    ("sl", "training", "tečaji računalništva v Ljubljani"),
    ("sl", "job", "delo v gostinstvu na Bledu"),
    ("lt", "training", "programavimo kursai Vilniuje"),
    ("lt", "job", "darbas logistikoje Kaune"),
    ("ar", "training", "دورات برمجة في بيروت"),
    ("ar", "job", "عمل في السياحة في تونس"),
    ("en", "training", "welding"),
]


def generated_catalogue(count: int, rng: random.Random) -> str:
    """`count` opportunities as a catalogue CSV, modelled on the sample catalogue's rows."""
    rows = list(csv.DictReader(io.StringIO(SAMPLE_CATALOGUE.read_text(encoding="utf-8"))))
    towns: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        if row["city"]:
            towns.setdefault(row["country"], []).append((row["city"], row["region"]))
    topics = list(vocabulary().topics)
    today = dt.date.today()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for number in range(count):
        row = dict(rng.choice(rows))
        row["title"] = f"{row['title']} ({number + 1})"
        if row["city"] and rng.random() < 0.7:
            row["city"], row["region"] = rng.choice(towns[row["country"]])
        if rng.random() < 0.3:
            extra = rng.choice(topics)
            row["topics"] = ";".join(dict.fromkeys([*row["topics"].split(";"), extra]))
        if row["city"] and rng.random() < 0.15:
            row["mode"] = rng.choice(["online", "hybrid"])
        if rng.random() < 0.2:
            row["cost_eur"] = "0"
        start = today + dt.timedelta(days=rng.randrange(-30, 365))
        length = dt.timedelta(days=rng.randrange(14, 300))
        row["start_date"], row["end_date"] = str(start), str(start + length)
        if rng.random() < 0.1:  # closed already: the search must leave it out
            row["deadline"] = str(today - dt.timedelta(days=rng.randrange(1, 60)))
        elif row["deadline"] or rng.random() < 0.5:
            row["deadline"] = str(max(today, start - dt.timedelta(days=rng.randrange(0, 30))))
        else:
            row["deadline"] = ""
        writer.writerow(row)
    return out.getvalue()


def one_turn(url: str, language: str, kind: str, message: str) -> tuple[list[float], int]:
    """What a search action does for a new question, timed: [understand, page 1, the whole
    turn (session included), page 2], and how many opportunities matched."""
    started = time.perf_counter()
    with session_factory(url).begin() as session:
        criteria = understand(session, message, [], [], language=language)
        understood = time.perf_counter()
        query = SearchQuery(
            kind=kind,
            topics=tuple(criteria.topics),
            location=criteria.location,
            text=" ".join(criteria.terms) or None,
            free_only=criteria.free_only,
            online_only=criteria.online_only,
            language=language,
            age=20,
        )
        result = search(session, query)
        searched = time.perf_counter()
    finished = time.perf_counter()
    with session_factory(url).begin() as session:
        search(session, dataclasses.replace(query, page=2))
    more = time.perf_counter() - finished
    times = [understood - started, searched - understood, finished - started, more]
    return times, result.total


def measure(url: str, runs: int) -> None:
    """Time every message's turn `runs` times (after one warm-up run) and print percentiles."""
    names = ["understand", "search, page 1", "whole turn", "show more (page 2)"]
    steps: dict[str, list[float]] = {name: [] for name in names}
    totals: list[int] = []
    turns: dict[str, list[float]] = {message: [] for _, _, message in MESSAGES}
    for run in range(runs + 1):
        for language, kind, message in MESSAGES:
            times, total = one_turn(url, language, kind, message)
            if run == 0:
                totals.append(total)
                continue
            for name, seconds in zip(names, times, strict=True):
                steps[name].append(seconds)
            turns[message].append(times[2])
    found = sum(1 for total in totals if total)
    print(
        f"  {len(MESSAGES)} messages in 10 languages × {runs} runs; {found} find something "
        f"(median {percentile([float(t) for t in totals], 0.5):.0f} matches)"
    )
    for name, values in steps.items():
        print(f"  {name:<20} {latency_line(values)}")
    slowest = sorted(turns, key=lambda message: -percentile(turns[message], 0.5))[:3]
    matches = dict(zip((message for _, _, message in MESSAGES), totals, strict=True))
    print(
        "  slowest turns (p50): "
        + "; ".join(
            f"{message!r} {percentile(turns[message], 0.5) * 1000:.1f} ms "
            f"({matches[message]} matches)"
            for message in slowest
        )
    )
    p95 = percentile(steps["whole turn"], 0.95) * 1000
    verdict = "met" if p95 < AIM_MS else "NOT met"
    print(f"  whole turn p95 {p95:.1f} ms: aim < {AIM_MS:.0f} ms {verdict}")


def fill(url: str, count: int) -> None:
    """Migrate, then import `count` generated opportunities, in files of at most the import's
    limit of rows (as an admin would split them), each in one transaction."""
    prepare_database(url, sample=None)
    header, *rows = csv.reader(io.StringIO(generated_catalogue(count, random.Random(11))))
    started = time.perf_counter()
    for first in range(0, len(rows), MAX_ROWS):
        part = io.StringIO()
        csv.writer(part, lineterminator="\n").writerows([header, *rows[first : first + MAX_ROWS]])
        with session_factory(url).begin() as session:
            report = import_catalogue(session, part.getvalue())
            if not report.ok:
                raise SystemExit(f"generated catalogue refused: {report.errors[:3]}")
    with session_factory(url).begin() as session:
        stored = count_opportunities(session)
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE"))  # what autovacuum does soon after a big import
    print(f"  {stored:,} opportunities imported in {time.perf_counter() - started:.1f} s")


def postgres_answers() -> bool:
    """Whether something listens on PostgreSQL's port on this machine."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of our own, dropped afterwards."""
    name = f"neetbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print("SQLite:")
        url = f"sqlite:///{folder}/search.db"
        fill(url, args.opportunities)
        measure(url, args.runs)
    if args.no_postgres:
        return
    if not postgres_answers():
        print("\nPostgreSQL: nothing answers on 127.0.0.1:5432, skipped")
        return
    print("\nPostgreSQL:")
    with postgres_database() as url:
        fill(url, args.opportunities)
        measure(url, args.runs)


if __name__ == "__main__":
    main()
