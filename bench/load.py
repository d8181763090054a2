"""The load test and how the cost grows: what `docs/scaling.md` is sized from.

Starts the real system on PostgreSQL (a database of its own, dropped afterwards; SQLite when no
PostgreSQL answers): the action server, one Rasa server on the current model (PostgreSQL
tracker store), and one Telegram connector in webhook mode, whose Bot API is the stand-in of
`bench/locustfile.py`. Then:

1. Locust's simulated young people (`bench/locustfile.py`) at 100, 500 and 1,000 at once, each
   writing, waiting for the answer, reading and typing 5 to 15 s: turns a second, p50/p95/p99
   of the wait, failures, and the CPU each process spent per message, measured after the
   ramp-up.
2. One person's long conversation, message after message: CPU per message (all processes) and
   latency at turns 1-20 against turns 181-200 (the tracker grows with every turn).
3. The database's size per 1,000 conversations (the application's tables and Rasa's tracker
   events, on PostgreSQL), from the conversations of steps 1 and 2.
4. Catalogue search at 1,000, 10,000 and 100,000 opportunities (`bench/search.py`).

Everything runs on this machine, the load generator included (it takes CPU from the system it
measures: the figures are a floor). Not part of `make test`.

    .venv/bin/python bench/load.py [--people 100 500 1000] [--seconds 60] [--turns 200]
        [--no-search]
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before anything opens a socket: Locust's users are greenlets

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime as dt  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import httpx  # noqa: E402
from locust import events  # noqa: E402
from locust.env import Environment  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import locustfile  # noqa: E402
from bench.common import family_cpu_seconds, latency_line  # noqa: E402
from bench.search import postgres_answers, postgres_database  # noqa: E402
from bot.db.models import Conversation, InboundUpdate  # noqa: E402
from bot.db.session import session_factory  # noqa: E402
from bot.services import conversations  # noqa: E402
from bot.services.people import now  # noqa: E402
from bot.services.setup import prepare_database  # noqa: E402
from bot.settings import Settings  # noqa: E402
from connectors import processes  # noqa: E402
from connectors.rasa.events import RasaEvents  # noqa: E402
from connectors.rasa.training import ensure_model  # noqa: E402
from tests.integration.conftest import free_port, shifted_sample, webhook_env  # noqa: E402

SECRET = "load-webhook-secret"  # noqa: S105 - a test value
RAMP_SECONDS = 20


@contextlib.contextmanager
def database(folder: Path) -> Iterator[str]:
    """PostgreSQL when it answers (production's), else SQLite."""
    if postgres_answers():
        with postgres_database() as url:
            yield url
    else:
        print("No PostgreSQL answers: SQLite (database sizes are not comparable)")
        yield f"sqlite:///{folder / 'app.db'}"


Running = dict[str, subprocess.Popen[bytes]]


def start(settings: Settings, logs: Path, api_port: int) -> tuple[Running, str]:
    """The action server, Rasa and the connector (webhook mode, the stand-in's Bot API); and
    the connector's address."""
    model = ensure_model(settings)
    running: Running = {}
    try:
        running["actions"] = processes.start(
            processes.action_server(settings), logs / "actions.log"
        )
        running["rasa"] = processes.start(processes.rasa_server(settings, model), logs / "rasa.log")
        processes.wait_for_http(
            f"http://127.0.0.1:{settings.actions_port}/health", 120, running["actions"]
        )
        processes.wait_for_http(f"{settings.rasa_url}/", 600, running["rasa"])
        port = free_port()
        env = {
            **processes.app_env(settings),
            "TRACKER_STORE_URL": settings.tracker_store_url,
            "TELEGRAM_BOT_TOKEN": locustfile.TOKEN,
            "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{api_port}/bot",
            "TELEGRAM_RATE_LIMIT": "0",  # the stand-in has no limit to respect
            "LOG_LEVEL": "WARNING",
            **webhook_env(port, SECRET),
        }
        spec = processes.ProcessSpec("telegram", [sys.executable, "-m", "connectors.telegram"], env)
        running["connector"] = processes.start(spec, logs / "connector.log")
        processes.wait_for_http(f"http://127.0.0.1:{port}/healthz", 120, running["connector"])
    except BaseException:
        for process in reversed(list(running.values())):
            processes.stop(process)
        raise
    return running, f"http://127.0.0.1:{port}"


def cpu(running: Running) -> dict[str, float]:
    return {name: family_cpu_seconds(process.pid) for name, process in running.items()}


def handled_since(database_url: str, since: dt.datetime) -> int:
    """Messages the connector finished handling (answered) since `since`."""
    with session_factory(database_url).begin() as session:
        count = session.scalar(
            select(func.count())
            .select_from(InboundUpdate)
            .where(InboundUpdate.state == "done", InboundUpdate.done_at >= since)
        )
    return int(count or 0)


def drain(database_url: str, timeout: float = 900) -> None:
    """Wait until every stored message is answered (the backlog of a run past saturation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_factory(database_url).begin() as session:
            waiting = session.scalar(
                select(func.count())
                .select_from(InboundUpdate)
                .where(InboundUpdate.state == "pending")
            )
        if not waiting:
            return
        gevent.sleep(1)
    raise RuntimeError("the backlog did not drain")


def load(host: str, people: int, seconds: float, running: Running, database_url: str):
    """`people` simulated young people for `seconds` after a ramp-up: the turns' statistics,
    the messages handled (answered, late ones too) and the CPU seconds each process spent
    meanwhile."""
    locustfile.YoungPerson.secret = SECRET
    environment = Environment(user_classes=[locustfile.YoungPerson], host=host, events=events)
    runner = environment.create_local_runner()
    runner.start(people, spawn_rate=max(1, people / RAMP_SECONDS))
    gevent.sleep(RAMP_SECONDS + 5)
    environment.stats.reset_all()
    before = cpu(running)
    started, since = time.monotonic(), now()
    gevent.sleep(seconds)
    elapsed = time.monotonic() - started
    used = {name: value - before[name] for name, value in cpu(running).items()}
    handled = handled_since(database_url, since)
    turn = environment.stats.get("turn", "telegram")
    hook = environment.stats.get("webhook", "POST")
    figures = {
        "people": people,
        "handled": handled,
        "turns": turn.num_requests,
        "failed": turn.num_failures,
        "rate": turn.num_requests / elapsed,
        "p50": turn.get_response_time_percentile(0.5),
        "p95": turn.get_response_time_percentile(0.95),
        "p99": turn.get_response_time_percentile(0.99),
        "webhook_p95": hook.get_response_time_percentile(0.95),
        "cpu": used,
        "elapsed": elapsed,
    }
    runner.quit()
    drain(database_url)  # the next run starts on an idle system
    return figures


def long_conversation(host: str, turns: int, running: Running):
    """One person, `turns` messages one after the other: CPU and latency per message at the
    start and at the end of the conversation."""
    chat = next(locustfile.CHATS)
    client = httpx.Client(base_url=host, timeout=120, trust_env=False)
    per_turn: list[tuple[float, float]] = []  # (CPU seconds of all processes, latency)
    for number in range(1, turns + 1):
        already = len(locustfile.REPLIES.arrived.get(chat, []))
        update = {
            "update_id": next(locustfile.UPDATES),
            "message": {
                "message_id": number, "date": int(time.time()),
                "chat": {"id": chat, "type": "private", "first_name": "Long"},
                "from": {"id": chat, "is_bot": False, "first_name": "Long", "language_code": "en"},
                "text": locustfile.MESSAGES[number % len(locustfile.MESSAGES)],
            },
        }  # fmt: skip
        before = sum(cpu(running).values())
        started = time.monotonic()
        client.post(
            "/telegram", json=update, headers={locustfile.SECRET_HEADER: SECRET}
        ).raise_for_status()
        arrived = locustfile.REPLIES.wait(chat, already + 1, 120)
        if arrived is None:
            raise RuntimeError(f"turn {number} got no answer")
        gevent.sleep(0.3)  # the rest of the answer, counted in this turn's CPU
        per_turn.append((sum(cpu(running).values()) - before, arrived - started))
    client.close()
    return per_turn


def database_size(url: str) -> int | None:
    """Bytes the database takes (PostgreSQL), None on SQLite."""
    if not url.startswith("postgresql"):
        return None
    engine = create_engine(url)
    with engine.connect() as connection:
        size = connection.execute(text("SELECT pg_database_size(current_database())")).scalar()
    engine.dispose()
    return int(size or 0)


def largest_tables(url: str, count: int = 4) -> list[tuple[str, int]]:
    """The largest tables with their indexes (PostgreSQL), in bytes."""
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class"
                " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
                " ORDER BY 2 DESC LIMIT :count"
            ),
            {"count": count},
        ).all()
    engine.dispose()
    return [(name, int(size)) for name, size in rows]


def conversation_count(settings: Settings) -> tuple[int, int]:
    """Conversations in the application's summaries (after folding in the tracker's events),
    and the young people's messages in them."""
    with session_factory(settings.database_url).begin() as session:
        conversations.sync(session, RasaEvents(settings.tracker_store_url))
        count = session.scalar(select(func.count()).select_from(Conversation))
        messages = session.scalar(select(func.sum(Conversation.user_messages)))
    return int(count or 0), int(messages or 0)


