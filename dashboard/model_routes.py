"""The studio's Models page: validate the data, train in the background, evaluate and try a new
model in the sandbox, activate it or roll back. Admins only."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import ModelVersion, StudioJob
from bot.services import audit
from bot.settings import SUPPORTED_LANGUAGES
from connectors.rasa.client import RasaClient, RasaUnavailable
from connectors.rasa.studio import jobs
from connectors.rasa.studio.jobs import Runner
from connectors.rasa.studio.nlu import StudioError
from connectors.rasa.studio.sandbox import SANDBOX_SENDER
from dashboard import i18n
from dashboard.deps import AppSettings, Jobs, Rasa, Sessions
from dashboard.i18n import _, say
from dashboard.pages import back, flash, render
from dashboard.security import ADMIN_FORM, Viewer, admin, db

router = APIRouter(prefix="/admin")


async def _models_page(
    request: Request,
    user: Viewer,
    sessions: sessionmaker[Session],
    rasa: RasaClient,
    runner: Runner,
    tried: dict[str, Any] | None = None,
) -> Response:
    try:
        status = await rasa.status()
    except Exception:  # Rasa down: the page still shows what is stored
        status = {}

    def read() -> tuple[list[ModelVersion], list[StudioJob], bool]:
        with sessions.begin() as session:
            kept, recent = jobs.kept_versions(session), jobs.recent_jobs(session)
            changed = runner.changed_since(jobs.live(session))
            session.expunge_all()
            return kept, recent, changed

    versions, recent, changed = await asyncio.to_thread(read)
    return render(
        request, "studio_models.html", user, versions=versions, jobs=recent,
        rasa_model=str(status.get("model_file") or ""), running=runner.busy(),
        metrics={v.id: json.loads(v.metrics) for v in versions if v.metrics},
        sandbox=next((v for v in versions if runner.sandbox.serving(v.path)), None),
        languages=SUPPORTED_LANGUAGES, tried=tried, changed=changed,
    )  # fmt: skip


@router.get("/models", response_class=HTMLResponse)
async def models_page(
    request: Request,
    sessions: Sessions,
    rasa: Rasa,
    runner: Jobs,
    user: Viewer = Depends(admin),
) -> Response:
    """The live model, the trained ones (evaluation, try, activate, roll back), the jobs."""
    return await _models_page(request, user, sessions, rasa, runner)


@router.post("/try", dependencies=ADMIN_FORM)
async def try_model(
    request: Request,
    settings: AppSettings,
    sessions: Sessions,
    rasa: Rasa,
    runner: Jobs,
    message: Annotated[str, Form(max_length=1000)] = "",
    language: Annotated[str, Form(max_length=8)] = "en",
    user: Viewer = Depends(admin),
) -> Response:
    """Send a message to the model in the sandbox (not live) and show what it understood and
    answered."""
    if not runner.sandbox.url or not message.strip():
        flash(
            request, _("Train a model first: it is tried in a sandbox before going live."), "error"
        )
        return back("/admin/models")
    if language not in SUPPORTED_LANGUAGES:
        language = "en"
    token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
    sandbox = RasaClient(runner.sandbox.url, token)
    sender = f"{SANDBOX_SENDER}{user.username}"
    try:
        value, new = await sandbox.slot(sender, "language")
        if value != language:
            await sandbox.set_slot(sender, "language", language, new=new)
        replies = await sandbox.send_message(sender, message.strip(), {"language": language})
        parse = await sandbox.parse(message.strip())
    except (RasaUnavailable, httpx.HTTPError):
        flash(request, _("The sandbox is not answering; train again."), "error")
        return back("/admin/models")
    finally:
        await sandbox.close()
    intent = parse.get("intent") or {}
    tried = {
        "message": message.strip(),
        "language": language,
        "intent": intent.get("name"),
        "confidence": intent.get("confidence"),
        "replies": [str(reply.get("text") or "") for reply in replies if reply.get("text")],
    }
    return await _models_page(request, user, sessions, rasa, runner, tried)


@router.post("/train", dependencies=ADMIN_FORM)
def train(
    request: Request, runner: Jobs, user: Viewer = Depends(admin), session: Session = Depends(db)
) -> Response:
    """Start a training in the background (the bot keeps serving)."""
    try:
        job_id = runner.start_training(user.username)
    except StudioError as error:
        flash(request, say(error), "error")
        return back("/admin/models")
    audit.record(session, user.id, user.username, "model.train", f"job {job_id}")
    flash(request, _("Training started. This page shows its progress."))
    return back("/admin/models")


@router.post("/validate", dependencies=ADMIN_FORM)
def validate(request: Request, runner: Jobs, user: Viewer = Depends(admin)) -> Response:
    """Run `rasa data validate` in the background."""
    try:
        runner.start_validation(user.username)
    except StudioError as error:
        flash(request, say(error), "error")
    else:
        flash(request, _("Validation started; its findings appear below."))
    return back("/admin/models")


@router.get("/jobs/{job_id}.json")
def job_status(
    job_id: int, user: Viewer = Depends(admin), session: Session = Depends(db)
) -> JSONResponse:
    """A job's progress, for the page's live view."""
    job = jobs.get_job(session, job_id)
    if job is None:
        raise HTTPException(404, _("There is no such job."))
    return JSONResponse({
        "id": job.id, "kind": job.kind, "status": job.status,
        "stage": i18n.known(job.stage or "", jobs.STAGES),
        "progress": job.progress, "model_id": job.model_id,
    })  # fmt: skip


@router.post("/models/{version_id}/activate", dependencies=ADMIN_FORM)
async def activate(
    version_id: int,
    request: Request,
    sessions: Sessions,
    rasa: Rasa,
    runner: Jobs,
    user: Viewer = Depends(admin),
) -> Response:
    """Put a model live: Rasa loads it and swaps it in; conversations carry on."""

    def path_of() -> tuple[str, str | None, bool]:
        with sessions.begin() as session:
            version = jobs.get_version(session, version_id)
            if version is None:
                raise StudioError("That model is no longer kept.")
            current = jobs.live(session)
            older = current is not None and version.id < current.id
            return version.path, current.path if current else None, older

    try:
        path, previous, older = await asyncio.to_thread(path_of)
        await rasa.load_model(path)
    except StudioError as error:
        flash(request, say(error), "error")
        return back("/admin/models")
    except (RasaUnavailable, Exception) as error:  # noqa: BLE001 - shown to the admin
        flash(
            request,
            _(
                "Rasa did not load the model (%(error)s); nothing changed.",
                error=type(error).__name__,
            ),
            "error",
        )
        return back("/admin/models")

    def record() -> None:
        with sessions.begin() as session:
            jobs.mark_active(session, version_id)
            audit.record(session, user.id, user.username, "model.activate", path, previous, path)

    await asyncio.to_thread(record)
    if runner.sandbox.serving(path):
        await asyncio.to_thread(runner.sandbox.stop)  # it is live now
    if older:
        done = _(
            "Rolled back to model %(id)s. The model is live. Conversations in progress carried on.",
            id=version_id,
        )
    else:
        done = _(
            "Model %(id)s is live. The model is live. Conversations in progress carried on.",
            id=version_id,
        )
    flash(request, done)
    return back("/admin/models")
