"""One typed settings object, read from the environment (and a `.env` file) in one place.

Secrets that are not given (`RASA_TOKEN`, `SECRET_KEY`) are generated once into `var/` so that
every process of one installation shares them and they survive restarts.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot import languages
from bot.config import ROOT

SUPPORTED_LANGUAGES = languages.supported()  # from config/languages.yml


MIN_KEY = 32  # characters of every key: a short or empty one can be guessed (or forged)


def _generated_secret(var_dir: Path, name: str, value: str | None = None) -> SecretStr:
    """The secret stored in `var/<name>`; if missing, `value` (else a new random one) is
    stored, readable by its owner only. Written atomically: of two processes starting at once,
    both end up with the same secret."""
    path = var_dir / name
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=var_dir, prefix=f".{name}.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(value or secrets.token_urlsafe(MIN_KEY))
            os.link(temporary, path)  # fails if another process stored one first
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return SecretStr(path.read_text().strip())


def _long_enough(name: str, value: SecretStr | None) -> None:
    if value is not None and len(value.get_secret_value()) < MIN_KEY:
        raise ValueError(
            f"{name} must have at least {MIN_KEY} characters "
            f'(e.g. python3 -c "import secrets; print(secrets.token_urlsafe(32))")'
        )


class Settings(BaseSettings):
    """Everything configurable. Names are the contract's environment variables."""

    # An empty value (`RASA_TOKEN=` in a copied .env.example) means "not set", not "".
    model_config = SettingsConfigDict(
        env_file=os.environ.get("NEETBOT_ENV_FILE", ".env"),
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8443
    # Messages per second to Telegram overall (Telegram allows about 30); 0 turns limiting off.
    telegram_rate_limit: float = 30.0

    database_url: str = ""
    # Rasa's tracker store (SQLAlchemy URL; PostgreSQL in production, shared by all Rasa
    # servers) and lock store (redis://host:port/db), which lets several Rasa servers serve the
    # same conversations safely. Unset: a SQLite file under var/, and Rasa's in-memory locks.
    tracker_store: str = Field(default="", alias="TRACKER_STORE_URL")
    lock_store_url: str = ""
    rasa_port: int = 5005
    actions_port: int = 5055
    dashboard_port: int = 8000
    rasa_host: str = "127.0.0.1"
    rasa_token: SecretStr | None = None
    # Signs the dashboard's sessions: rotate it after a leak (everyone signs in again).
    secret_key: SecretStr | None = None
    # Keys the pseudonyms (Telegram id → the name Rasa knows a person by): rotating it cuts
    # every young person off from their data, so it is a key of its own (decision 21).
    pseudonym_key: SecretStr | None = None

    var_dir: Path = ROOT / "var"
    model_cache_dir: Path = Path.home() / ".cache" / "neetbot" / "models"
    # Sentence embeddings of training examples, by text, shared by every training on this
    # machine (rasa_project/neetbot_nlu/cache.py): a retraining embeds only new examples.
    embedding_cache: Path = Path.home() / ".cache" / "neetbot" / "embeddings.sqlite3"
    rasa_timeout_seconds: float = 30.0
    default_language: str = "en"
    page_size: int = Field(default=5, ge=1, le=10)
    log_level: str = "INFO"
    # Alerts: how often the connector looks for queued alerts, and the quiet hours (local time
    # of each person) during which none are sent.
    alert_poll_seconds: float = Field(default=10.0, gt=0)
    alert_quiet_start: int = Field(default=21, ge=0, le=23)
    alert_quiet_end: int = Field(default=8, ge=0, le=23)
    # Moves the connector's clock for check-ins, broadcasts and alerts' quiet hours this many
    # days ahead: for tests and demonstrations ("a month later"), never in production.
    clock_offset_days: float = Field(default=0.0, ge=0, le=3650)
    # `make run` erases the data of people inactive for this many days, once a day.
    privacy_inactive_days: int = Field(default=365, ge=1)
    # Coach handoff: how long a request waits for a coach before the bot offers to carry on,
    # and how often the connector looks.
    handoff_timeout_seconds: float = Field(default=900.0, gt=0)
    handoff_poll_seconds: float = Field(default=5.0, gt=0)
    # The dashboard listens on this address (127.0.0.1: put a TLS proxy in front to publish it).
    dashboard_host: str = "127.0.0.1"
    # Mark the dashboard's session cookie Secure (served over HTTPS only).
    dashboard_https: bool = False
    # Where coaches open the dashboard (the links in their Telegram notifications); empty:
    # http://<DASHBOARD_HOST>:<DASHBOARD_PORT>.
    dashboard_public_url: str = ""
    # The admin studio: the Rasa project it edits and trains, the training configuration (a
    # file in that project), how many trained models it keeps for rolling back, and the
    # held-out messages (<language code>.yml, never trained on) it scores each new model on.
    rasa_project_dir: Path = ROOT / "rasa_project"
    training_config: str = "config.yml"
    models_kept: int = Field(default=5, ge=2)
    studio_eval_dir: Path = ROOT / "eval" / "intents"

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        # Absolute, because Rasa runs in rasa_project/ and must find the same files.
        self.var_dir = self.var_dir.resolve()
        self.model_cache_dir = self.model_cache_dir.expanduser().resolve()
        self.embedding_cache = self.embedding_cache.expanduser().resolve()
        self.rasa_project_dir = self.rasa_project_dir.resolve()
        self.studio_eval_dir = self.studio_eval_dir.resolve()
        if not self.database_url:
            self.var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.database_url = f"sqlite:///{self.var_dir / 'neetbot.db'}"
        if self.rasa_token is None:
            self.rasa_token = _generated_secret(self.var_dir, "rasa_token")
        # A secret key that existed before this start (given, or stored by an earlier run).
        existed = self.secret_key is not None or (self.var_dir / "secret_key").exists()
        if self.secret_key is None:
            self.secret_key = _generated_secret(self.var_dir, "secret_key")
        legacy = self.secret_key.get_secret_value() if existed else None
        if self.pseudonym_key is None:
            # An installation from before PSEUDONYM_KEY keyed pseudonyms with SECRET_KEY: that
            # value stays the pseudonym key (stored), so SECRET_KEY can rotate from now on.
            self.pseudonym_key = _generated_secret(self.var_dir, "pseudonym_key", legacy)
        for name, value in (
            ("RASA_TOKEN", self.rasa_token), ("SECRET_KEY", self.secret_key),
            ("PSEUDONYM_KEY", self.pseudonym_key),
        ):  # fmt: skip
            _long_enough(name, value)
        return self

    @property
    def rasa_url(self) -> str:
        """Base URL of the Rasa server's HTTP API (always on this machine)."""
        return f"http://{self.rasa_host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        """URL Rasa calls to run custom actions."""
        return f"http://127.0.0.1:{self.actions_port}/webhook"

    @property
    def tracker_db_path(self) -> Path:
        """Rasa's SQLite tracker store: a file of its own, never shared with our database."""
        return self.var_dir / "rasa_tracker.db"

    @property
    def tracker_store_url(self) -> str:
        """SQLAlchemy URL of Rasa's tracker store, for reading transcripts and erasing them:
        `TRACKER_STORE_URL` (e.g. PostgreSQL in production), else a SQLite file of its own."""
        return self.tracker_store or f"sqlite:///{self.tracker_db_path}"


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value of these settings (tokens, keys, database and Redis passwords): the
    logs of every process replace them by "[redacted]" (bot/logging_setup.py)."""
    found = [
        secret.get_secret_value()
        for secret in (
            settings.telegram_bot_token, settings.telegram_webhook_secret, settings.rasa_token,
            settings.secret_key, settings.pseudonym_key,
        )
        if secret is not None
    ]  # fmt: skip
    for url in (settings.database_url, settings.tracker_store, settings.lock_store_url):
        password = urlsplit(url).password if url else None
        if password:
            found.append(password)
    return found


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
