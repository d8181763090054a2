"""The real stack for integration tests: a model trained on our data (once, cached by hash), the
action server and the Rasa server as subprocesses, and the Telegram connector talking to the
fake Bot API. Everything listens on 127.0.0.1 on free ports; state lives in a temporary folder."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from bot.db.session import session_factory
from bot.services.setup import SAMPLE_CATALOGUE, prepare_database
from bot.settings import ROOT, Settings
from connectors import processes
from connectors.rasa.events import has_events, tracker_engine
from connectors.rasa.training import RASA_BIN, ensure_model
from tests.fakes.telegram_api import FakeTelegramAPI

SAMPLE_DATE = dt.date(2026, 11, 22)  # the day the sample catalogue's dates are relative to
POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def shifted_sample(target: Path) -> Path:
    """The sample catalogue with its dates moved by the days since it was written, so the
    integration tests find open opportunities whatever the date they run on."""
    shift = dt.date.today() - SAMPLE_DATE
    rows = list(csv.DictReader(io.StringIO(SAMPLE_CATALOGUE.read_text(encoding="utf-8"))))
    for row in rows:
        for column in ("start_date", "end_date", "deadline"):
            if row[column]:
                row[column] = str(dt.date.fromisoformat(row[column]) + max(shift, dt.timedelta()))
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def stack_settings(var: Path) -> Settings:
    """Settings of a stack in `var` (free ports, SQLite), its database prepared with the
    sample catalogue."""
    settings = Settings(
        _env_file=None,
        var_dir=var,
        database_url=f"sqlite:///{var / 'app.db'}",
        rasa_port=free_port(),
        actions_port=free_port(),
        rasa_token=SecretStr("test-rasa-token-0123456789abcdefghij"),
        secret_key=SecretStr("test-secret-key-0123456789abcdefghij"),
        pseudonym_key=SecretStr("test-secret-key-0123456789abcdefghij"),
    )
    prepare_database(settings.database_url, sample=shifted_sample(var / "catalogue.csv"))
    return settings


@dataclass
class Stack:
    """A running Rasa server and action server on one database."""

    settings: Settings
    model: Path
    logs: Path

    def env(self) -> dict[str, str]:
        return processes.app_env(self.settings)


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The model for the current training data (trained once, then cached by hash)."""
    if not RASA_BIN.exists():
        pytest.fail(f"{RASA_BIN} is missing: run `make install` (make test does it)")
    return ensure_model(Settings(_env_file=None))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, trained_model: Path) -> Iterator[Stack]:
    """Rasa and the action server, started once for the whole test session."""
    settings = stack_settings(tmp_path_factory.mktemp("stack"))
    logs = settings.var_dir / "logs"
    backend = processes.start_backend(settings, trained_model, logs)
    try:
        yield Stack(settings, trained_model, logs)
    finally:
        for process in reversed(backend):
            processes.stop(process)


@pytest.fixture(scope="module")
def fake_telegram() -> Iterator[FakeTelegramAPI]:
    """The fake Bot API server, one per test module."""
    with FakeTelegramAPI() as api:
        yield api


@dataclass
class Connector:
    """A running Telegram connector process."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_connector(stack: Stack, api: FakeTelegramAPI, name: str, **env: str) -> Connector:
    """Start `python -m connectors.telegram` against the fake Bot API."""
    log = stack.logs / f"{name}.log"
    environment = {
        **stack.env(),
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_RATE_LIMIT": "0",
        **env,
    }
    spec = processes.ProcessSpec(name, [sys.executable, "-m", "connectors.telegram"], environment)
    process = processes.start(spec, log)
    return Connector(process, log)


def webhook_env(port: int, secret: str) -> dict[str, str]:
    """The connector's settings for webhook mode on 127.0.0.1:`port`."""
    return {
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
        "TELEGRAM_WEBHOOK_SECRET": secret,
        "TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1",
        "TELEGRAM_WEBHOOK_PORT": str(port),
    }


@pytest.fixture(scope="module")
def connector(stack: Stack, fake_telegram: FakeTelegramAPI) -> Iterator[Connector]:
    """The connector in polling mode, one per test module."""
    running = start_connector(stack, fake_telegram, "telegram-polling")
    fake_telegram.wait_for(lambda: fake_telegram.calls_to("getUpdates"), timeout=30)
    yield running
    processes.stop(running.process)


@pytest.fixture(autouse=True)
def _no_leaked_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Integration processes get their settings explicitly, never from a developer's .env."""
    monkeypatch.chdir(ROOT)
    os.environ.pop("TELEGRAM_BOT_TOKEN", None)


