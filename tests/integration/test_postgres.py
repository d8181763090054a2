"""Production paths on the machine's real PostgreSQL and Redis: the application database and
Rasa's tracker store on PostgreSQL (one database, created and dropped here), and two Rasa
servers sharing them, kept consistent by the Redis lock store, serving the same conversation
at the same time. Skipped with the reason where no server answers, except in CI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import delete, func, select, text

from bot.db.migrate import alembic_config
from bot.db.models import Conversation, Opportunity, SyncState
from bot.db.session import session_factory
from bot.services import conversations, privacy, transcripts
from connectors.rasa.client import RasaClient
from connectors.rasa.events import EVENTS, RasaEvents, tracker_engine
from tests.integration.conftest import SharedBackend

# The first test pays for starting two Rasa servers: minutes on a busy two-core machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture(scope="module")
def replicas(postgres_backend: SharedBackend) -> SharedBackend:
    """The action server and two Rasa servers on one PostgreSQL database and Redis locks."""
    return postgres_backend


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
    replicas: SharedBackend,
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


def test_summaries_folded_by_several_processes_at_once_count_each_event_once(
    replicas: SharedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dashboard replicas and the command line fold the tracker's events at the same time:
    each event still counts once. The racers share no lock of this process (as if each were
    a process of its own): only the database keeps them apart."""
    monkeypatch.setattr(conversations, "_sync_lock", contextlib.nullcontext())
    url = replicas.settings.database_url
    log = RasaEvents(replicas.settings.tracker_store_url)
    sessions = session_factory(url)

    def fold_all() -> dict[str, int]:
        with sessions.begin() as session:
            conversations.sync(session, log)
        with sessions.begin() as session:
            return {
                row.sender_id: row.user_messages for row in session.scalars(select(Conversation))
            }

    def start_over() -> None:  # no summaries, the bookmark at the start
        with sessions.begin() as session:
            session.execute(delete(Conversation))
            session.merge(SyncState(name=conversations.SYNC_KEY, value=0))

    async def talk() -> None:  # two conversations of their own, one on each Rasa server
        clients = [RasaClient(url, "test-rasa-token-0123456789abcdefghij") for url in replicas.urls]
        try:
            for client in clients:
                sender = f"tg-{secrets.token_hex(12)}"
                for message in ("hi", "any jobs in malta?", "thanks"):
                    assert await client.send_message(sender, message)
        finally:
            for client in clients:
                await client.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, talk()).result()
    start_over()
    alone = fold_all()
    assert len(alone) >= 2 and sum(alone.values()) >= 6, alone
    start_over()
    barrier = threading.Barrier(4)

    def racing() -> None:
        with sessions.begin() as session:
            barrier.wait()
            conversations.sync(session, log, batch=7)

    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(racing) for _ in range(4)]:
            future.result()
    assert fold_all() == alone
