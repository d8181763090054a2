"""The admin studio's pages: intents and examples, responses, topic words, the
annotation loop and the audit log. Admins only (coaches get 403)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from bot.services import audit, misunderstood, proposals
from bot.settings import SUPPORTED_LANGUAGES
from connectors.rasa.studio.nlu import Conflict, NluStore, StudioError
from connectors.rasa.studio.responses import Variation, parse_buttons
from dashboard.deps import Nlu, Responses, Topics
from dashboard.i18n import _, say
from dashboard.pages import back, flash, render
from dashboard.security import ADMIN_FORM, Viewer, admin, db

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
router = APIRouter(prefix="/admin")


# --- intents and examples -------------------------------------------------------------------


@router.get("/intents", response_class=HTMLResponse)
def intents_page(
    request: Request, nlu: Nlu, q: str = "", language: str = "", user: Viewer = Depends(admin)
) -> Response:
    """Every intent with its number of examples per language, warnings, and a search."""
    store = nlu
    found = store.search(q[:100], language or None) if q.strip() else []
    return render(
        request, "studio_intents.html", user, overview=store.overview(),
        warnings=store.warnings(), languages=SUPPORTED_LANGUAGES, q=q, language=language,
        found=found,
    )  # fmt: skip


@router.post("/intents", dependencies=ADMIN_FORM)
def add_intent(
    request: Request,
    nlu: Nlu,
    name: Annotated[str, Form(max_length=80)] = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """A new intent (then its examples, per language)."""
    name = name.strip()
    try:
        nlu.add_intent(name)
    except StudioError as error:
        flash(request, say(error), "error")
        return back("/admin/intents")
    audit.record(session, user.id, user.username, "intent.add", name, None, name)
    flash(request, _("Intent %(name)s added. Now give it examples in every language.", name=name))
    return back(f"/admin/intents/{name}")


@router.get("/intents/{name:path}", response_class=HTMLResponse)
def intent_page(name: str, request: Request, nlu: Nlu, user: Viewer = Depends(admin)) -> Response:
    """One intent: its examples in every language, each editable on its own."""
    return _intent_page(request, nlu, user, name)


def _intent_page(
    request: Request,
    store: NluStore,
    user: Viewer,
    name: str,
    draft: tuple[str, str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The intent's page; `draft` (language, text typed, why it was not saved) is shown in
    place of that language's stored examples, so nothing typed is lost."""
    if name not in store.overview():
        raise HTTPException(404, _("There is no intent '%(name)s'.", name=name))
    by_language = {code: store.examples(name, code) for code in SUPPORTED_LANGUAGES}
    warnings = [w for w in store.warnings() if w.intent == name]
    return render(
        request, "studio_intent.html", user, status_code, name=name, by_language=by_language,
        versions={code: store.version(name, code) for code in SUPPORTED_LANGUAGES},
        warnings=warnings, usages=store.usages(name), draft=draft,
        saved=request.query_params.get("saved"),
    )  # fmt: skip


