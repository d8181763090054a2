"""Coach and admin accounts of the dashboard: creation, management, password checks, and
slowing down guesses.

Passwords are hashed with argon2 (argon2-cffi's recommended parameters) and never stored or
logged in clear. Guessing is slowed down per username, known or not (`login_throttle`, keyed
by a keyed hash of the name, so an unknown name gets exactly the answers and timing of a
known one): after `FREE_FAILURES` wrong passwords in a row the name waits before the next
try, twice as long after each further failure (up to `MAX_WAIT`); a right password resets.
Each attempt is claimed in the database *before* the password is checked (one compare-and-set
UPDATE … RETURNING, on SQLite and PostgreSQL alike), so parallel guesses cannot all be
checked: once the claims reach the limit, the rest wait without a check.

Each account has a session version: a session is valid only while its version is the
account's (signing out, a password change, disabling or a role change bump it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import LoginThrottle, User
from bot.refusal import Refusal
from bot.services.people import now

ROLES = ("coach", "admin")
MIN_PASSWORD = 10
MAX_DISPLAY_NAME = 40
FREE_FAILURES = 3
FIRST_WAIT = dt.timedelta(seconds=2)
MAX_WAIT = dt.timedelta(minutes=5)
CONCURRENT_CHECKS = 2  # password checks at the same time, per process
CHECK_WAIT = 10.0  # seconds a check may wait for its turn
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,39}$")
_hasher = PasswordHasher()
_checking = threading.BoundedSemaphore(CONCURRENT_CHECKS)
# Verified against when the username is unknown, so that the answer takes as long either way.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class UserError(Refusal):
    """A request about an account that cannot be done, with a message for the person."""


class Busy(Exception):  # noqa: N818 - an outcome
    """Too many password checks at once: the person is asked to try again in a moment."""


@dataclass(frozen=True)
class Account:
    """An account as pages and commands show it (never its password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    disabled: bool
    session_version: int
    created_at: dt.datetime
    last_login_at: dt.datetime | None


def _account(user: User) -> Account:
    return Account(
        user.id, user.username, user.display_name, user.role, user.disabled_at is not None,
        user.session_version, user.created_at, user.last_login_at,
    )  # fmt: skip


def normalise_username(username: str) -> str:
    """Usernames are case-insensitive: stored and compared in lower case."""
    return username.strip().lower()


def check_password(password: str) -> None:
    """UserError unless the password is acceptable (long enough, not blank)."""
    if len(password) < MIN_PASSWORD or not password.strip():
        raise UserError("A password needs at least %(min)d characters.", min=MIN_PASSWORD)


def _display_name(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > MAX_DISPLAY_NAME or not any(char.isalpha() for char in name):
        raise UserError(
            "A display name has 1 to %(max)d characters, with at least one letter.",
            max=MAX_DISPLAY_NAME,
        )
    return name


def create_user(
    session: Session, username: str, role: str, password: str, display_name: str | None = None
) -> Account:
    """Create an account; UserError says what is wrong (name taken, weak password, ...). The
    display name is what young people see when this coach joins their chat."""
    name = normalise_username(username)
    if not _USERNAME.match(name):
        raise UserError(
            "A username has 3 to 40 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    if role not in ROLES:
        raise UserError("The role must be one of: %(roles)s.", roles=", ".join(ROLES))
    check_password(password)
    shown = _display_name(display_name or name.split(".")[0].split("_")[0].capitalize())
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise UserError("There is already a user called '%(name)s'.", name=name)
    user = User(
        username=name, display_name=shown, password_hash=_hasher.hash(password), role=role,
        created_at=now(), session_version=0,
    )  # fmt: skip
    session.add(user)
    session.flush()
    return _account(user)


def accounts(session: Session) -> list[Account]:
    """Every account, by username."""
    return [_account(user) for user in session.scalars(select(User).order_by(User.username))]


def get_account(session: Session, user_id: int) -> Account | None:
    """One account by id."""
    user = session.get(User, user_id)
    return None if user is None else _account(user)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        raise UserError("There is no account called '%(name)s'.", name=normalise_username(username))
    return user


def _revoke(user: User) -> None:
    user.session_version += 1  # every session of this account ends


def set_disabled(session: Session, username: str, disabled: bool) -> Account:
    """Disable an account (it cannot sign in; its sessions end) or enable it again."""
    user = _user(session, username)
    if disabled and user.role == "admin" and _enabled_admins(session) == [user.id]:
        raise UserError("This is the only enabled admin: make another admin first.")
    user.disabled_at = now() if disabled else None
    _revoke(user)
    return _account(user)


def set_role(session: Session, username: str, role: str) -> Account:
    """Change an account's role; its sessions end (it signs in again with the new role)."""
    if role not in ROLES:
        raise UserError("The role must be one of: %(roles)s.", roles=", ".join(ROLES))
    user = _user(session, username)
    if user.role == "admin" and role != "admin" and _enabled_admins(session) == [user.id]:
        raise UserError("This is the only enabled admin: make another admin first.")
    user.role = role
    _revoke(user)
    return _account(user)


def set_password(session: Session, username: str, password: str) -> Account:
    """Set a new password (a reset by an admin, or a change); every session ends."""
    check_password(password)
    user = _user(session, username)
    user.password_hash = _hasher.hash(password)
    _revoke(user)
    return _account(user)


def set_display_name(session: Session, username: str, display_name: str) -> Account:
    """The name young people see when this coach joins their chat."""
    user = _user(session, username)
    user.display_name = _display_name(display_name)
    return _account(user)


def end_sessions(session: Session, user_id: int) -> None:
    """Sign out everywhere: every session of this account, this one included, ends."""
    user = session.get(User, user_id)
    if user is not None:
        _revoke(user)


def _enabled_admins(session: Session) -> list[int]:
    return list(
        session.scalars(select(User.id).where(User.role == "admin", User.disabled_at.is_(None)))
    )


# --- signing in -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """The outcome of a login attempt."""

    account: Account | None  # set when the password was right
    wait: dt.timedelta | None = None  # set when the name must wait before another try

    @property
    def ok(self) -> bool:
        return self.account is not None


def _wait_after(failures: int) -> dt.timedelta:
    return min(FIRST_WAIT * 2 ** min(failures - FREE_FAILURES, 16), MAX_WAIT)


def throttle_key(secret: bytes, username: str) -> str:
    """The name a username's guesses are counted under (not the username itself: a person who
    types their e-mail address as username leaves no trace of it)."""
    return hmac.new(secret, normalise_username(username).encode(), hashlib.sha256).hexdigest()


def _claim(session: Session, key: str, moment: dt.datetime) -> dt.timedelta | None:
    """Count an attempt before its password is checked; the wait if the name must wait."""
    for _ in range(20):
        row = session.execute(
            select(LoginThrottle.failures, LoginThrottle.locked_until).where(
                LoginThrottle.key == key
            )
        ).first()
        if row is None:
            try:
                with session.begin_nested():
                    session.execute(insert(LoginThrottle).values(key=key, failures=0))
            except IntegrityError:
                pass  # another attempt made it first
            continue
        failures, locked_until = row.failures, _aware(row.locked_until)
        if locked_until is not None and locked_until > moment:
            return locked_until - moment
        counted = failures + 1
        lock = moment + _wait_after(counted) if counted >= FREE_FAILURES else None
        claimed = session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == key, LoginThrottle.failures == failures)
            .values(failures=counted, locked_until=lock)
            .returning(LoginThrottle.failures)
        ).first()
        if claimed is not None:
            return None
    raise Busy  # twenty attempts changed the row under us: treat as too busy


def authenticate(
    sessions: sessionmaker[Session], secret: bytes, username: str, password: str
) -> Attempt:
    """Check a username and password: claim the attempt, check, then settle it."""
    key, moment = throttle_key(secret, username), now()
    with sessions.begin() as session:
        wait = _claim(session, key, moment)
    if wait is not None:
        return Attempt(None, wait)
    with sessions.begin() as session:
        user = session.scalar(select(User).where(User.username == normalise_username(username)))
        password_hash = user.password_hash if user is not None else _DUMMY_HASH
        usable = user is not None and user.disabled_at is None
        user_id = user.id if user is not None else None
    right = _verify(password_hash, password) and usable
    with sessions.begin() as session:
        if not right:
            row = session.get(LoginThrottle, key)
            locked = _aware(row.locked_until) if row is not None else None
            return Attempt(None, locked - moment if locked and locked > moment else None)
        session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == key)
            .values(failures=0, locked_until=None)
        )
        found = session.get(User, user_id)
        assert found is not None
        if _hasher.check_needs_rehash(found.password_hash):
            found.password_hash = _hasher.hash(password)
        found.last_login_at = moment
        return Attempt(_account(found))


def _verify(password_hash: str, password: str) -> bool:
    # Each argon2 check holds 64 MiB for half a second: a few at a time, whoever asks, so that
    # a burst of logins cannot take the memory and the CPU of everyone else.
    if not _checking.acquire(timeout=CHECK_WAIT):
        raise Busy
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    finally:
        _checking.release()


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives stored UTC times back without their zone."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)
