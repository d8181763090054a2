"""Broadcasts (admins): write a message in each language of a segment's audience, see how many
it reaches, send a test to one's own Telegram chat, schedule it or send it now, watch it go out
at Telegram's pace and cancel it. Every step is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from bot import languages
from bot.services import audit, broadcasts, campaigns
from bot.services.broadcasts import BroadcastError, Segment
from bot.services.people import policy
from bot.services.vocabulary import vocabulary
from bot.settings import SUPPORTED_LANGUAGES
from dashboard import i18n
from dashboard.deps import AppSettings
from dashboard.i18n import _, ngettext, say
from dashboard.pages import back, flash, render
from dashboard.queue_routes import staff_link
from dashboard.security import ADMIN_FORM, Viewer, admin, db

router = APIRouter(prefix="/admin")
MAX_FIELD = 4000


def _form_text(form: Any, name: str, limit: int = MAX_FIELD) -> str:
    return str(form.get(name) or "")[:limit]


def segment_of(form: Any) -> Segment:
    """The segment's filters from a form (unknown values are left out)."""
    topics = vocabulary().topics
    countries = [
        code.strip().upper()
        for code in _form_text(form, "countries", 200).replace(";", ",").split(",")
        if len(code.strip()) == 2 and code.strip().isalpha()
    ]
    since = _form_text(form, "registered_since", 20)
    campaign = _form_text(form, "campaign_id", 20)
    registered = _form_text(form, "registered", 10)
    try:
        since_date = dt.date.fromisoformat(since) if since else None
    except ValueError:
        raise BroadcastError(
            "'%(value)s' is not a date (use the date picker).", value=since
        ) from None
    return Segment(
        languages=[code for code in form.getlist("languages") if code in SUPPORTED_LANGUAGES],
        countries=countries,
        interests=[key for key in form.getlist("interests") if key in topics],
        registered=registered if registered in ("any", "yes", "no") else "any",
        campaign_id=int(campaign) if campaign.isdigit() else None,
        registered_since=since_date,
    )


def _texts(form: Any) -> dict[str, str]:
    return {code: _form_text(form, f"text_{code}") for code in SUPPORTED_LANGUAGES}


def _buttons(form: Any) -> list[dict[str, Any]]:
    found = []
    for number in range(1, broadcasts.MAX_BUTTONS + 1):
        url = _form_text(form, f"button{number}_url", 600).strip()
        labels = {
            code: _form_text(form, f"button{number}_label_{code}", 100).strip()
            for code in SUPPORTED_LANGUAGES
        }
        if url or any(labels.values()):
            found.append({"url": url, "labels": {k: v for k, v in labels.items() if v}})
    return found


def _page(
    request: Request,
    user: Viewer,
    session: Session,
    settings: AppSettings,
    form: dict[str, Any] | None = None,
    reached: dict[str, int] | None = None,
) -> Response:
    return render(
        request, "broadcasts.html", user, broadcasts=broadcasts.all_broadcasts(session),
        languages={code: languages.self_name(code) for code in SUPPORTED_LANGUAGES},
        topics={key: info.label(i18n.current()) for key, info in vocabulary().topics.items()},
        campaigns=campaigns.all_campaigns(session), form=form or {}, reached=reached,
        link=staff_link(session, settings, user.id),
        linked=broadcasts.linked_chat(session, user.id), max_buttons=broadcasts.MAX_BUTTONS,
    )  # fmt: skip


