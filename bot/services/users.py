"""Coach and admin accounts of the dashboard: creation, password checks, slowing down guesses.

Passwords are hashed with argon2 (argon2-cffi's recommended parameters) and never stored or
logged in clear. After `FREE_FAILURES` wrong passwords in a row an account waits before the
next try, twice as long after each further failure (up to `MAX_WAIT`); a right password resets.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import User
from bot.services.people import now

ROLES = ("coach", "admin")
MIN_PASSWORD = 10
FREE_FAILURES = 3
FIRST_WAIT = dt.timedelta(seconds=2)
MAX_WAIT = dt.timedelta(minutes=5)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,39}$")
_hasher = PasswordHasher()
# Verified against when the username is unknown, so that the answer takes as long either way.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class UserError(ValueError):
    """A request about an account that cannot be done, with a message for the person."""


def normalise_username(username: str) -> str:
    """Usernames are case-insensitive: stored and compared in lower case."""
    return username.strip().lower()


def create_user(session: Session, username: str, role: str, password: str) -> User:
    """Create an account; UserError says what is wrong (name taken, weak password, ...)."""
    name = normalise_username(username)
    if not _USERNAME.match(name):
        raise UserError(
            "A username has 3 to 40 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    if role not in ROLES:
        raise UserError(f"The role must be one of: {', '.join(ROLES)}.")
    check_password(password)
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise UserError(f"There is already a user called {name!r}.")
    user = User(
        username=name,
        password_hash=_hasher.hash(password),
        role=role,
        created_at=now(),
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    return user


def check_password(password: str) -> None:
    """UserError unless the password is acceptable (long enough, not blank)."""
    if len(password) < MIN_PASSWORD or not password.strip():
        raise UserError(f"A password needs at least {MIN_PASSWORD} characters.")


@dataclass(frozen=True)
class Attempt:
    """The outcome of a login attempt."""

    user: User | None  # set when the password was right
    wait: dt.timedelta | None = None  # set when the account must wait before another try

    @property
    def ok(self) -> bool:
        return self.user is not None


def authenticate(session: Session, username: str, password: str) -> Attempt:
    """Check a username and password, counting failures and enforcing the wait."""
    moment = now()
    user = session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        _verify(_DUMMY_HASH, password)
        return Attempt(None)
    locked_until = _aware(user.locked_until)
    if locked_until is not None and locked_until > moment:
        return Attempt(None, locked_until - moment)
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= FREE_FAILURES:
            doublings = user.failed_logins - FREE_FAILURES
            wait = min(FIRST_WAIT * 2 ** min(doublings, 16), MAX_WAIT)
            user.locked_until = moment + wait
            session.flush()
            return Attempt(None, wait)
        session.flush()
        return Attempt(None)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = moment
    session.flush()
    return Attempt(user)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives stored UTC times back without their zone."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)
