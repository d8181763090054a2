"""Who is signed in, what they may do, and protection of every form against CSRF.

Sessions are Starlette's signed cookies (itsdangerous, keyed by SECRET_KEY): they hold the
user's id, the account's session version when they signed in, and a CSRF token, nothing else;
a session whose version is no longer the account's is over, so signing out ends every copy.
Every POST carries the token in a hidden field; it is compared in constant time. Anonymous
visitors are sent to the login page; coaches get 403 on admin pages.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from bot.db.models import User
from bot.services.events import EventLog
from dashboard import i18n


class LoginRequired(Exception):  # noqa: N818 - an outcome, not an error
    """The page needs a signed-in user; the handler sends the visitor to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


@dataclass(frozen=True)
class Viewer:
    """The signed-in user, as the pages need them."""

    id: int
    username: str
    role: str
    status: str = "available"  # or away: no new requests are routed to them
    language: str | None = None  # the dashboard's language they chose; None: their browser's

    @property
    def is_admin(self) -> bool:
        """Whether they may use the admin pages."""
        return self.role == "admin"


def db(request: Request) -> Iterator[Session]:
    """A database session for one request, committed at its end (rolled back on error)."""
    with request.app.state.sessions.begin() as session:
        yield session


def csrf_token(request: Request) -> str:
    """This session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def check_csrf(request: Request) -> None:
    """403 unless the form carries this session's CSRF token."""
    form = await request.form()
    sent = str(form.get("csrf_token") or "")
    expected = str(request.session.get("csrf") or "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(
            403, i18n.gettext("This form has expired. Go back, reload the page and try again.")
        )


def event_log(request: Request) -> EventLog:
    """The conversation log (Rasa's tracker store, through its adapter)."""
    log: EventLog = request.app.state.events
    return log


Events = Annotated[EventLog, Depends(event_log)]


def viewer(request: Request, session: Session = Depends(db)) -> Viewer:
    """The signed-in user; anonymous visitors, and sessions that were ended (signed out, a new
    password, a disabled account, a new role), are sent to the login page."""
    user_id = request.session.get("uid")
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    valid = (
        user is not None
        and user.disabled_at is None
        and request.session.get("ver") == user.session_version
    )
    if user is None or not valid:
        request.session.pop("uid", None)
        request.session.pop("ver", None)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(quote(target, safe="/?=&"))
    i18n.use(user.dashboard_language)
    return Viewer(user.id, user.username, user.role, user.status, user.dashboard_language)


def admin(user: Viewer = Depends(viewer)) -> Viewer:
    """The signed-in user, who must be an admin (403 otherwise)."""
    if not user.is_admin:
        raise HTTPException(403, i18n.gettext("This page is for admins."))
    return user


def user_row(session: Session, user: Viewer) -> User:
    """The database row of the signed-in user."""
    row = session.get(User, user.id)
    assert row is not None
    return row


# Route dependencies of forms: first who is signed in (anonymous → login page; coach → 403 on
# admin forms), then the CSRF token.
SIGNED_IN_FORM = [Depends(viewer), Depends(check_csrf)]
ADMIN_FORM = [Depends(admin), Depends(check_csrf)]
