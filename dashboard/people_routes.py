"""Registered young people: profiles, who follows them, notes and outcomes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from bot.db.models import OUTCOME_KINDS, Person
from bot.languages import self_name
from bot.messages import text as message_text
from bot.services import campaigns, caseload, followups, plans
from bot.services.caseload import CaseloadError
from bot.services.people import policy
from bot.services.vocabulary import vocabulary
from bot.text import parse_id
from dashboard import i18n
from dashboard.i18n import N_, _, say
from dashboard.pages import back, flash, render
from dashboard.security import SIGNED_IN_FORM, Viewer, db, user_row, viewer

router = APIRouter()
# What became of a person, in a coach's words (bot/services/caseload.py OUTCOME_WORDS), so that
# the catalogue has them; translated where shown
OUTCOME_WORDS = (N_("started a training"), N_("got a job"), N_("returned to education"))


@router.get("/people", response_class=HTMLResponse)
def people_list(
    request: Request,
    q: str = "",
    coach: str = "",
    page: int = 1,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Registered people, the most recently active first."""
    found = caseload.registered_people(
        session, q[:100], coach, user_row(session, user), max(1, page)
    )
    return render(request, "people.html", user, found=found, q=q, coach=coach)


def profile_words(person: Person) -> dict[str, str]:
    """The profile's codes in words, as the bot's buttons say them in the reader's language
    (the bot's own texts, config/messages; English where one is missing)."""
    reader = i18n.current()

    def words(group: str, code: str | None) -> str:
        if not code:
            return "—"
        return clean(message_text(f"{group}.{code}", reader))

    topics = vocabulary().topics
    return {
        "education": words("education", person.education),
        "situation": words("situation", person.situation),
        "gender": words("gender", person.gender) if person.gender else _("not answered"),
        "interests": ", ".join(
            topics[key].label(reader) if key in topics else key for key in person.interest_keys
        )
        or "—",
        "language": f"{self_name(person.language)} ({person.language})" if person.language else "—",
    }


def clean(label: str) -> str:
    """A button's label without its leading emoji (“🔀 Both” → “Both”)."""
    return label.split(" ", 1)[1] if " " in label and not label[0].isalnum() else label


@router.get("/people/{person_id}", response_class=HTMLResponse)
def person_page(
    person_id: int, request: Request, user: Viewer = Depends(viewer), session: Session = Depends(db)
) -> Response:
    """One person: profile, coach, plan and appointments, notes, outcomes."""
    try:
        person = caseload.get_registered(session, person_id)
    except CaseloadError as error:
        raise HTTPException(404, say(error)) from None
    return render(
        request,
        "person.html",
        user,
        person=person,
        kinds=OUTCOME_KINDS,
        opportunities=caseload.opportunity_choices(session, person.country),
        outcome_words={kind: _(words) for kind, words in caseload.OUTCOME_WORDS.items()},
        shown=profile_words(person),
        today=dt.date.today().isoformat(),
        checkins=followups.checkins_of(session, person.id),
        campaign=campaigns.name_of(session, person.campaign_id),
        plan=plans.plan_of(session, person.id, i18n.current()),
        zone=policy().timezone(person.country).key,
    )


def _done(request: Request, person_id: int, change: object, message: str) -> Response:
    try:
        change()  # type: ignore[operator]
    except CaseloadError as error:
        flash(request, say(error), "error")
    else:
        flash(request, message)
    return back(f"/people/{person_id}")


@router.post("/people/{person_id}/take-on", dependencies=SIGNED_IN_FORM)
def take_on(
    person_id: int, request: Request, user: Viewer = Depends(viewer), session: Session = Depends(db)
) -> Response:
    """The signed-in coach follows this person from now on."""
    return _done(
        request,
        person_id,
        lambda: caseload.take_on(session, person_id, user_row(session, user)),
        _("You follow this person now."),
    )


@router.post("/people/{person_id}/release", dependencies=SIGNED_IN_FORM)
def release(
    person_id: int, request: Request, user: Viewer = Depends(viewer), session: Session = Depends(db)
) -> Response:
    """Nobody follows this person any more."""
    return _done(
        request,
        person_id,
        lambda: caseload.release(session, person_id),
        _("Nobody follows them now."),
    )


@router.post("/people/{person_id}/notes", dependencies=SIGNED_IN_FORM)
def add_note(
    person_id: int,
    request: Request,
    text: Annotated[str, Form(max_length=20000)] = "",
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Add a note about the person."""
    return _done(
        request,
        person_id,
        lambda: caseload.add_note(session, person_id, user_row(session, user), text),
        _("Note added."),
    )


@router.post("/people/{person_id}/outcomes", dependencies=SIGNED_IN_FORM)
def add_outcome(
    person_id: int,
    request: Request,
    kind: Annotated[str, Form(max_length=20)] = "",
    date: Annotated[str, Form(max_length=20)] = "",
    opportunity: Annotated[str, Form(max_length=20)] = "",
    detail: Annotated[str, Form(max_length=1000)] = "",
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Record an outcome: a training started, a job, back to education."""
    try:
        when = dt.date.fromisoformat(date)
    except ValueError:
        flash(request, _("Give the outcome's date (YYYY-MM-DD)."), "error")
        return back(f"/people/{person_id}")
    item = parse_id(opportunity)
    if opportunity and item is None:
        # Not an id the form's list could send: the same answer as an id that is not there.
        flash(request, _("There is no such training or job in the catalogue."), "error")
        return back(f"/people/{person_id}")
    return _done(
        request,
        person_id,
        lambda: caseload.record_outcome(
            session, person_id, user_row(session, user), kind, when, item, detail
        ),
        _("Outcome recorded."),
    )
