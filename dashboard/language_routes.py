"""The dashboard's language, per account: one of the ten, or the browser's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from bot.settings import SUPPORTED_LANGUAGES
from dashboard import i18n
from dashboard.i18n import _
from dashboard.pages import back, flash
from dashboard.security import SIGNED_IN_FORM, Viewer, db, user_row, viewer

router = APIRouter()


@router.post("/account/language", dependencies=SIGNED_IN_FORM)
def set_language(
    request: Request,
    language: Annotated[str, Form(max_length=8)] = "",
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Keep the account's language (empty: follow the browser's); the next page speaks it."""
    if language and language not in SUPPORTED_LANGUAGES:
        flash(request, _("There is no dashboard in that language."), "error")
        return back("/account")
    user_row(session, user).dashboard_language = language or None
    i18n.use(language or i18n.negotiate(request.headers.get("accept-language", "")))
    flash(request, _("Saved: the dashboard now speaks this language."))
    return back("/account")
