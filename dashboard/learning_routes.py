"""The studio's page of misunderstood messages: label each with an intent, or set it aside as
nonsense (bot/services/misunderstood.py, connectors/rasa/studio/learning.py). Admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from bot.services import audit, misunderstood
from bot.settings import SUPPORTED_LANGUAGES
from connectors.rasa.studio import learning
from connectors.rasa.studio.nlu import StudioError
from dashboard.deps import Nlu
from dashboard.i18n import _, say
from dashboard.pages import back, flash, render
from dashboard.security import ADMIN_FORM, Viewer, admin, db

router = APIRouter(prefix="/admin")


def _page(language: str) -> str:
    return f"/admin/misunderstood?language={language}" if language else "/admin/misunderstood"


@router.get("/misunderstood", response_class=HTMLResponse)
def misunderstood_page(
    request: Request,
    nlu: Nlu,
    language: str = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """What the bot was unsure of, newest first, alike messages together."""
    language = language if language in SUPPORTED_LANGUAGES else ""
    return render(
        request,
        "studio_misunderstood.html",
        user,
        groups=learning.queue(session, language or None),
        counts=misunderstood.waiting_counts(session),
        language=language,
        languages=SUPPORTED_LANGUAGES,
        intents=nlu.domain_intents(),
        last_trained=misunderstood.last_trained(session),
        retrain_due=misunderstood.retrain_due(session),
        low=misunderstood.LOW_CONFIDENCE,
    )


@router.post("/misunderstood/{message_id}/label", dependencies=ADMIN_FORM)
def label(
    message_id: int,
    request: Request,
    nlu: Nlu,
    intent: Annotated[str, Form()],
    language: Annotated[str, Form()] = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """The message becomes a training example of `intent` in its language."""
    try:
        text = learning.label(session, nlu, message_id, intent, user.username)
    except (StudioError, misunderstood.AlreadyDecided) as error:
        flash(request, say(error), "error")
        return back(_page(language))
    audit.record(session, user.id, user.username, "misunderstood.label", f"{text} → {intent}")
    flash(
        request,
        _(
            "Added to %(intent)s: '%(text)s'. It counts from the next training.",
            intent=intent,
            text=text,
        ),
    )
    return back(_page(language))


@router.post("/misunderstood/{message_id}/nonsense", dependencies=ADMIN_FORM)
def nonsense(
    message_id: int,
    request: Request,
    language: Annotated[str, Form()] = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Set the message aside: nonsense, nothing to learn from."""
    try:
        misunderstood.set_aside(session, message_id, user.username)
    except (StudioError, misunderstood.AlreadyDecided) as error:
        flash(request, say(error), "error")
    return back(_page(language))
