"""Signing in and out."""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.services.users import Busy, authenticate, end_sessions
from dashboard.deps import Addresses, AppSettings, Sessions
from dashboard.i18n import _, ngettext
from dashboard.pages import back, render
from dashboard.security import SIGNED_IN_FORM, check_csrf, db

router = APIRouter()
MAX_FIELD = 200


def _safe_next(target: str) -> str:
    """Only a path on this site (never another host) after signing in."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/conversations"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/conversations") -> Response:  # noqa: A002
    """The sign-in form."""
    if isinstance(request.session.get("uid"), int):
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", None, next=_safe_next(next))


@router.post("/login", dependencies=[Depends(check_csrf)])
def login(
    request: Request,
    settings: AppSettings,
    sessions: Sessions,
    addresses: Addresses,
    username: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    next: Annotated[str, Form(max_length=MAX_FIELD)] = "/conversations",  # noqa: A002
) -> Response:
    """Check the password; on success start a new session (a fresh CSRF token too)."""
    address = request.client.host if request.client else "unknown"
    error = None
    if not addresses.hit(address):
        error = _(
            "Too many sign-in attempts from your network. Wait a few minutes, then try again."
        )
        attempt = None
    else:
        try:
            assert settings.secret_key is not None  # set (or generated) at start
            attempt = authenticate(
                sessions, settings.secret_key.get_secret_value().encode(),
                username, password,
            )  # fmt: skip
        except Busy:
            attempt = None
            error = _("Many people are signing in right now. Wait a moment, then try again.")
    if attempt is None or attempt.account is None:
        if attempt is not None and attempt.wait is not None:
            seconds = math.ceil(attempt.wait.total_seconds())
            error = ngettext(
                "Too many wrong passwords for this account. Wait %(num)d second, then try again.",
                "Too many wrong passwords for this account. Wait %(num)d seconds, then try again.",
                seconds,
            )
        return render(
            request, "login.html", None, status_code=401 if attempt else 429,
            error=error or _("Wrong username or password."), username=username,
            next=_safe_next(next),
        )  # fmt: skip
    request.session.clear()
    request.session["uid"] = attempt.account.id
    request.session["ver"] = attempt.account.session_version
    return back(_safe_next(next))


@router.post("/logout", dependencies=SIGNED_IN_FORM)
def logout(request: Request, session: Session = Depends(db)) -> Response:
    """Sign out: this session, and every copy of it, ends (the account's session version
    moves on)."""
    user_id = request.session.get("uid")
    if isinstance(user_id, int):
        end_sessions(session, user_id)
    request.session.clear()
    return back("/login")
