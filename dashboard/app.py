"""The dashboard application: coaches review conversations, take over chats and see figures.

`create_app()` builds it from the settings; `neetbot run` serves it with uvicorn on
127.0.0.1:DASHBOARD_PORT. A background task keeps the conversation summaries in step with
Rasa's tracker store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from bot.db.session import session_factory
from bot.logging_setup import configure_logging, redact_everywhere
from bot.services import conversations
from bot.services.setup import prepare_database
from bot.settings import SUPPORTED_LANGUAGES, Settings, get_settings, secrets_of
from connectors.rasa.client import RasaClient
from connectors.rasa.events import RasaEvents
from connectors.rasa.studio import learning
from connectors.rasa.studio.jobs import Runner
from connectors.rasa.studio.nlu import NluStore
from dashboard import (
    admin_routes,
    auth_routes,
    broadcast_routes,
    catalogue_routes,
    conversation_routes,
    figure_routes,
    i18n,
    language_routes,
    learning_routes,
    message_routes,
    model_routes,
    people_routes,
    plan_routes,
    queue_routes,
    reach_routes,
    studio_routes,
)
from dashboard.i18n import N_, LocaleMiddleware
from dashboard.limits import BodyLimit, SignInLimit
from dashboard.pages import render
from dashboard.security import LoginRequired

logger = logging.getLogger(__name__)
SYNC_EVERY = 2.0  # seconds between two looks at the tracker store
SESSION_HOURS = 10
# Starlette's own error texts, so that the catalogue has them.
STARLETTE_DETAILS = (N_("Not Found"), N_("Method Not Allowed"), N_("Internal Server Error"))
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


async def _keep_in_sync(app: FastAPI) -> None:
    """Fold new tracker events into the conversation summaries, every few seconds."""
    settings: Settings = app.state.settings

    def once() -> None:
        with app.state.sessions.begin() as session:
            conversations.sync(session, app.state.events)
        with app.state.sessions.begin() as session:
            # Examples taken from the words of people erased since: out of the training data.
            store = NluStore(settings.rasa_project_dir, SUPPORTED_LANGUAGES)
            erased = learning.apply_erasures(session, store, settings.embedding_cache)
            if erased:
                logger.info("Erased %d training example(s) of erased people", erased)

    while True:
        try:
            await asyncio.to_thread(once)
        except Exception:
            logger.exception("Reading the tracker store failed; trying again")
        await asyncio.sleep(SYNC_EVERY)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    assert settings.rasa_token is not None
    app.state.rasa = RasaClient(
        settings.rasa_url, settings.rasa_token.get_secret_value(), settings.rasa_timeout_seconds
    )
    task = asyncio.create_task(_keep_in_sync(app))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app.state.rasa.close()
        await asyncio.to_thread(app.state.runner.sandbox.stop)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The dashboard for `settings` (the process's settings by default)."""
    settings = settings or get_settings()
    assert settings.secret_key is not None
    # uvicorn set up its own loggers: ours get the same redaction as every other process.
    if not logging.getLogger().handlers:
        configure_logging(settings.log_level, secrets_of(settings))
    redact_everywhere(secrets_of(settings))
    prepare_database(settings.database_url, sample=None)
    app = FastAPI(
        title="NEET assistant: coach console",
        lifespan=_lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.events = RasaEvents(settings.tracker_store_url)
    app.state.sessions = session_factory(settings.database_url)
    app.state.addresses = SignInLimit(
        settings.secret_key.get_secret_value(), settings.lock_store_url
    )
    # Inside the session (added first): only a signed-in user's import may send a large body.
    app.add_middleware(BodyLimit)
    app.add_middleware(LocaleMiddleware)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie="neetbot_session",
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=settings.dashboard_https,
    )

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, error: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={error.next_url}", status_code=303)

    # Starlette's class: its own 404 and 405 (no such page) get the same page as ours.
    @app.exception_handler(StarletteHTTPException)
    async def _error_page(request: Request, error: StarletteHTTPException) -> Response:
        if request.url.path.endswith(".json"):
            return JSONResponse({"detail": error.detail}, status_code=error.status_code)
        # The detail was translated where it was raised (or is Starlette's own, translated here).
        shown = HTTPException(error.status_code, i18n.gettext(str(error.detail)))
        page = render(request, "error.html", None, status_code=error.status_code, error=shown)
        page.headers.update(error.headers or {})  # a 405's Allow, say
        return page

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/conversations", status_code=303)

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.state.runner = Runner(settings, app.state.sessions)
    for module in (
        auth_routes,
        conversation_routes,
        queue_routes,
        people_routes,
        figure_routes,
        admin_routes,
        studio_routes,
        message_routes,
        learning_routes,
        model_routes,
        catalogue_routes,
        reach_routes,
        broadcast_routes,
        plan_routes,
        language_routes,
    ):
        app.include_router(module.router)
    return app
