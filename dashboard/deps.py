"""What the dashboard's routes are given (FastAPI dependencies, `Annotated[..., Depends(...)]`):
the settings, the database, the Rasa server, the studio's stores and its job runner. The
session, the signed-in user and the conversation log are in `security.py`. Everything the
application holds is set up once in `app.create_app`; routes never reach into `app.state`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import SUPPORTED_LANGUAGES, Settings
from connectors.rasa.client import RasaClient
from connectors.rasa.studio.jobs import Runner
from connectors.rasa.studio.nlu import NluStore
from connectors.rasa.studio.responses import ResponseStore
from connectors.rasa.studio.topics import TOPICS_FILE, TopicStore
from dashboard.limits import SignInLimit


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def sessions_of(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def rasa_of(request: Request) -> RasaClient:
    rasa: RasaClient = request.app.state.rasa
    return rasa


def runner_of(request: Request) -> Runner:
    runner: Runner = request.app.state.runner
    return runner


def addresses_of(request: Request) -> SignInLimit:
    addresses: SignInLimit = request.app.state.addresses
    return addresses


AppSettings = Annotated[Settings, Depends(app_settings)]
Addresses = Annotated[SignInLimit, Depends(addresses_of)]
Sessions = Annotated[sessionmaker[Session], Depends(sessions_of)]
Rasa = Annotated[RasaClient, Depends(rasa_of)]
Jobs = Annotated[Runner, Depends(runner_of)]


def nlu_store(settings: AppSettings) -> NluStore:
    """Intents and examples of the Rasa project the studio edits."""
    return NluStore(settings.rasa_project_dir, SUPPORTED_LANGUAGES)


def response_store(settings: AppSettings) -> ResponseStore:
    """The responses of the Rasa project the studio edits."""
    return ResponseStore(settings.rasa_project_dir, SUPPORTED_LANGUAGES)


def topic_store() -> TopicStore:
    """The topic words (`config/topics.yml`)."""
    return TopicStore(TOPICS_FILE, SUPPORTED_LANGUAGES)


Nlu = Annotated[NluStore, Depends(nlu_store)]
Responses = Annotated[ResponseStore, Depends(response_store)]
Topics = Annotated[TopicStore, Depends(topic_store)]
