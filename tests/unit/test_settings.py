"""Settings: the contract's variables, defaults, generated secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings


def test_secrets_are_generated_once_into_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    first = Settings(_env_file=None, var_dir=tmp_path)
    second = Settings(_env_file=None, var_dir=tmp_path)
    assert first.rasa_token is not None and first.secret_key is not None
    assert len(first.rasa_token.get_secret_value()) >= 32
    assert first.rasa_token == second.rasa_token and first.secret_key == second.secret_key
    assert (tmp_path / "rasa_token").stat().st_mode & 0o077 == 0, "owner-only file"
    assert first.database_url == f"sqlite:///{tmp_path / 'neetbot.db'}"


def test_empty_values_in_env_file_mean_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VAR_DIR", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    env = tmp_path / ".env"
    env.write_text(f"RASA_TOKEN=\nSECRET_KEY=\nTELEGRAM_BOT_TOKEN=\nVAR_DIR={tmp_path}/state\n")
    settings = Settings(_env_file=env)
    assert settings.telegram_bot_token is None
    assert settings.rasa_token is not None and settings.rasa_token.get_secret_value()
    assert settings.var_dir == tmp_path / "state"


def test_contract_defaults() -> None:
    settings = Settings(_env_file=None)
    assert (settings.rasa_port, settings.actions_port, settings.dashboard_port) == (
        5005,
        5055,
        8000,
    )
    assert settings.telegram_mode == "polling"
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
