"""Conversations: the filtered list, exports, a transcript, tags, notes, review, and handoff."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from bot.csvsafe import csv_cell
from bot.refusal import Words
from bot.services import caseload, conversations, proposals, saved_replies, transcripts
from bot.services import conversation_list as listing
from bot.services.conversation_list import Filters, Row
from bot.services.conversations import ConversationError
from bot.services.handoff import open_for
from bot.services.people import find
from dashboard import handoff_routes
from dashboard.deps import Nlu
from dashboard.i18n import _, say
from dashboard.pages import TEMPLATES, back, csv_download, flash, render
from dashboard.queue_routes import coaches, load_queue
from dashboard.security import (
    SIGNED_IN_FORM,
    Events,
    Viewer,
    csrf_token,
    db,
    user_row,
    viewer,
)

router = APIRouter()
router.include_router(handoff_routes.router)
PER_PAGE = 25
EXPORT_COLUMNS = (
    "conversation", "name", "registered", "started_at", "last_at", "user_messages", "language",
    "languages", "intents", "min_confidence", "fallback", "reviewed", "tags", "note", "handoff",
)  # fmt: skip


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _yes_no(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number is None or 0 <= number <= 1 else None


def filter_problems(request: Request, intents: list[str]) -> list[str]:
    """What the list's filters cannot use, in plain words (the list ignores those values)."""
    params = request.query_params
    problems = []
    if params.get("from") and _date(params.get("from")) is None:
        value = params["from"][:40]
        problems.append(_("From: “%(value)s” is not a date; it was left out.", value=value))
    if params.get("to") and _date(params.get("to")) is None:
        value = params["to"][:40]
        problems.append(_("To: “%(value)s” is not a date; it was left out.", value=value))
    below = params.get("below")
    if below and _number(below) is None:
        problems.append(
            _(
                "Confidence below: “%(value)s” is not a number from 0 to 1 (such as 0.5); "
                "it was left out.",
                value=below[:40],
            )
        )
    intent = (params.get("intent") or "").strip()
    if intent and intents and intent not in intents:
        problems.append(
            _("Intent: there is no intent “%(name)s”; it was left out.", name=intent[:40])
        )
    return problems


def filters_of(request: Request, intents: list[str] | None = None) -> Filters:
    """The list's filters from the query string; a value that makes no sense is ignored (and
    `filter_problems` says so)."""
    params = request.query_params
    intent = (params.get("intent") or "").strip() or None
    if intent and intents and intent not in intents:
        intent = None
    return Filters(
        date_from=_date(params.get("from")),
        date_to=_date(params.get("to")),
        language=params.get("language") or None,
        intent=intent,
        below=_number(params.get("below")),
        fallback=_yes_no(params.get("fallback")),
        registered=_yes_no(params.get("registered")),
        tag=(params.get("tag") or "").strip().lower() or None,
        reviewed=_yes_no(params.get("reviewed")),
        waiting=_yes_no(params.get("waiting")),
        query=(params.get("q") or "").strip()[:200] or None,
    )


