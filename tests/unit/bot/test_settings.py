"""Settings: the contract's variables, defaults, generated secrets."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from bot.settings import Settings, _generated_secret


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


def test_sessions_and_pseudonyms_have_keys_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    new = Settings(_env_file=None, var_dir=tmp_path / "new")
    assert new.secret_key is not None and new.pseudonym_key is not None
    assert new.secret_key != new.pseudonym_key
    assert (tmp_path / "new" / "pseudonym_key").stat().st_mode & 0o077 == 0
    # Rotating the session key keeps every pseudonym.
    rotated = Settings(_env_file=None, var_dir=tmp_path / "new", secret_key=SecretStr("r" * 40))
    assert rotated.pseudonym_key == new.pseudonym_key
    # An installation from before: its secret key keyed the pseudonyms, and still does.
    old = tmp_path / "old"
    old.mkdir()
    (old / "secret_key").write_text("s" * 43)
    upgraded = Settings(_env_file=None, var_dir=old)
    assert upgraded.pseudonym_key is not None
    assert upgraded.pseudonym_key.get_secret_value() == "s" * 43
    again = Settings(_env_file=None, var_dir=old, secret_key=SecretStr("n" * 40))
    assert again.pseudonym_key == upgraded.pseudonym_key  # stored: rotation is safe now


@pytest.mark.parametrize("name", ["secret_key", "pseudonym_key", "rasa_token"])
@pytest.mark.parametrize("value", ["", "short", "x" * 31])
def test_short_keys_are_refused(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(_env_file=None, var_dir=tmp_path, **{name: SecretStr(value)})


def test_processes_starting_at_once_share_one_generated_secret(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        found = set(pool.map(lambda _: _generated_secret(tmp_path, "k").get_secret_value(),
                             range(32)))  # fmt: skip
    assert len(found) == 1 and len(found.pop()) >= 32
    assert [path.name for path in tmp_path.iterdir()] == ["k"]  # no temporary file left
