"""Fixtures shared by every test: isolated settings and a migrated database per test."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import re
import sqlite3
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

# Tests never read a developer's .env (their subprocesses inherit this too).
os.environ["NEETBOT_ENV_FILE"] = os.devnull

from bot.db.migrate import upgrade  # noqa: E402
from bot.db.models import User  # noqa: E402
from bot.db.session import session_factory  # noqa: E402
from bot.services.catalogue_csv import COLUMNS  # noqa: E402
from bot.services.setup import prepare_database, sync_topics  # noqa: E402
from bot.services.users import create_user  # noqa: E402
from bot.services.vocabulary import vocabulary  # noqa: E402
from bot.settings import ROOT, Settings, get_settings  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own var/ and database; nothing touches the developer's."""
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the topics loaded, made once (migrating takes 0.4 s a test)."""
    path = tmp_path_factory.mktemp("migrated-template") / "app.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    with session_factory(url).begin() as session:
        sync_topics(session, vocabulary())
    return path


def copy_database(template: Path, path: Path) -> None:
    """A copy of a template SQLite database (SQLite's backup: fast, and consistent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        contextlib.closing(sqlite3.connect(template)) as source,
        contextlib.closing(sqlite3.connect(path)) as target,
    ):
        source.backup(target)


@pytest.fixture
def database_url(migrated_template: Path) -> str:
    """A migrated database with the topics loaded (and an empty catalogue): this test's own
    copy of one migrated once; another database (PostgreSQL) is migrated here."""
    url = get_settings().database_url
    if url.startswith("sqlite:///"):
        copy_database(migrated_template, Path(url.removeprefix("sqlite:///")))
        return url
    upgrade(url)
    with session_factory(url).begin() as session:
        sync_topics(session, vocabulary())
    return url


@pytest.fixture(scope="session")
def console_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with two coaches (marta, luca) and an admin (ana), made once."""
    path = tmp_path_factory.mktemp("console-template") / "app.db"
    url = f"sqlite:///{path}"
    prepare_database(url, sample=None)
    with session_factory(url).begin() as session:
        for username, role in (("marta", "coach"), ("luca", "coach"), ("ana", "admin")):
            create_user(session, username, role, "correct horse battery")
    return path


@pytest.fixture
def console_db(tmp_path: Path, console_template: Path) -> sessionmaker[Session]:
    """This test's own copy of the console template database (SQLite's backup: fast)."""
    path = tmp_path / "console.db"
    copy_database(console_template, path)
    return session_factory(f"sqlite:///{path}")


def account(session: Session, username: str) -> User:
    """A dashboard account by its username (the console database's marta, luca, ana...)."""
    found = session.scalar(select(User).where(User.username == username))
    assert found is not None
    return found


@pytest.fixture
def sessions(database_url: str) -> sessionmaker[Session]:
    """The session factory of the test database."""
    return session_factory(database_url)


_TODAY = dt.date.today()


def opportunity_row(**fields: object) -> dict[str, str]:
    """A valid catalogue row; keyword arguments override columns."""
    row = {
        "kind": "training",
        "title": "Web development bootcamp",
        "description": "Learn HTML, CSS and JavaScript in twelve weeks.",
        "provider": "Code Academy Split",
        "topics": "digital",
        "city": "Split",
        "region": "Split-Dalmatia",
        "country": "HR",
        "mode": "in_person",
        "languages": "hr;en",
        "start_date": str(_TODAY + dt.timedelta(days=70)),
        "end_date": str(_TODAY + dt.timedelta(days=160)),
        "deadline": str(_TODAY + dt.timedelta(days=55)),
        "cost_eur": "0",
        "min_age": "18",
        "max_age": "29",
        "women_only": "false",
        "neet_only": "true",
        "url": "https://code-academy.example/bootcamp",
        "contact": "hello@code-academy.example",
    }
    row.update({key: str(value) for key, value in fields.items()})
    return row


def catalogue_csv(*rows: dict[str, str], columns: tuple[str, ...] = COLUMNS) -> str:
    """A CSV document with the contract's header and `rows`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: row.get(key, "") for key in columns})
    return buffer.getvalue()


@cache
def domain_responses() -> dict[str, list[dict[str, Any]]]:
    """Every response of the Rasa domain with its variations, as the domain files hold them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((ROOT / "rasa_project" / "domain").glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        found.update(document.get("responses") or {})
    return found


def variation_language(variation: dict[str, Any]) -> str | None:
    """The language a response variation is for (None: the default, English, variation)."""
    for condition in variation.get("condition") or []:
        if condition.get("name") == "language":
            return str(condition.get("value"))
    return None


def connector_settings(
    api: FakeTelegramAPI, database_url: str, var_dir: Path | None = None
) -> Settings:
    """The connector's settings for offline tests: the fake Bot API, no rate limit."""
    return Settings(
        _env_file=None,
        var_dir=var_dir or get_settings().var_dir,
        database_url=database_url,
        telegram_bot_token=SecretStr(api.token),
        telegram_api_base_url=api.base_url,
        rasa_token=SecretStr("t" * 32),
        secret_key=SecretStr("k" * 32),
        pseudonym_key=SecretStr("k" * 32),
        telegram_rate_limit=0,
    )


def sign_in(client: Any, username: str, password: str) -> str:
    """Sign in to the dashboard through its form (FastAPI's test client); the CSRF token of the
    signed-in session, for the forms that follow."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    page = client.get("/conversations")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def version_on(page: str, language: str) -> str:
    """The version a studio page's form for `language` was rendered with."""
    form = page.split(f'id="{language}"')[1]
    return re.search(r'name="version" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