@router.get("/broadcasts", response_class=HTMLResponse)
def broadcasts_page(
    request: Request,
    settings: AppSettings,
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Every broadcast, and the form for a new one."""
    return _page(request, user, session, settings)


@router.post("/broadcasts", dependencies=ADMIN_FORM, response_class=HTMLResponse)
async def new_broadcast(
    request: Request,
    settings: AppSettings,
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """ "Check the audience" shows how many people it reaches, per language; "Save" keeps a
    draft to test and send. What was typed stays in the form either way."""
    form = await request.form()
    kept: dict[str, Any] = {key: form.getlist(key) for key in form if key != "csrf_token"}
    try:
        segment = segment_of(form)
        if form.get("action") != "save":
            reached = dict(broadcasts.audience(session, segment))
            return _page(request, user, session, settings, kept, reached)
        created = broadcasts.create(
            session, title=_form_text(form, "title", 200), texts=_texts(form),
            buttons=_buttons(form), segment=segment, by=user.username,
        )  # fmt: skip
    except BroadcastError as error:
        flash(request, say(error), "error")
        return _page(request, user, session, settings, kept)
    audit.record(
        session, user.id, user.username, "broadcast.create", f"broadcast {created.id}", None,
        {"title": created.title, "audience": created.audience, "languages": sorted(created.texts)},
    )  # fmt: skip
    flash(
        request,
        ngettext(
            "Saved. It reaches %(num)d person: send yourself a test first.",
            "Saved. It reaches %(num)d people: send yourself a test first.",
            created.audience,
        ),
    )
    return back(f"/admin/broadcasts/{created.id}")


@router.get("/broadcasts/{broadcast_id}", response_class=HTMLResponse)
def broadcast_page(
    broadcast_id: int,
    request: Request,
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """One broadcast: its texts, audience, test, schedule, progress and cancel."""
    try:
        view = broadcasts.get(session, broadcast_id)
    except BroadcastError as error:
        flash(request, say(error), "error")
        return back("/admin/broadcasts")
    return render(
        request, "broadcast.html", user, broadcast=view,
        progress=broadcasts.progress(session, broadcast_id),
        languages={code: languages.self_name(code) for code in SUPPORTED_LANGUAGES},
        linked=broadcasts.linked_chat(session, user.id),
    )  # fmt: skip


@router.get("/broadcasts/{broadcast_id}/progress.json")
def progress_json(
    broadcast_id: int, user: Viewer = Depends(admin), session: Session = Depends(db)
) -> Response:
    """How far it went (the page's progress bar reads this every second)."""
    try:
        return JSONResponse(broadcasts.progress(session, broadcast_id))
    except BroadcastError as error:
        return JSONResponse({"error": say(error)}, status_code=404)


@router.post("/broadcasts/{broadcast_id}/test", dependencies=ADMIN_FORM)
async def send_test(
    broadcast_id: int,
    request: Request,
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Queue the broadcast, in one language, to the admin's own Telegram chat."""
    form = await request.form()
    language = _form_text(form, "language", 8)
    try:
        broadcasts.send_test(session, broadcast_id, user.id, language)
    except BroadcastError as error:
        flash(request, say(error), "error")
    else:
        audit.record(session, user.id, user.username, "broadcast.test",
                     f"broadcast {broadcast_id}", None, {"language": language})  # fmt: skip
        flash(request, _("Test queued: it arrives in your Telegram chat within a few seconds."))
    return back(f"/admin/broadcasts/{broadcast_id}")


@router.post("/broadcasts/{broadcast_id}/schedule", dependencies=ADMIN_FORM)
async def schedule(
    broadcast_id: int,
    request: Request,
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Send now, or at a time (in the deployment's default time zone)."""
    form = await request.form()
    when = _form_text(form, "at", 30)
    try:
        at = None
        if form.get("action") != "now":
            if not when:
                raise BroadcastError("Choose a date and time, or send it now.")
            zone = ZoneInfo(policy().default_timezone)
            at = dt.datetime.fromisoformat(when).replace(tzinfo=zone).astimezone(dt.UTC)
        view = broadcasts.schedule(session, broadcast_id, at)
    except ValueError as error:  # BroadcastError, or a time that is not one
        shown = say(error) if isinstance(error, BroadcastError) else _("Not a time.")
        flash(request, shown, "error")
        return back(f"/admin/broadcasts/{broadcast_id}")
    audit.record(session, user.id, user.username, "broadcast.schedule",
                 f"broadcast {broadcast_id}", None,
                 {"at": view.scheduled_at.isoformat() if view.scheduled_at else None})  # fmt: skip
    if at is None:
        flash(request, _("Sending now."))
    else:
        flash(request, _("Scheduled for %(when)s (%(zone)s).", when=when, zone=zone.key))
    return back(f"/admin/broadcasts/{broadcast_id}")


@router.post("/broadcasts/{broadcast_id}/cancel", dependencies=ADMIN_FORM)
def cancel(
    broadcast_id: int,
    request: Request,
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Stop it: what is not sent yet never goes out."""
    try:
        left = broadcasts.cancel(session, broadcast_id)
    except BroadcastError as error:
        flash(request, say(error), "error")
    else:
        audit.record(session, user.id, user.username, "broadcast.cancel",
                     f"broadcast {broadcast_id}", None, {"not_sent": left})  # fmt: skip
        flash(
            request,
            ngettext(
                "Cancelled: %(num)d message will not be sent.",
                "Cancelled: %(num)d messages will not be sent.",
                left,
            ),
        )
    return back(f"/admin/broadcasts/{broadcast_id}")
