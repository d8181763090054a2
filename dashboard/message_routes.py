"""The studio's page of messages: the texts the actions and the connector write, per language
(`config/messages/`), next to Rasa's responses (`studio_routes`). Admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from bot.messages import MESSAGES_DIR
from bot.services import audit
from bot.settings import SUPPORTED_LANGUAGES
from connectors.rasa.studio.messages import MessageStore
from connectors.rasa.studio.nlu import StudioError
from dashboard.i18n import _, say
from dashboard.pages import back, flash, render
from dashboard.security import ADMIN_FORM, Viewer, admin, db

router = APIRouter(prefix="/admin")
# What people agree to: a change of meaning needs a new notice version (config/privacy.yml),
# so that each consent on record names the text it was given to.
NOTICE_KEYS = {"consent_notice"}


def message_store() -> MessageStore:
    """The message files the assistant's processes read (tests override this dependency)."""
    return MessageStore(MESSAGES_DIR, SUPPORTED_LANGUAGES)


Messages = Annotated[MessageStore, Depends(message_store)]


@router.get("/messages", response_class=HTMLResponse)
def messages_page(
    request: Request, store: Messages, user: Viewer = Depends(admin), q: str = ""
) -> Response:
    """Every message (or those whose key or English text holds `q`), with missing languages."""
    wanted = q.strip().lower()[:100]
    english = store.texts_in("en")
    keys = [k for k, text in english.items() if wanted in k.lower() or wanted in text.lower()]
    return render(
        request, "studio_messages.html", user,
        keys=keys, english=english, missing=store.missing(), q=q[:100],
    )  # fmt: skip


@router.get("/messages/{key}", response_class=HTMLResponse)
def message_page(
    key: str, request: Request, store: Messages, user: Viewer = Depends(admin)
) -> Response:
    """One message in every language."""
    try:
        texts = store.texts(key)
    except StudioError as error:
        raise HTTPException(404, say(error)) from None
    return render(
        request, "studio_message.html", user, key=key, languages=SUPPORTED_LANGUAGES,
        texts=texts, versions={code: store.version(key, code) for code in SUPPORTED_LANGUAGES},
        notice=key in NOTICE_KEYS,
    )  # fmt: skip


@router.post("/messages/{key}", dependencies=ADMIN_FORM)
def save_message(
    key: str,
    request: Request,
    store: Messages,
    language: Annotated[str, Form(max_length=8)] = "",
    text: Annotated[str, Form(max_length=20_000)] = "",
    version: Annotated[str, Form(max_length=40)] = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Save one language's text (refused if someone changed it meanwhile, or if it names other
    fields than the English text)."""
    try:
        before, after = store.save(key, language, text, version)
    except StudioError as error:
        flash(request, say(error), "error")
        return back(f"/admin/messages/{key}#{language}")
    audit.record(
        session, user.id, user.username, "message.save", f"{key} [{language}]", before, after
    )
    flash(
        request,
        _(
            "Saved the %(language)s text of %(key)s. It is used from the next message on.",
            language=language,
            key=key,
        ),
    )
    return back(f"/admin/messages/{key}#{language}")
