"""Signing in and out."""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.dashboard.pages import back, render
from bot.dashboard.security import SIGNED_IN_FORM, check_csrf, db
from bot.services.users import authenticate

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
    username: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    next: Annotated[str, Form(max_length=MAX_FIELD)] = "/conversations",  # noqa: A002
    session: Session = Depends(db),
) -> Response:
    """Check the password; on success start a new session (a fresh CSRF token too)."""
    attempt = authenticate(session, username, password)
    if attempt.user is None:
        if attempt.wait is not None:
            seconds = math.ceil(attempt.wait.total_seconds())
            error = (
                f"Too many wrong passwords for this account. Wait {seconds} seconds, "
                "then try again."
            )
        else:
            error = "Wrong username or password."
        return render(
            request, "login.html", None, status_code=401, error=error,
            username=username, next=_safe_next(next),
        )  # fmt: skip
    request.session.clear()
    request.session["uid"] = attempt.user.id
    return back(_safe_next(next))


@router.post("/logout", dependencies=SIGNED_IN_FORM)
def logout(request: Request) -> Response:
    """Forget the session."""
    request.session.clear()
    return back("/login")
