"""Dashboard accounts: `neetbot users create`, argon2 hashes, and slowing down guesses."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from bot.db.models import LoginThrottle, User
from bot.services import users
from bot.services.users import UserError, authenticate, create_user
from neetbot.cli import app

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


SECRET = b"k" * 32


def throttle(sessions: sessionmaker[Session], name: str) -> tuple[int, dt.datetime | None]:
    with sessions.begin() as session:
        row = session.get(LoginThrottle, users.throttle_key(SECRET, name))
        return (row.failures, row.locked_until) if row else (0, None)


def test_right_and_wrong_passwords(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        create_user(session, "luca", "coach", PASSWORD)
    assert authenticate(sessions, SECRET, "Luca", PASSWORD).ok
    assert not authenticate(sessions, SECRET, "luca", "wrong password!").ok
    assert not authenticate(sessions, SECRET, "nobody", PASSWORD).ok
    assert throttle(sessions, "luca") == (1, None)
    with sessions.begin() as session:
        user = session.scalar(select(User).where(User.username == "luca"))
        assert user is not None and user.last_login_at is not None
        # Guesses are counted under a keyed hash: no trace of a typed name in the database.
        assert "nobody" not in str(session.scalars(select(LoginThrottle.key)).all())


def test_repeated_failures_make_the_name_wait_longer_each_time(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)]
    monkeypatch.setattr(users, "now", lambda: clock[0])
    with sessions.begin() as session:
        create_user(session, "sara", "admin", PASSWORD)
    for name in ("sara", "nobody-at-all"):  # an unknown name gets exactly the same answers
        waits = []
        for _ in range(5):
            attempt = authenticate(sessions, SECRET, name, "not it at all")
            waits.append(attempt.wait)
            if attempt.wait:
                clock[0] += attempt.wait
        assert waits[:2] == [None, None], name
        assert waits[2:] == [
            dt.timedelta(seconds=2), dt.timedelta(seconds=4), dt.timedelta(seconds=8)
        ], name  # fmt: skip
        clock[0] -= dt.timedelta(seconds=1)  # still waiting: even the right password must wait
        assert authenticate(sessions, SECRET, name, PASSWORD).wait == dt.timedelta(seconds=1)
        clock[0] += dt.timedelta(seconds=1)
    assert authenticate(sessions, SECRET, "sara", PASSWORD).ok
    assert throttle(sessions, "sara") == (0, None)


def test_parallel_guesses_are_claimed_before_any_check(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """25 attempts, 12 at a time, the right password last: only the first three are checked,
    the right one waits like the others, and the failures are counted."""
    with sessions.begin() as session:
        create_user(session, "eva", "admin", PASSWORD)
    checked = []
    real_verify = users._verify

    def slow_verify(password_hash: str, password: str) -> bool:
        checked.append(password)
        time.sleep(0.3)  # as long as argon2 on a busy machine: the others arrive meanwhile
        return real_verify(password_hash, password)

    monkeypatch.setattr(users, "_verify", slow_verify)
    monkeypatch.setattr(users, "_checking", threading.BoundedSemaphore(25))
    guesses = [f"wrong guess {n:02d}" for n in range(24)] + [PASSWORD]
    with ThreadPoolExecutor(12) as pool:
        attempts = list(pool.map(lambda p: authenticate(sessions, SECRET, "eva", p), guesses))
    assert len(checked) == users.FREE_FAILURES
    assert not any(attempt.ok for attempt in attempts)
    failures, locked_until = throttle(sessions, "eva")
    assert failures == users.FREE_FAILURES and locked_until is not None


def test_a_burst_of_password_checks_waits_its_turn(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(users, "_checking", threading.BoundedSemaphore(1))
    monkeypatch.setattr(users, "CHECK_WAIT", 0.05)
    users._checking.acquire()  # another check holds the only turn
    try:
        with pytest.raises(users.Busy):
            authenticate(sessions, SECRET, "anyone", PASSWORD)
    finally:
        users._checking.release()


def test_accounts_are_managed_and_sessions_end(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        boss = create_user(session, "boss", "admin", PASSWORD)
        coach = create_user(session, "marta.r", "coach", PASSWORD)
        assert coach.display_name == "Marta"
        with pytest.raises(UserError, match="only enabled admin"):
            users.set_disabled(session, "boss", True)
        with pytest.raises(UserError, match="only enabled admin"):
            users.set_role(session, "boss", "coach")
        assert users.set_display_name(session, "marta.r", "  Marta   R. ").display_name == (
            "Marta R."
        )
        with pytest.raises(UserError, match="display name"):
            users.set_display_name(session, "marta.r", "1234")
        versions = [users.set_disabled(session, "marta.r", True).session_version]
        versions.append(users.set_disabled(session, "marta.r", False).session_version)
        versions.append(users.set_role(session, "marta.r", "admin").session_version)
        versions.append(users.set_password(session, "marta.r", "another long one").session_version)
        assert versions == [1, 2, 3, 4]
        users.end_sessions(session, boss.id)
        assert users.get_account(session, boss.id).session_version == 1  # type: ignore[union-attr]
    with sessions.begin() as session:
        users.set_disabled(session, "marta.r", True)
    assert not authenticate(sessions, SECRET, "marta.r", "another long one").ok  # disabled
    assert authenticate(sessions, SECRET, "boss", PASSWORD).ok
