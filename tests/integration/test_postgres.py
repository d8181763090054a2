"""Production paths on the machine's real PostgreSQL and Redis: the application database and
Rasa's tracker store on PostgreSQL (one database, created and dropped here), and two Rasa
servers sharing them, kept consistent by the Redis lock store, serving the same conversation
at the same time. Skipped with the reason where no server answers, except in CI."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from sqlalchemy import create_engine, func, select, text

from bot.db.migrate import alembic_config
from bot.db.models import Conversation, Opportunity
from bot.db.session import session_factory
from bot.services import conversations, privacy, transcripts
from bot.services.setup import prepare_database
from bot.settings import Settings
from connectors import processes
from connectors.rasa.client import RasaClient
from connectors.rasa.events import EVENTS, RasaEvents, has_events, tracker_engine
from tests.integration.conftest import free_port, shifted_sample

# The first test pays for starting two Rasa servers: minutes on a busy two-core machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def answers(address: tuple[str, int]) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(address) == 0


def require(address: tuple[str, int], name: str) -> None:
    if answers(address):
        return
    reason = f"no {name} server answers on {address[0]}:{address[1]}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must run the PostgreSQL and Redis paths)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL database of its own, migrated and loaded, dropped afterwards."""
    require(POSTGRES, "PostgreSQL")
    name = f"neetbot_test_{secrets.token_hex(4)}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        sample = shifted_sample(tmp_path_factory.mktemp("postgres-sample") / "catalogue.csv")
        prepare_database(url, sample=sample)
        yield url
    finally:
        tracker_engine(url).dispose()
        session_factory(url).kw["bind"].dispose()
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@dataclass
class Replicas:
    settings: Settings
    urls: list[str]


@pytest.fixture(scope="module")
def replicas(
    database_url: str, trained_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    """The action server and two Rasa servers on one PostgreSQL database and Redis locks."""
    require(REDIS, "Redis")
    var = tmp_path_factory.mktemp("postgres")
    settings = Settings(
        _env_file=None, var_dir=var, database_url=database_url, tracker_store=database_url,
        lock_store_url="redis://127.0.0.1:6379/15", rasa_port=free_port(),
        actions_port=free_port(), rasa_token=SecretStr("test-rasa-token-0123456789abcdefghij"),
        secret_key=SecretStr("test-secret-key-0123456789abcdefghij"),
        pseudonym_key=SecretStr("test-secret-key-0123456789abcdefghij"),
    )  # fmt: skip
    second = settings.model_copy(update={"rasa_port": free_port()})
    logs = var / "logs"
    logs.mkdir()
    started = []
    try:
        started.append(processes.start(processes.action_server(settings), logs / "actions.log"))
        first = processes.start(processes.rasa_server(settings, trained_model), logs / "rasa.log")
        started.append(first)
        # The two servers load the model side by side, but the second starts only once the
        # first has created the tracker store's table (before loading its model), so they
        # do not both try to create it.
        events = tracker_engine(database_url)
        processes.wait_until(lambda: has_events(events), "Rasa's tracker table", 300, first)
        other = processes.start(processes.rasa_server(second, trained_model), logs / "rasa-2.log")
        started.append(other)
        processes.wait_for_http(f"http://127.0.0.1:{settings.actions_port}/health", 60, started[0])
        processes.wait_for_http(f"{settings.rasa_url}/", 300, first)
        processes.wait_for_http(f"{second.rasa_url}/", 300, other)
        yield Replicas(settings, [settings.rasa_url, second.rasa_url])
    finally:
        for process in reversed(started):
            processes.stop(process)


def user_turns(tracker_url: str, sender: str) -> list[tuple[str, bool]]:
    """Each message of the conversation, in stored order, and whether the bot answered it
    before the next message. A message Rasa re-reads after a `rewind` (its two-stage fallback
    does that) is the same turn, not a second one."""
    with tracker_engine(tracker_url).connect() as connection:
        rows = connection.execute(
            select(EVENTS.c.type_name, EVENTS.c.data)
            .where(EVENTS.c.sender_id == sender)
            .order_by(EVENTS.c.id)
        ).all()
    turns: list[tuple[str, bool]] = []
    previous = ""
    for type_name, data in rows:
        if type_name == "user" and previous != "rewind":
            turns.append((json.loads(data)["text"], False))
        elif type_name == "bot" and turns:
            turns[-1] = (turns[-1][0], True)
        if type_name not in ("action", "user_featurization", "slot", "active_loop"):
            previous = type_name
    return turns


def test_the_application_database_migrates_and_loads_on_postgresql(database_url: str) -> None:
    with session_factory(database_url).begin() as session:
        assert (session.scalar(select(func.count(Opportunity.id))) or 0) > 100
        version = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    newest = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert newest is not None and newest >= "0009"  # every migration ran, the last ones too
    assert version == newest


def test_two_rasa_servers_serve_one_conversation_at_once_without_losing_a_turn(
    replicas: Replicas,
) -> None:
    sender = f"tg-{secrets.token_hex(12)}"
    messages = [
        "hi", "any jobs in malta?", "what is the youth guarantee?", "thanks",
        "IT courses in Zagreb", "show me more", "who are you?", "bye",
    ]  # fmt: skip

    async def conversation() -> list[list[dict]]:
        clients = [RasaClient(url, "test-rasa-token-0123456789abcdefghij") for url in replicas.urls]
        try:
            replies: list[list[dict]] = []
            for first, second in zip(messages[::2], messages[1::2], strict=True):
                # Two messages of the same person reach the two servers at the same moment.
                replies += await asyncio.gather(
                    clients[0].send_message(sender, first), clients[1].send_message(sender, second)
                )
            return replies
        finally:
            for client in clients:
                await client.close()

    # In a thread of its own: another test's Playwright may hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        replies = pool.submit(asyncio.run, conversation()).result()
    assert all(reply for reply in replies), replies  # every message was answered
    turns = user_turns(replicas.settings.tracker_store_url, sender)
    assert sorted(text for text, _ in turns) == sorted(messages), turns  # none lost, none twice
    # Turns never interleave: each message is answered before the next one is read.
    assert all(answered for _, answered in turns), turns

    with session_factory(replicas.settings.database_url).begin() as session:
        conversations.sync(session, RasaEvents(replicas.settings.tracker_store_url))
        summary = session.get(Conversation, sender)
        assert summary is not None and summary.user_messages == len(messages)
    erased = privacy.erase_conversation(RasaEvents(replicas.settings.tracker_store_url), sender)
    assert erased > len(messages)
    assert transcripts.transcript(RasaEvents(replicas.settings.tracker_store_url), sender) == []
