"""The commands that start each process, and a small supervisor used by `neetbot run`.

Tests start the same commands, so what is tested is what runs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from sqlalchemy.engine import make_url

from bot.settings import ROOT, Settings
from bot.training import RASA_BIN, RASA_PROJECT, rasa_env

logger = logging.getLogger(__name__)


@dataclass
class ProcessSpec:
    """One process: its name, command line and environment."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT


def app_env(settings: Settings) -> dict[str, str]:
    """The environment our processes share: the settings they must agree on."""
    assert settings.rasa_token is not None and settings.secret_key is not None
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "RASA_PORT": str(settings.rasa_port),
        "ACTIONS_PORT": str(settings.actions_port),
        "RASA_TOKEN": settings.rasa_token.get_secret_value(),
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "VAR_DIR": str(settings.var_dir),
        "PYTHONUNBUFFERED": "1",
    }


def endpoints(settings: Settings) -> tuple[dict[str, Any], dict[str, str]]:
    """Rasa's endpoints for these settings, and the environment holding their secrets (Rasa
    substitutes `${...}` from the environment, so no password is written to the file)."""
    secrets: dict[str, str] = {}
    url = make_url(settings.tracker_store_url)
    if url.get_backend_name() == "sqlite":
        tracker: dict[str, Any] = {"type": "SQL", "dialect": "sqlite", "db": url.database}
    else:
        tracker = {
            "type": "SQL", "dialect": url.get_backend_name(), "url": url.host or "127.0.0.1",
            "port": url.port or 5432, "db": url.database, "username": url.username or "",
            "login_db": url.database,
        }  # fmt: skip
        if url.password:
            tracker["password"] = "${NEETBOT_TRACKER_PASSWORD}"  # noqa: S105 - a reference
            secrets["NEETBOT_TRACKER_PASSWORD"] = str(url.password)
    result: dict[str, Any] = {
        "action_endpoint": {"url": settings.actions_url},
        "tracker_store": tracker,
    }
    if settings.lock_store_url:
        lock = urlsplit(settings.lock_store_url)
        # Rasa's own "redis" type has a race between servers (rasa_project/neetbot_locks.py).
        result["lock_store"] = {
            "type": "neetbot_locks.AtomicRedisLockStore",
            "url": lock.hostname or "127.0.0.1", "port": lock.port or 6379,
            "db": int((lock.path or "/0").strip("/") or 0), "key_prefix": "neetbot",
        }  # fmt: skip
        if lock.password:
            result["lock_store"]["password"] = "${NEETBOT_LOCK_PASSWORD}"  # noqa: S105
            secrets["NEETBOT_LOCK_PASSWORD"] = lock.password
    return result, secrets


def rasa_server(settings: Settings, model: Path) -> ProcessSpec:
    """The Rasa server: REST channel and HTTP API (token-protected) on 127.0.0.1 only, with
    its endpoints (actions, tracker store, lock store) written from the settings."""
    assert settings.rasa_token is not None
    document, secrets = endpoints(settings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    endpoints_file = settings.var_dir / f"endpoints-{settings.rasa_port}.yml"
    endpoints_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    env = {**rasa_env(settings), **secrets}
    command = [
        str(RASA_BIN), "run",
        "--model", str(model),
        "--endpoints", str(endpoints_file), "--credentials", "credentials.yml",
        "--enable-api", "--auth-token", settings.rasa_token.get_secret_value(),
        "--interface", settings.rasa_host, "--port", str(settings.rasa_port),
    ]  # fmt: skip
    return ProcessSpec("rasa", command, env, RASA_PROJECT)


def action_server(settings: Settings) -> ProcessSpec:
    """The rasa-sdk action server with our `actions` package, on 127.0.0.1 only."""
    env = {**app_env(settings), "SANIC_HOST": "127.0.0.1", "ACTION_SERVER_SANIC_WORKERS": "1"}
    command = [sys.executable, "-m", "rasa_sdk", "--actions", "actions"]
    return ProcessSpec("actions", [*command, "--port", str(settings.actions_port)], env)


def telegram_connector(settings: Settings) -> ProcessSpec:
    """The Telegram connector (polling or webhook, from the settings)."""
    return ProcessSpec("telegram", [sys.executable, "-m", "connectors.telegram"], app_env(settings))


def dashboard(settings: Settings) -> ProcessSpec:
    """The web dashboard for coaches and admins (uvicorn, one worker)."""
    command = [
        sys.executable, "-m", "uvicorn", "bot.dashboard.app:create_app", "--factory",
        "--host", settings.dashboard_host, "--port", str(settings.dashboard_port),
        "--no-access-log", "--no-server-header",
    ]  # fmt: skip
    env = dict(app_env(settings))
    if settings.telegram_bot_token is not None:
        env["TELEGRAM_BOT_TOKEN"] = settings.telegram_bot_token.get_secret_value()
        env["TELEGRAM_API_BASE_URL"] = settings.telegram_api_base_url
    env["HANDOFF_TIMEOUT_SECONDS"] = str(settings.handoff_timeout_seconds)
    # The studio edits and trains this project, into this cache.
    env["RASA_PROJECT_DIR"] = str(settings.rasa_project_dir)
    env["TRAINING_CONFIG"] = settings.training_config
    env["MODEL_CACHE_DIR"] = str(settings.model_cache_dir)
    env["MODELS_KEPT"] = str(settings.models_kept)
    env["STUDIO_EVAL_DIR"] = str(settings.studio_eval_dir)
    return ProcessSpec("dashboard", command, env)


def start(spec: ProcessSpec, log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a process in its own process group (so stopping it stops its children too)."""
    output = log_file.open("ab") if log_file else None
    return subprocess.Popen(
        spec.command,
        cwd=spec.cwd,
        env=spec.env or None,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a process group: SIGTERM, then SIGKILL after `timeout` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def start_backend(settings: Settings, model: Path, logs: Path) -> list[subprocess.Popen[bytes]]:
    """Start the action server and the Rasa server (logs in `logs/`) and wait until both
    answer; returns [actions, rasa]. If either fails to start, both are stopped."""
    logs.mkdir(parents=True, exist_ok=True)
    actions = start(action_server(settings), logs / "actions.log")
    rasa = start(rasa_server(settings, model), logs / "rasa.log")
    try:
        wait_for_http(f"http://127.0.0.1:{settings.actions_port}/health", 60, actions)
        wait_for_http(f"{settings.rasa_url}/", 300, rasa)
    except BaseException:
        stop(rasa)
        stop(actions)
        raise
    return [actions, rasa]


def wait_until(
    condition: Callable[[], object],
    what: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Wait until `condition()` is true; fail early if `process` exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{what}: the process exited with code {process.returncode} while starting "
                "(see its log)"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready within {timeout:.0f} s")
        time.sleep(0.5)


def wait_for_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `url` answers 200; fail early if `process` exits."""

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, url, timeout, process)
