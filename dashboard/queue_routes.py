"""The coaches' queue and routing: the live queue (mine, unassigned, all), a coach's status and
the languages and countries they cover, passing a conversation to another coach, and saved
replies.

The queue is rendered by one template (`queue.html`), on the conversations page and again for
`queue.js`, which fetches `/queue.json` every few seconds on every page: the page's title and
the Queue link show how many requests need the coach, and a sound (which they can turn off)
tells them a new one came.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import User
from bot.languages import self_name, supported
from bot.services import broadcasts, campaigns, handoff, routing, saved_replies
from bot.services import conversation_list as listing
from bot.services.events import EventLog
from bot.services.handoff import HandoffError
from bot.services.people import now
from bot.settings import Settings
from dashboard.deps import AppSettings
from dashboard.i18n import _, say
from dashboard.pages import TEMPLATES, back, flash, render
from dashboard.security import SIGNED_IN_FORM, Events, Viewer, csrf_token, db, user_row, viewer

router = APIRouter()


def default_view(session: Session, user: Viewer) -> str:
    """A coach who covers languages starts on their own requests; otherwise on all of them."""
    return "mine" if user_row(session, user).language_list else "all"


def load_queue(session: Session, log: EventLog, user: Viewer, view: str | None) -> listing.Queue:
    """The queue in `view`, with the last words of each waiting person."""
    found = listing.queue(session, user.id, view or default_view(session, user), now())
    rows = [
        replace(row, first_words=listing.first_words(log, row.sender_id))
        if row.status == "waiting"
        else row
        for row in found.rows
    ]
    return listing.Queue(found.view, rows, found.counts, found.needs_me)


def coaches(session: Session) -> list[User]:
    """The accounts a conversation can be passed to."""
    return list(
        session.scalars(select(User).where(User.disabled_at.is_(None)).order_by(User.display_name))
    )


@router.get("/queue.json")
def queue_json(
    request: Request,
    log: Events,
    view: str | None = None,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """The queue for `queue.js`: the counts, what needs this coach, and the rendered rows."""
    found = load_queue(session, log, user, view)
    html = TEMPLATES.get_template("queue.html").render(
        queue=found, csrf=csrf_token(request), user=user
    )
    return JSONResponse(
        {"view": found.view, "counts": found.counts, "needs_me": found.needs_me, "html": html},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/account", response_class=HTMLResponse)
def account(
    request: Request,
    settings: AppSettings,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """The coach's own settings: status, and the languages and countries they cover."""
    row = user_row(session, user)
    languages = [(code, self_name(code)) for code in supported()]
    return render(
        request, "account.html", user, account=row, languages=languages,
        link=staff_link(session, settings, user.id), linked=row.telegram_chat_id is not None,
    )  # fmt: skip


def staff_link(session: Session, settings: Settings, user_id: int) -> str | None:
    """The one-time deep link that links an account to the Telegram chat it is opened in
    (None until the connector has told us the bot's username)."""
    username = campaigns.bot_username(session)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    code = broadcasts.link_code(secret, user_id, now().date())
    return campaigns.deep_link(username, code) if username else None


@router.post("/account/telegram/unlink", dependencies=SIGNED_IN_FORM)
def unlink_telegram(
    request: Request, user: Viewer = Depends(viewer), session: Session = Depends(db)
) -> Response:
    """Stop notifications (and test broadcasts) to the coach's own Telegram chat."""
    user_row(session, user).telegram_chat_id = None
    flash(request, _("Your Telegram chat is no longer linked."))
    return back("/account")


@router.post("/account/coverage", dependencies=SIGNED_IN_FORM)
def save_coverage(
    request: Request,
    status: Annotated[str, Form(max_length=16)] = "available",
    languages: Annotated[list[str] | None, Form()] = None,
    countries: Annotated[str, Form(max_length=200)] = "",
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Save status, languages and countries; say in plain words what is wrong."""
    try:
        routing.set_coverage(
            session,
            user_row(session, user),
            status,
            languages or [],
            countries.replace(";", ",").split(","),
        )
    except ValueError as error:
        flash(request, say(error), "error")
        return back("/account")
    flash(request, _("Saved. New requests in your languages come to you while you are available."))
    return back("/account")


@router.post("/account/status", dependencies=SIGNED_IN_FORM)
def set_status(
    request: Request,
    status: Annotated[str, Form(max_length=16)],
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Available or away, from the header of every page."""
    row = user_row(session, user)
    try:
        routing.set_coverage(session, row, status, row.language_list, row.country_list)
    except ValueError as error:
        flash(request, say(error), "error")
    else:
        flash(request, _("You are available.") if status == "available" else _("You are away."))
    return back("/conversations")


@router.post("/handoffs/{handoff_id}/transfer", dependencies=SIGNED_IN_FORM)
def transfer(
    handoff_id: int,
    request: Request,
    to: Annotated[int, Form()],
    note: Annotated[str, Form(max_length=5000)] = "",
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Pass a conversation to another coach, with a note; it waits for them."""
    target = session.get(User, to)
    try:
        if target is None:
            raise HandoffError("There is no such coach.")
        moved = handoff.transfer(session, handoff_id, user_row(session, user), target, note)
    except HandoffError as error:  # raised before anything changed
        flash(request, say(error), "error")
        return back("/conversations")
    flash(
        request,
        _(
            "Passed to %(coach)s. The bot stays silent until they answer.",
            coach=target.display_name,
        ),
    )
    return back(f"/conversations/{moved.sender_id}")


@router.get("/replies", response_class=HTMLResponse)
def replies_page(
    request: Request, user: Viewer = Depends(viewer), session: Session = Depends(db)
) -> Response:
    """Saved replies: the coach's own and the shared ones (admins keep those)."""
    return _replies_page(request, user, session)


def _replies_page(
    request: Request,
    user: Viewer,
    session: Session,
    draft: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The saved replies; `draft` (what was typed, and why it was not saved) fills the form."""
    shown = saved_replies.for_reply(session, user_row(session, user), "", None)
    languages = [(code, self_name(code)) for code in supported()]
    return render(
        request, "replies.html", user, status_code, replies=shown, languages=languages,
        draft=draft or {},
    )  # fmt: skip


@router.post("/replies", dependencies=SIGNED_IN_FORM)
def save_reply(
    request: Request,
    language: Annotated[str, Form(max_length=8)] = "",
    shortcut: Annotated[str, Form(max_length=60)] = "",
    text: Annotated[str, Form(max_length=5000)] = "",
    shared: Annotated[str, Form(max_length=4)] = "",
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Save a reply (shared ones: admins only)."""
    if shared and not user.is_admin:
        flash(request, _("Only admins keep shared replies; save it as your own."), "error")
        return back("/replies")
    owner = None if shared else user_row(session, user)
    try:
        saved = saved_replies.save(session, owner, language, shortcut, text)
    except saved_replies.SavedReplyError as error:  # the form again, as typed, with the reason
        draft = {"language": language, "shortcut": shortcut, "text": text, "error": say(error)}
        return _replies_page(request, user, session, draft, 400)
    flash(request, _("Saved: type /%(shortcut)s in a reply to insert it.", shortcut=saved.shortcut))
    return back("/replies")


@router.post("/replies/{reply_id}/delete", dependencies=SIGNED_IN_FORM)
def delete_reply(
    reply_id: int,
    request: Request,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Delete one's own saved reply (admins: a shared one too)."""
    try:
        saved_replies.delete(session, reply_id, user_row(session, user))
    except saved_replies.SavedReplyError as error:
        flash(request, say(error), "error")
    else:
        flash(request, _("Deleted."))
    return back("/replies")
