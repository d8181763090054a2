"""Issue 16's privacy items: the sandbox keeps admins' test chats to itself, /mydata holds
everything coaches wrote, erasure is a job done until it is true, state files are owner-only,
logs are rotated and kept no longer than people's data, and no process logs a secret."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import create_engine, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Conversation, ConversationTag, Erasure, Person
from bot.logging_setup import REDACTED, redact_everywhere
from bot.services import privacy
from bot.services.people import now
from bot.settings import Settings, get_settings, secrets_of
from connectors import processes
from connectors.rasa.events import EVENTS, RasaEvents
from connectors.rasa.studio.sandbox import Sandbox


@pytest.fixture
def settings(database_url: str) -> Settings:
    return get_settings()


def test_the_sandbox_never_writes_into_the_production_tracker_store(tmp_path: Path) -> None:
    production = Settings(
        _env_file=None, var_dir=tmp_path,
        tracker_store="postgresql+psycopg://neetbot:pw@db.example:5432/neetbot",
        lock_store_url="redis://cache.example:6379/1",
    )  # fmt: skip
    sandbox = Sandbox(production).sandbox_settings(port=15999)
    assert sandbox.tracker_store_url == f"sqlite:///{tmp_path / 'sandbox' / 'rasa_tracker.db'}"
    spec = processes.rasa_server(sandbox, tmp_path / "model.tar.gz")
    endpoints = yaml.safe_load((tmp_path / "sandbox" / "endpoints-15999.yml").read_text())
    assert endpoints["tracker_store"]["dialect"] == "sqlite" and "lock_store" not in endpoints
    assert "db.example" not in str(spec.command) + str(endpoints)


def _conversation(sessions: sessionmaker[Session], sender: str) -> None:
    with sessions.begin() as session:
        row = Conversation(
            sender_id=sender, started_at=now(), last_at=now(), user_messages=1, languages="en",
            intents=" ", fallback=False, search_text="", note="asked about IT, anxious",
        )  # fmt: skip
        row.tags.append(ConversationTag(sender_id=sender, tag="follow up"))
        session.add(row)


def test_mydata_holds_the_note_and_tags_of_the_conversation(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _conversation(sessions, "tg-mine")
    with sessions.begin() as session:
        document = privacy.export_person(session, RasaEvents(settings.tracker_store_url), "tg-mine")
    assert document["conversation_note"] == "asked about IT, anxious"
    assert document["conversation_tags"] == ["follow up"]


def test_an_erasure_is_a_job_retried_until_it_is_done(
    sessions: sessionmaker[Session], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(settings.tracker_store_url)
    EVENTS.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(EVENTS), [{
            "sender_id": "tg-gone", "type_name": "user", "timestamp": 1.7e9,
            "intent_name": "greet", "action_name": None, "data": "{}",
        }])  # fmt: skip
    _conversation(sessions, "tg-gone")
    with sessions.begin() as session:
        session.add(
            Person(sender_id="tg-gone", consent_at=now(), consent_version="1", last_active_at=now())
        )
        privacy.request_erasure(session, "tg-gone", "it")
        privacy.request_erasure(session, "tg-gone", "it")  # asked twice: one job
        privacy.attach_erasure_chat(session, "tg-gone", 4242)
        (due,) = privacy.erasures_due(session)
    assert (due.sender_id, due.chat_id, due.language) == ("tg-gone", 4242, "it")

    def broken(*args: object) -> int:
        raise OSError("the tracker store is unreachable")

    monkeypatch.setattr(privacy, "erase_conversation", broken)
    with pytest.raises(OSError):
        privacy.finish_erasure(sessions, RasaEvents(settings.tracker_store_url), due.id)
    with sessions.begin() as session:
        assert [item.id for item in privacy.erasures_due(session)] == [due.id]  # still due
    monkeypatch.undo()
    assert privacy.finish_erasure(sessions, RasaEvents(settings.tracker_store_url), due.id) == 1
    with sessions.begin() as session:
        assert privacy.erasures_due(session) == []
        job = session.scalar(select(Erasure))
        assert job is not None and job.done_at is not None and job.attempts == 2
        assert job.sender_id is None and job.chat_id is None  # nothing of them stays
        assert session.get(Conversation, "tg-gone") is None
        assert session.scalar(select(Person).where(Person.sender_id == "tg-gone")) is None
    with engine.connect() as connection:
        assert connection.execute(select(EVENTS)).all() == []


def test_state_is_made_owner_only(tmp_path: Path) -> None:
    var = tmp_path / "var"
    (var / "logs").mkdir(parents=True)
    for path in (var / "neetbot.db", var / "logs" / "rasa.log"):
        path.write_text("x")
        path.chmod(0o644)
    var.chmod(0o755)
    assert processes.secure_state(var) == 4
    assert all(p.stat().st_mode & 0o077 == 0 for p in [var, *var.rglob("*")])


def test_logs_are_rotated_and_kept_no_longer_than_the_retention(tmp_path: Path) -> None:
    log = tmp_path / "rasa.log"
    log.write_text("yesterday's lines\n")
    (tmp_path / "rasa.log.2026-01-01").write_text("very old")
    (tmp_path / "rasa.log.2026-11-30").write_text("recent")
    processes.rotate_logs(tmp_path, keep_days=30, today=dt.date(2026, 12, 2))
    assert log.read_text() == ""
    assert (tmp_path / "rasa.log.2026-12-02").read_text() == "yesterday's lines\n"
    assert not (tmp_path / "rasa.log.2026-01-01").exists()
    assert (tmp_path / "rasa.log.2026-11-30").exists()


def test_every_secret_is_redacted_in_handlers_set_up_by_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        _env_file=None, var_dir=tmp_path, telegram_bot_token=SecretStr("123:" + "b" * 35),
        database_url="postgresql+psycopg://neetbot:db-password-42@localhost/neetbot",
    )  # fmt: skip
    secrets = secrets_of(settings)
    assert "db-password-42" in secrets and len(secrets) >= 5
    redact_everywhere(secrets)
    with caplog.at_level(logging.INFO):
        logging.getLogger("httpx").warning(
            "GET http://127.0.0.1:5005/status?token=%s failed",
            settings.rasa_token.get_secret_value(),  # type: ignore[union-attr]
        )
    assert REDACTED in caplog.text
    assert all(secret not in caplog.text for secret in secrets)


async def test_the_rasa_token_travels_in_a_header_never_in_a_url() -> None:
    import httpx
    import jwt

    from connectors.rasa.client import RasaClient

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"model_file": "m.tar.gz", "intent": {}})

    secret = "s" * 40
    client = RasaClient("http://127.0.0.1:5005", secret)
    client._http._transport = httpx.MockTransport(answer)  # no network in unit tests
    await client.status()
    await client.parse("hello")
    await client.close()
    for request in seen:
        assert secret not in str(request.url) and "token" not in request.url.params
        scheme, _, signed = request.headers["authorization"].partition(" ")
        assert scheme == "Bearer"
        assert jwt.decode(signed, secret, algorithms=["HS256"])["user"]["role"] == "admin"
