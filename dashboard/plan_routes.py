"""A young person's plan and appointments, on their page: steps added, ticked and removed;
appointments proposed (the proposal leaves through the outbox, with its buttons, and is
recorded in the transcript), then recorded as attended or missed, or cancelled."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker

from bot.services import outbox, plans
from bot.services.plans import PlanError
from bot.text import parse_id
from connectors.rasa.client import RasaClient, RasaUnavailable
from dashboard.deps import Rasa, Sessions
from dashboard.i18n import _, say
from dashboard.pages import back, flash
from dashboard.security import SIGNED_IN_FORM, Viewer, user_row, viewer

logger = logging.getLogger(__name__)
router = APIRouter()


def _page(person_id: int, part: str) -> Response:
    return back(f"/people/{person_id}#{part}")


def _change(
    request: Request, sessions: sessionmaker[Session], person_id: int, work: Any, message: str
) -> Response:
    try:
        with sessions.begin() as session:
            work(session)
    except PlanError as error:
        flash(request, say(error), "error")
    else:
        flash(request, message)
    return _page(person_id, "plan")


@router.post("/people/{person_id}/plan", dependencies=SIGNED_IN_FORM)
def add_step(
    person_id: int,
    request: Request,
    sessions: Sessions,
    text: Annotated[str, Form(max_length=1000)] = "",
    due: Annotated[str, Form(max_length=20)] = "",
    opportunity: Annotated[str, Form(max_length=20)] = "",
    user: Viewer = Depends(viewer),
) -> Response:
    """Add a step to the person's plan."""
    try:
        due_on = dt.date.fromisoformat(due)
    except ValueError:
        flash(request, _("Give the step's due date."), "error")
        return _page(person_id, "plan")
    item = parse_id(opportunity)
    if opportunity and item is None:
        flash(request, _("There is no such training or job in the catalogue."), "error")
        return _page(person_id, "plan")
    return _change(
        request,
        sessions,
        person_id,
        lambda session: plans.add_step(
            session, person_id, user_row(session, user), text, due_on, item
        ),
        _("Step added. The young person sees it with /plan and gets a reminder before its date."),
    )


@router.post("/people/{person_id}/plan/{step_id}", dependencies=SIGNED_IN_FORM)
def change_step(
    person_id: int,
    step_id: int,
    request: Request,
    sessions: Sessions,
    do: Annotated[str, Form(max_length=10)] = "",
    user: Viewer = Depends(viewer),
) -> Response:
    """Tick a step done, open it again, or remove it."""
    if do == "remove":
        return _change(
            request,
            sessions,
            person_id,
            lambda session: plans.remove_step(session, person_id, step_id),
            _("Step removed."),
        )
    if do not in ("done", "open"):
        flash(request, _("Choose done, not done or remove."), "error")
        return _page(person_id, "plan")
    return _change(
        request,
        sessions,
        person_id,
        lambda session: plans.set_done(session, person_id, step_id, do == "done"),
        _("Step ticked done.") if do == "done" else _("Step open again."),
    )


async def _send(
    sessions: sessionmaker[Session],
    rasa: RasaClient,
    notice: plans.Notice,
    message: dict[str, Any],
    buttons: list[dict[str, str]] | None = None,
) -> None:
    """Queue a message for the person (the one outbox) and record it in their transcript."""

    def queue() -> None:
        with sessions.begin() as session:
            chat = notice.chat_id
            outbox.enqueue(session, chat, [{"chat_id": chat, **message}], None)

    await asyncio.to_thread(queue)
    try:
        await rasa.record_bot_message(notice.sender_id, notice.text, {"source": "coach"}, buttons)
    except RasaUnavailable:
        logger.warning("Queued, but could not record a plan message for %s", notice.sender_id)


@router.post("/people/{person_id}/appointments", dependencies=SIGNED_IN_FORM)
async def propose(
    person_id: int,
    request: Request,
    sessions: Sessions,
    rasa: Rasa,
    date: Annotated[str, Form(max_length=20)] = "",
    time: Annotated[str, Form(max_length=10)] = "",
    place: Annotated[str, Form(max_length=1000)] = "",
    user: Viewer = Depends(viewer),
) -> Response:
    """Propose an appointment: the young person answers with buttons in Telegram."""
    try:
        local = dt.datetime.combine(dt.date.fromisoformat(date), dt.time.fromisoformat(time))
    except ValueError:
        flash(request, _("Give the appointment's date and time."), "error")
        return _page(person_id, "appointments")

    def work() -> plans.Proposal:
        with sessions.begin() as session:
            return plans.propose(session, person_id, user_row(session, user), local, place)

    try:
        proposal = await asyncio.to_thread(work)
    except PlanError as error:
        flash(request, say(error), "error")
        return _page(person_id, "appointments")
    notice = plans.Notice(proposal.sender_id, proposal.chat_id, proposal.text)
    await _send(sessions, rasa, notice, proposal.message, proposal.buttons)
    flash(request, _("Appointment proposed. The young person answers with a button in Telegram."))
    return _page(person_id, "appointments")


@router.post("/people/{person_id}/appointments/{appointment_id}", dependencies=SIGNED_IN_FORM)
async def record(
    person_id: int,
    appointment_id: int,
    request: Request,
    sessions: Sessions,
    rasa: Rasa,
    status: Annotated[str, Form(max_length=16)] = "",
    user: Viewer = Depends(viewer),
) -> Response:
    """Record an appointment as attended or missed, or cancel it (the person is told)."""

    def work() -> plans.Notice | None:
        with sessions.begin() as session:
            user_row(session, user)
            return plans.record(session, person_id, appointment_id, status)

    try:
        notice = await asyncio.to_thread(work)
    except PlanError as error:
        flash(request, say(error), "error")
        return _page(person_id, "appointments")
    if notice is not None:
        await _send(sessions, rasa, notice, {"text": notice.text})
    if status == "attended":
        flash(request, _("Recorded: attended."))
    elif status == "missed":
        flash(request, _("Recorded: missed."))
    elif notice is not None:
        flash(request, _("Appointment cancelled. The young person is told."))
    else:
        flash(request, _("Appointment cancelled."))
    return _page(person_id, "appointments")
