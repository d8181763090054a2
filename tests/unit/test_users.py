"""Dashboard accounts: `neetbot users create`, argon2 hashes, and slowing down guesses."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from bot.cli import app
from bot.db.models import User
from bot.services import users
from bot.services.users import UserError, authenticate, create_user

PASSWORD = "correct horse battery"


def test_the_command_creates_a_user_with_a_hashed_password(sessions) -> None:
    result = CliRunner().invoke(
        app, ["users", "create", "--username", "Marta", "--role", "coach", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert "Created coach 'marta'" in result.output
    with sessions.begin() as session:
        user = session.scalar(select(User).where(User.username == "marta"))
        assert user is not None and user.role == "coach"
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--username", "ab", "--role", "coach", "--password", PASSWORD], "3 to 40 characters"),
        (["--username", "ana", "--role", "boss", "--password", PASSWORD], "coach, admin"),
        (["--username", "ana", "--role", "admin", "--password", "short"], "at least 10"),
    ],
)
def test_the_command_refuses_bad_input_clearly(sessions, arguments, says) -> None:
    result = CliRunner().invoke(app, ["users", "create", *arguments])
    assert result.exit_code == 1
    assert says in result.output and "Traceback" not in result.output
    with sessions.begin() as session:
        assert session.scalars(select(User)).all() == []


def test_a_username_is_taken_once_whatever_its_case(sessions) -> None:
    with sessions.begin() as session:
        create_user(session, "Ana", "admin", PASSWORD)
    with sessions.begin() as session, pytest.raises(UserError, match="already a user"):
        create_user(session, "ANA", "coach", PASSWORD)


def test_right_and_wrong_passwords(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        create_user(session, "luca", "coach", PASSWORD)
    with sessions.begin() as session:
        assert authenticate(session, "Luca", PASSWORD).ok
        assert not authenticate(session, "luca", "wrong password!").ok
        assert not authenticate(session, "nobody", PASSWORD).ok
        user = session.scalar(select(User).where(User.username == "luca"))
        assert user is not None and user.failed_logins == 1 and user.last_login_at is not None


def test_repeated_failures_make_the_account_wait_longer_each_time(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)]
    monkeypatch.setattr(users, "now", lambda: clock[0])
    with sessions.begin() as session:
        create_user(session, "sara", "admin", PASSWORD)
    waits = []
    for _ in range(5):
        with sessions.begin() as session:
            attempt = authenticate(session, "sara", "not it at all")
            waits.append(attempt.wait)
            if attempt.wait:
                clock[0] += attempt.wait
    assert waits[:2] == [None, None]
    assert waits[2:] == [dt.timedelta(seconds=2), dt.timedelta(seconds=4), dt.timedelta(seconds=8)]
    with sessions.begin() as session:  # still waiting: even the right password must wait
        clock[0] -= dt.timedelta(seconds=1)
        assert authenticate(session, "sara", PASSWORD).wait == dt.timedelta(seconds=1)
    clock[0] += dt.timedelta(seconds=1)
    with sessions.begin() as session:
        assert authenticate(session, "sara", PASSWORD).ok
    with sessions.begin() as session:
        user = session.scalar(select(User).where(User.username == "sara"))
        assert user is not None and user.failed_logins == 0 and user.locked_until is None