def print_load(results: list[dict]) -> None:
    """One line per number of people. "answered/s": messages the system answered a second
    (late answers too); the waits count a turn without an answer within 60 s as 60 s."""
    names = list(results[0]["cpu"])
    print(
        f"  {'people':>6} {'answered/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
        f" {'no answer':>9} {'webhook p95':>11}" + "".join(f"{n + ' ms/msg':>18}" for n in names)
    )
    for r in results:
        per = [r["cpu"][n] / max(1, r["handled"]) * 1000 for n in names]
        print(
            f"  {r['people']:>6} {r['handled'] / r['elapsed']:10.1f} {r['p50']:8.0f}"
            f" {r['p95']:8.0f} {r['p99']:8.0f} {r['failed']:>4} of {r['turns']:<4}"
            f"{r['webhook_p95']:11.0f}" + "".join(f"{v:18.1f}" for v in per)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--no-search", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="neetbot-load-"))
    logs = folder / "logs"
    logs.mkdir()
    with database(folder) as url:
        settings = Settings(
            _env_file=None, var_dir=folder, database_url=url, tracker_store=url,
            rasa_port=free_port(), actions_port=free_port(),
            rasa_token=SecretStr("bench-token-0123456789abcdefghijklmno"),
            secret_key=SecretStr("bench-key-0123456789abcdefghijklmnopq"),
            pseudonym_key=SecretStr("bench-key-0123456789abcdefghijklmnopq"),
        )  # fmt: skip
        prepare_database(url, sample=shifted_sample(folder / "catalogue.csv"))
        api_port = free_port()
        standin = locustfile.serve_bot_api(api_port)
        print(f"Starting the system (logs in {logs})", flush=True)
        running, host = start(settings, logs, api_port)
        try:
            empty = database_size(url)
            long_conversation(host, 5, running)  # warm-up: lingua, the model, the pools
            print("\n1. Simulated young people (Locust), each waiting for the answer:", flush=True)
            results = []
            for people in args.people:
                results.append(load(host, people, args.seconds, running, url))
                print_load(results[-1:])
            print("\n   Together:")
            print_load(results)
            print(
                f"\n2. One conversation of {args.turns} messages, one after the other:", flush=True
            )
            per_turn = long_conversation(host, args.turns, running)
            span = min(20, args.turns // 2)
            for label, part in (
                (f"turns 1-{span}", per_turn[:span]),
                (f"turns {args.turns - span + 1}-{args.turns}", per_turn[-span:]),
            ):
                cpu_ms = statistics.mean(c for c, _ in part) * 1000
                print(
                    f"   {label:<14} CPU {cpu_ms:6.1f} ms a message (all processes);"
                    f" {latency_line([latency for _, latency in part])}"
                )
            size = database_size(url)
            count, messages = conversation_count(settings)
            print("\n3. Database size:", flush=True)
            if size is not None and empty is not None and count:
                grown = size - empty
                print(
                    f"   {count} conversations, {messages} messages from young people:"
                    f" {grown / 1e6:.1f} MB more than the empty database;"
                    f" {grown / messages * 1000 / 1e6:.2f} MB per 1,000 messages,"
                    f" {grown / count * 1000 / 1e6:.1f} MB per 1,000 conversations"
                    f" of {messages / count:.1f} messages"
                )
                tables = ", ".join(f"{n} {b / 1e6:.1f} MB" for n, b in largest_tables(url))
                print(f"   largest tables (with their indexes): {tables}")
            else:
                print("   (PostgreSQL only)")
        finally:
            for process in reversed(list(running.values())):
                processes.stop(process)
            standin.stop()
            session_factory(url).kw["bind"].dispose()
    if not args.no_search:
        print("\n4. Catalogue search (bench/search.py, PostgreSQL):", flush=True)
        for count in (1_000, 10_000, 100_000):
            print(f"   {count:,} opportunities:", flush=True)
            subprocess.run(
                [sys.executable, str(Path(__file__).with_name("search.py")),
                 "--opportunities", str(count), "--runs", "5"],
                check=True,
            )  # fmt: skip


if __name__ == "__main__":
    main()