@router.get("/conversations", response_class=HTMLResponse)
def conversation_list(
    request: Request,
    log: Events,
    nlu: Nlu,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """The queue of requests for a coach, then the filtered list, newest first, by pages."""
    conversations.sync(session, log)
    intents = sorted(nlu.overview())
    filters = filters_of(request, intents)
    try:
        page_number = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page_number = 1
    page = listing.list_conversations(session, filters, page_number, PER_PAGE)
    query = request.url.query
    base = "&".join(part for part in query.split("&") if part and not part.startswith("page="))
    return render(
        request,
        "conversations.html",
        user,
        page=page,
        queue=load_queue(session, log, user, request.query_params.get("view")),
        params=request.query_params,
        query_base=base,
        known=listing.known_values(session),
        intents=intents,
        problems=filter_problems(request, intents),
    )


def _export_row(row: Row) -> dict[str, Any]:
    return {
        "conversation": row.sender_id,
        "name": row.name,
        "registered": row.registered,
        "started_at": row.started_at.isoformat(),
        "last_at": row.last_at.isoformat(),
        "user_messages": row.user_messages,
        "language": row.language or "",
        "languages": ";".join(row.languages),
        "intents": ";".join(row.intents),
        "min_confidence": "" if row.min_confidence is None else round(row.min_confidence, 3),
        "fallback": row.fallback,
        "reviewed": row.reviewed,
        "tags": ";".join(row.tags),
        "note": row.note,
        "handoff": row.handoff or "",
    }


@router.get("/conversations/export.csv")
def export_csv(
    request: Request,
    log: Events,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """The filtered conversations as CSV (one row each)."""
    conversations.sync(session, log)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    for row in listing.iter_filtered(session, filters_of(request)):
        # Names, tags and notes are typed by people: none may run as a formula in a spreadsheet.
        writer.writerow({key: csv_cell(value) for key, value in _export_row(row).items()})
    return csv_download(request, buffer.getvalue(), "conversations.csv")


@router.get("/conversations/export.json")
def export_json(
    request: Request,
    log: Events,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """The filtered conversations as JSON, each with its transcript."""
    conversations.sync(session, log)
    rows = list(listing.iter_filtered(session, filters_of(request)))

    def chunks() -> Iterator[str]:
        yield "["
        for index, row in enumerate(rows):
            item = _export_row(row)
            item["transcript"] = [
                entry.as_json() for entry in transcripts.transcript(log, row.sender_id)
            ]
            yield ("," if index else "") + json.dumps(item, ensure_ascii=False)
        yield "]"

    return StreamingResponse(
        chunks(),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="conversations.json"'},
    )


@router.get("/conversations/{sender_id}", response_class=HTMLResponse)
def transcript_page(
    sender_id: str,
    request: Request,
    nlu: Nlu,
    log: Events,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """One conversation: what was said, what the assistant understood; the coach's tools."""
    conversations.sync(session, log)
    conversation = conversations.get(session, sender_id)
    if conversation is None:
        raise HTTPException(404, _("There is no such conversation (it may have been erased)."))
    entries = transcripts.transcript(log, sender_id)
    handoff = open_for(session, sender_id)
    saved = []
    opportunities: dict[Words, list[tuple[int, str]]] = {}
    if handoff is not None and handoff.status == "active":
        person = find(session, sender_id)
        saved = saved_replies.for_reply(
            session, user_row(session, user), handoff.language, person.name if person else None
        )
        opportunities = caseload.opportunity_choices(session, person.country if person else None)
    return render(
        request,
        "transcript.html",
        user,
        conversation=conversation,
        name=handoff_routes.name_of(session, sender_id),
        entries=entries,
        last_id=entries[-1].id if entries else 0,
        handoff=handoff,
        coaches=[coach for coach in coaches(session) if coach.id != user.id] if handoff else [],
        saved=saved,
        opportunities=opportunities,
        can_write=handoff is None or handoff.telegram_chat_id is not None,
        intents=sorted(nlu.overview()),
        proposed={
            item.event_id: item.intent for item in proposals.of_conversation(session, sender_id)
        },
    )


@router.get("/conversations/{sender_id}/events.json")
def new_events(
    sender_id: str,
    request: Request,
    log: Events,
    nlu: Nlu,
    after: int = 0,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> JSONResponse:
    """Entries after event `after`, for the live transcript: as data, and rendered by the
    page's own template (a line added live looks like one loaded with the page)."""
    entries = transcripts.transcript(log, sender_id, after=after)
    line = TEMPLATES.get_template("entry.html")
    context = {
        "conversation": {"sender_id": sender_id},
        "intents": sorted(nlu.overview()),
        "proposed": {
            item.event_id: item.intent for item in proposals.of_conversation(session, sender_id)
        },
        "csrf": csrf_token(request),
    }
    return JSONResponse(
        {
            "entries": [entry.as_json() for entry in entries],
            "html": [line.render(entry=entry, **context) for entry in entries],
        },
        headers={"Cache-Control": "no-store"},
    )


def _change(request: Request, sender_id: str, change: Any) -> Response:
    try:
        change()
    except ConversationError as error:
        flash(request, say(error), "error")
    return back(f"/conversations/{sender_id}")


@router.post("/conversations/{sender_id}/tags", dependencies=SIGNED_IN_FORM)
def add_tag(
    sender_id: str,
    request: Request,
    tag: Annotated[str, Form(max_length=200)] = "",
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Tag the conversation."""
    return _change(request, sender_id, lambda: conversations.add_tag(session, sender_id, tag))


@router.post("/conversations/{sender_id}/tags/remove", dependencies=SIGNED_IN_FORM)
def remove_tag(
    sender_id: str,
    request: Request,
    tag: Annotated[str, Form(max_length=200)] = "",
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Remove a tag."""
    return _change(request, sender_id, lambda: conversations.remove_tag(session, sender_id, tag))


@router.post("/conversations/{sender_id}/note", dependencies=SIGNED_IN_FORM)
def save_note(
    sender_id: str,
    request: Request,
    note: Annotated[str, Form(max_length=20000)] = "",
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Replace the conversation's note."""
    return _change(request, sender_id, lambda: conversations.set_note(session, sender_id, note))


@router.post("/conversations/{sender_id}/reviewed", dependencies=SIGNED_IN_FORM)
def mark_reviewed(
    sender_id: str,
    request: Request,
    reviewed: Annotated[str, Form()] = "yes",
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Mark the conversation reviewed (or not)."""
    return _change(
        request,
        sender_id,
        lambda: conversations.set_reviewed(session, sender_id, user.id, reviewed == "yes"),
    )


@router.post("/conversations/{sender_id}/annotations", dependencies=SIGNED_IN_FORM)
def propose_intent(
    sender_id: str,
    request: Request,
    nlu: Nlu,
    log: Events,
    event_id: Annotated[int, Form()] = 0,
    intent: Annotated[str, Form(max_length=80)] = "",
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """A coach proposes what a message meant; an admin accepts it into the training data."""
    entry = next(
        (
            item
            for item in transcripts.transcript(log, sender_id, event_id - 1)
            if item.id == event_id and item.kind == "user"
        ),
        None,
    )
    if entry is None or entry.text.startswith("/"):
        flash(request, _("That message cannot be annotated (a button, or it was erased)."), "error")
        return back(f"/conversations/{sender_id}")
    if intent not in nlu.overview():
        flash(request, _("There is no intent '%(name)s'.", name=intent), "error")
        return back(f"/conversations/{sender_id}")
    proposals.propose(
        session, sender_id, event_id, entry.text, entry.language or "en", entry.intent, intent,
        user.username,
    )  # fmt: skip
    flash(
        request,
        _(
            "Proposed: '%(text)s' meant %(intent)s. An admin will review it.",
            text=entry.text,
            intent=intent,
        ),
    )
    return back(f"/conversations/{sender_id}")