@dataclass
class Dashboard:
    """A running dashboard process."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path


def start_dashboard(stack: Stack, api: FakeTelegramAPI, name: str) -> Dashboard:
    """Start the dashboard (`uvicorn dashboard.app`) on the stack's database and tracker
    store, writing to the fake Bot API, exactly as `neetbot run` starts it."""
    settings = stack.settings.model_copy(
        update={
            "dashboard_port": free_port(),
            "telegram_bot_token": SecretStr(api.token),
            "telegram_api_base_url": api.base_url,
        }
    )
    log = stack.logs / f"{name}.log"
    process = processes.start(processes.dashboard(settings), log)
    url = f"http://127.0.0.1:{settings.dashboard_port}"
    try:
        processes.wait_for_http(f"{url}/health", 60, process)
    except BaseException:
        processes.stop(process)
        raise
    return Dashboard(process, url, log)


def create_account(stack: Stack, username: str, role: str, password: str) -> None:
    """A dashboard account in the stack's database (once per test session)."""
    from bot.db.session import session_factory
    from bot.services.users import UserError, create_user

    database = session_factory(stack.settings.database_url)
    with database.begin() as session, contextlib.suppress(UserError):  # made by another module
        create_user(session, username, role, password)


# --- PostgreSQL and Redis: the production paths ----------------------------------------------


def answers(address: tuple[str, int]) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(address) == 0


def require(address: tuple[str, int], name: str) -> None:
    """Skip with the reason when the server does not answer, except in CI, which must run
    the PostgreSQL and Redis paths."""
    if answers(address):
        return
    reason = f"no {name} server answers on {address[0]}:{address[1]}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must run the PostgreSQL and Redis paths)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL database of its own, migrated and loaded, dropped afterwards."""
    require(POSTGRES, "PostgreSQL")
    name = f"neetbot_test_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
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
class SharedBackend:
    """An action server and two Rasa servers on one PostgreSQL database (application and
    tracker store) and Redis locks. `running` holds the processes by name ("actions",
    "rasa", "rasa-2"); a test that kills and restarts one puts the new one there."""

    settings: Settings  # the action server's and the first Rasa server's
    second: Settings  # the second Rasa server's (its own port)
    model: Path
    logs: Path
    running: dict[str, subprocess.Popen[bytes]]

    @property
    def urls(self) -> list[str]:
        return [self.settings.rasa_url, self.second.rasa_url]

    def env(self, rasa: int = 0) -> dict[str, str]:
        """Our processes' environment, talking to Rasa server `rasa` (0 or 1)."""
        chosen = (self.settings, self.second)[rasa]
        return {**processes.app_env(chosen), "TRACKER_STORE_URL": chosen.tracker_store_url}


@pytest.fixture(scope="session")
def postgres_backend(
    postgres_url: str, trained_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedBackend]:
    """The action server and two Rasa servers on PostgreSQL and Redis, for the session."""
    require(REDIS, "Redis")
    var = tmp_path_factory.mktemp("postgres")
    settings = Settings(
        _env_file=None, var_dir=var, database_url=postgres_url, tracker_store=postgres_url,
        lock_store_url="redis://127.0.0.1:6379/15", rasa_port=free_port(),
        actions_port=free_port(), rasa_token=SecretStr("test-rasa-token-0123456789abcdefghij"),
        secret_key=SecretStr("test-secret-key-0123456789abcdefghij"),
        pseudonym_key=SecretStr("test-secret-key-0123456789abcdefghij"),
    )  # fmt: skip
    second = settings.model_copy(update={"rasa_port": free_port()})
    logs = var / "logs"
    logs.mkdir()
    running: dict[str, subprocess.Popen[bytes]] = {}
    try:
        running["actions"] = processes.start(
            processes.action_server(settings), logs / "actions.log"
        )
        first = processes.start(processes.rasa_server(settings, trained_model), logs / "rasa.log")
        running["rasa"] = first
        # The two servers load the model side by side, but the second starts only once the
        # first has created the tracker store's table (before loading its model), so they
        # do not both try to create it.
        events = tracker_engine(postgres_url)
        processes.wait_until(lambda: has_events(events), "Rasa's tracker table", 300, first)
        other = processes.start(processes.rasa_server(second, trained_model), logs / "rasa-2.log")
        running["rasa-2"] = other
        processes.wait_for_http(
            f"http://127.0.0.1:{settings.actions_port}/health", 60, running["actions"]
        )
        processes.wait_for_http(f"{settings.rasa_url}/", 300, first)
        processes.wait_for_http(f"{second.rasa_url}/", 300, other)
        yield SharedBackend(settings, second, trained_model, logs, running)
    finally:
        for process in reversed(list(running.values())):
            processes.stop(process)