@router.post("/intents/{name:path}/examples", dependencies=ADMIN_FORM)
def save_examples(
    name: str,
    request: Request,
    nlu: Nlu,
    language: Annotated[str, Form(max_length=8)] = "",
    examples: Annotated[str, Form(max_length=200_000)] = "",
    version: Annotated[str, Form(max_length=40)] = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Save one language's examples of an intent (refused if someone changed them meanwhile)."""
    try:
        before, after = nlu.save(name, language, examples.splitlines(), version)
    except StudioError as error:  # the page again, the typed text and the reason at its form
        status = 409 if isinstance(error, Conflict) else 400
        shown = _CONTROL.sub("\ufffd", examples)  # what cannot be saved cannot be shown either
        return _intent_page(request, nlu, user, name, (language, shown, say(error)), status)
    added = len([e for e in after if e not in before])
    removed = len([e for e in before if e not in after])
    audit.record(
        session, user.id, user.username, "examples.save", f"{name} [{language}]", before, after
    )
    flash(
        request,
        _(
            "Saved the %(language)s examples of %(name)s: %(added)s added, %(removed)s removed.",
            language=language,
            name=name,
            added=added,
            removed=removed,
        ),
    )
    return back(f"/admin/intents/{name}?saved={language}#{language}")


@router.post("/intents/{name:path}/rename", dependencies=ADMIN_FORM)
def rename_intent(
    name: str,
    request: Request,
    nlu: Nlu,
    new_name: Annotated[str, Form(max_length=80)] = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Rename an intent everywhere (data, domain, rules, stories, tests)."""
    new_name = new_name.strip()
    try:
        nlu.rename_intent(name, new_name)
    except StudioError as error:
        flash(request, say(error), "error")
        return back(f"/admin/intents/{name}")
    audit.record(session, user.id, user.username, "intent.rename", name, name, new_name)
    flash(request, _("Renamed %(old)s to %(new)s.", old=name, new=new_name))
    return back(f"/admin/intents/{new_name}")


@router.post("/intents/{name:path}/delete", dependencies=ADMIN_FORM)
def delete_intent(
    name: str,
    request: Request,
    nlu: Nlu,
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Delete an intent and its examples (refused while rules or stories use it)."""
    try:
        removed = nlu.delete_intent(name)
    except StudioError as error:
        flash(request, say(error), "error")
        return back(f"/admin/intents/{name}")
    audit.record(session, user.id, user.username, "intent.delete", name, removed, None)
    flash(request, _("Deleted the intent %(name)s.", name=name))
    return back("/admin/intents")


# --- topic words ----------------------------------------------------------------------------


@router.get("/topics", response_class=HTMLResponse)
def topics_page(request: Request, topic_store: Topics, user: Viewer = Depends(admin)) -> Response:
    """Every topic with its number of words per language."""
    topics, labels = topic_store.overview()  # one reading of the file
    return render(
        request, "studio_topics.html", user, topics=topics, languages=SUPPORTED_LANGUAGES,
        labels=labels,
    )  # fmt: skip


@router.get("/topics/{key}", response_class=HTMLResponse)
def topic_page(
    key: str, request: Request, topic_store: Topics, user: Viewer = Depends(admin)
) -> Response:
    """One topic's words in every language."""
    store = topic_store
    topics = store.topics()
    if key not in topics:
        raise HTTPException(404, _("There is no topic '%(key)s'.", key=key))
    return render(
        request, "studio_topic.html", user, key=key, label=store.label(key),
        by_language=topics[key], versions={c: store.version(key, c) for c in SUPPORTED_LANGUAGES},
    )  # fmt: skip


@router.post("/topics/{key}", dependencies=ADMIN_FORM)
def save_topic(
    key: str,
    request: Request,
    topic_store: Topics,
    language: Annotated[str, Form(max_length=8)] = "",
    words: Annotated[str, Form(max_length=100_000)] = "",
    version: Annotated[str, Form(max_length=40)] = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Save one language's words of a topic (used by the NLU after the next training, and by
    the search at once)."""
    try:
        before, after = topic_store.save(key, language, words.splitlines(), version)
    except StudioError as error:
        flash(request, say(error), "error")
        return back(f"/admin/topics/{key}#{language}")
    audit.record(
        session, user.id, user.username, "topic.save", f"{key} [{language}]", before, after
    )
    flash(
        request,
        _(
            "Saved the %(language)s words of %(key)s. Train a new model to use them in the NLU.",
            language=language,
            key=key,
        ),
    )
    return back(f"/admin/topics/{key}#{language}")


# --- responses ------------------------------------------------------------------------------


@router.get("/responses", response_class=HTMLResponse)
def responses_page(
    request: Request, responses: Responses, user: Viewer = Depends(admin)
) -> Response:
    """Every response, with the languages it still lacks."""
    store = responses
    return render(
        request, "studio_responses.html", user, names=store.names(), missing=store.missing()
    )


@router.get("/responses/{name:path}", response_class=HTMLResponse)
def response_page(
    name: str, request: Request, responses: Responses, user: Viewer = Depends(admin)
) -> Response:
    """One response: its text and buttons in every language."""
    store = responses
    try:
        variations = store.variations(name)
    except StudioError as error:
        raise HTTPException(404, say(error)) from None
    return render(
        request, "studio_response.html", user, name=name, languages=SUPPORTED_LANGUAGES,
        variations=variations,
        versions={code: store.version(name, code) for code in SUPPORTED_LANGUAGES},
    )  # fmt: skip


@router.post("/responses/{name:path}", dependencies=ADMIN_FORM)
def save_response(
    name: str,
    request: Request,
    responses: Responses,
    language: Annotated[str, Form(max_length=8)] = "",
    text: Annotated[str, Form(max_length=20_000)] = "",
    buttons: Annotated[str, Form(max_length=20_000)] = "",
    version: Annotated[str, Form(max_length=40)] = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Save one language's text and buttons (refused if someone changed them meanwhile)."""
    try:
        variation = Variation(text, parse_buttons(buttons))
        before, after = responses.save(name, language, variation, version)
    except StudioError as error:
        flash(request, say(error), "error")
        return back(f"/admin/responses/{name}#{language}")
    audit.record(
        session, user.id, user.username, "response.save", f"{name} [{language}]", before, after
    )
    flash(request, _("Saved the %(language)s text of %(name)s.", language=language, name=name))
    return back(f"/admin/responses/{name}#{language}")


# --- the annotation loop --------------------------------------------------------------------


@router.get("/annotations", response_class=HTMLResponse)
def annotations_page(
    request: Request, user: Viewer = Depends(admin), session: Session = Depends(db)
) -> Response:
    """Coaches' proposals ("this message meant …"), to accept into the data or reject."""
    return render(
        request, "studio_annotations.html", user,
        proposed=proposals.proposed(session), decided=proposals.decided(session),
    )  # fmt: skip


@router.post("/annotations/{annotation_id}/{decision}", dependencies=ADMIN_FORM)
def decide(
    annotation_id: int,
    decision: str,
    request: Request,
    nlu: Nlu,
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Accept a proposal (the message becomes an example of the intent) or reject it."""
    annotation = proposals.waiting(session, annotation_id)
    if annotation is None or decision not in proposals.DECISIONS:
        flash(request, _("That proposal was already decided."), "error")
        return back("/admin/annotations")
    if decision == "accept":
        store = nlu
        current = store.examples(annotation.intent, annotation.language)
        try:
            before, after = store.save(
                annotation.intent, annotation.language, [*current, annotation.text],
                store.version(annotation.intent, annotation.language),
            )  # fmt: skip
        except StudioError as error:
            flash(request, say(error), "error")
            return back("/admin/annotations")
        audit.record(
            session, user.id, user.username, "examples.save",
            f"{annotation.intent} [{annotation.language}]", before, after,
        )  # fmt: skip
        misunderstood.learned(
            session, annotation.sender_id, annotation.text, annotation.language,
            annotation.intent, "annotation", user.username,
        )  # fmt: skip
    proposals.decide(session, annotation, decision, user.username)
    audit.record(
        session, user.id, user.username, f"annotation.{decision}",
        f"{annotation.text} → {annotation.intent}",
    )  # fmt: skip
    if decision == "accept":
        flash(request, _("Accepted: '%(text)s'.", text=annotation.text))
    else:
        flash(request, _("Rejected: '%(text)s'.", text=annotation.text))
    return back("/admin/annotations")


# --- the audit log --------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    action: str = "",
    who: str = "",
    q: str = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Every change, newest first: who, when, what, before and after; filtered by the kind of
    change, the account and words of what it was on."""
    actions, names = audit.known(session)
    entries = audit.recent(session, 300, action[:60] or None, who[:40] or None, q[:100] or None)
    return render(
        request, "studio_audit.html", user, entries=entries, action=action, who=who, q=q,
        actions=actions, names=names,
        groups=sorted({name.split(".")[0] for name in actions}),
    )  # fmt: skip
