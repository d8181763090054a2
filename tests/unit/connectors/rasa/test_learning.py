"""The misunderstood, every day: messages the NLU was unsure of wait in the studio, alike ones
together; one click makes one a training example, and erasing the person takes it out again,
from the training data, the embedding cache and the audit log."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, insert, select

from bot.db.models import AuditEntry, LearnedExample, Misunderstood
from bot.db.session import session_factory
from bot.services import conversations, misunderstood
from bot.services.users import create_user
from bot.settings import ROOT, SUPPORTED_LANGUAGES, Settings
from connectors.rasa.events import EVENTS, RasaEvents
from connectors.rasa.studio import learning
from connectors.rasa.studio.nlu import NluStore
from connectors.rasa.training import embedding_cache
from dashboard.app import create_app

PASSWORD = "studio password 1"
MESSAGES = [  # (sender, text, language, intent, confidence)
    ("tg-ana", "posso lavorare come bagnino in spiaggia?", "it", "nlu_fallback", 0.3),
    ("tg-ana", "lavoro come bagnino in spiaggia?", "it", "ask_programme", 0.4),
    ("tg-ben", "kako da obrišem sve o meni", "hr", "delete_data", 0.5),
    ("tg-ben", "any courses in Split?", "en", "ask_trainings", 0.97),  # understood: not queued
    ("tg-ben", "/greet", "en", "greet", 0.2),  # a payload: not queued
]


def _event(text: str, language: str, intent: str, confidence: float) -> str:
    ranking = [{"name": intent, "confidence": confidence}, {"name": "ask_jobs", "confidence": 0.2}]
    return json.dumps(
        {
            "event": "user",
            "text": text,
            "metadata": {"language": language},
            "parse_data": {
                "intent": {"name": intent, "confidence": confidence},
                "intent_ranking": ranking,
                "entities": [],
            },
        }  # fmt: skip
    )


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    project = tmp_path / "rasa_project"
    shutil.copytree(ROOT / "rasa_project", project, ignore=shutil.ignore_patterns(".rasa"))
    settings = Settings(
        _env_file=None, var_dir=tmp_path, rasa_port=1, rasa_project_dir=project,
        rasa_token=SecretStr("t" * 32),
        secret_key=SecretStr("studio-key-0123456789abcdefghijklmnop"),
        embedding_cache=tmp_path / "embeddings.sqlite3",
    )  # fmt: skip
    app = create_app(settings)
    with session_factory(settings.database_url).begin() as session:
        create_user(session, "boss", "admin", PASSWORD)
    engine = create_engine(settings.tracker_store_url)
    EVENTS.metadata.create_all(engine)
    rows = [
        {"id": number, "sender_id": sender, "type_name": "user", "timestamp": 1.7e9 + number,
         "intent_name": intent, "action_name": None,
         "data": _event(text, language, intent, confidence)}
        for number, (sender, text, language, intent, confidence) in enumerate(MESSAGES, 1)
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(EVENTS), rows)
    with TestClient(app) as client:
        yield client, settings


def sign_in(client: TestClient) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "boss", "password": PASSWORD, "csrf_token": token})
    page = client.get("/admin/misunderstood")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_unsure_messages_wait_alike_ones_together(studio: tuple[TestClient, Settings]) -> None:
    client, settings = studio
    sign_in(client)
    page = client.get("/admin/misunderstood").text
    assert "posso lavorare come bagnino in spiaggia?" in page
    assert "kako da obrišem sve o meni" in page
    assert "any courses in Split?" not in page and "/greet" not in page
    assert "2 alike messages" in page  # the two lifeguard questions
    assert "it (2)" in page and "hr (1)" in page
    assert "ask_jobs (0.20)" in page  # the bot's guesses
    only_croatian = client.get("/admin/misunderstood?language=hr").text
    assert "kako da obrišem" in only_croatian and "bagnino" not in only_croatian


def test_one_click_makes_a_training_example_with_its_origin(
    studio: tuple[TestClient, Settings],
) -> None:
    client, settings = studio
    token = sign_in(client)
    page = client.get("/admin/misunderstood?language=hr").text
    message_id = re.search(r"/admin/misunderstood/(\d+)/label", page).group(1)  # type: ignore[union-attr]
    done = client.post(
        f"/admin/misunderstood/{message_id}/label",
        data={"csrf_token": token, "intent": "delete_data", "language": "hr"},
    )
    assert "Added to delete_data" in done.text
    store = NluStore(settings.rasa_project_dir, SUPPORTED_LANGUAGES)
    assert store.examples("delete_data", "hr")[-1] == "kako da obrišem sve o meni"
    with session_factory(settings.database_url).begin() as session:
        (example,) = session.scalars(select(LearnedExample))
        assert (example.sender_id, example.source, example.intent) == (
            "tg-ben", "misunderstood", "delete_data",
        )  # fmt: skip
    again = client.post(
        f"/admin/misunderstood/{message_id}/label",
        data={"csrf_token": token, "intent": "delete_data", "language": "hr"},
    )
    assert "already dealt with" in again.text
    nonsense_id = re.search(r"/admin/misunderstood/(\d+)/nonsense", client.get(
        "/admin/misunderstood?language=it").text).group(1)  # type: ignore[union-attr]  # fmt: skip
    client.post(f"/admin/misunderstood/{nonsense_id}/nonsense", data={"csrf_token": token})
    with session_factory(settings.database_url).begin() as session:
        assert session.get(Misunderstood, int(nonsense_id)).status == "nonsense"  # type: ignore[union-attr]
        assert misunderstood.waiting_counts(session) == {"it": 1}


def test_erasing_the_person_takes_their_words_out_of_everything(
    studio: tuple[TestClient, Settings],
) -> None:
    client, settings = studio
    token = sign_in(client)
    page = client.get("/admin/misunderstood?language=hr").text
    message_id = re.search(r"/admin/misunderstood/(\d+)/label", page).group(1)  # type: ignore[union-attr]
    client.post(
        f"/admin/misunderstood/{message_id}/label",
        data={"csrf_token": token, "intent": "delete_data", "language": "hr"},
    )
    text = "kako da obrišem sve o meni"
    cache = embedding_cache().EmbeddingCache("test-model", settings.embedding_cache)
    cache.embed([text, "bok"], lambda texts: np.ones((len(texts), 4), np.float32))
    store = NluStore(settings.rasa_project_dir, SUPPORTED_LANGUAGES)
    with session_factory(settings.database_url).begin() as session:
        assert any(text in (entry.target + (entry.after or "")) for entry in
                   session.scalars(select(AuditEntry)))  # fmt: skip
        conversations.forget(session, RasaEvents(settings.tracker_store_url), "tg-ben")
        assert session.scalar(select(LearnedExample.status)) == "erase_pending"
        assert learning.apply_erasures(session, store, settings.embedding_cache) == 1
    assert text not in store.examples("delete_data", "hr")
    assert embedding_cache().forget([text], settings.embedding_cache) == 0  # already gone
    assert embedding_cache().forget(["bok"], settings.embedding_cache) == 1  # others stay
    with session_factory(settings.database_url).begin() as session:
        for entry in session.scalars(select(AuditEntry)):
            assert text not in entry.target + (entry.before or "") + (entry.after or "")
        assert session.scalar(select(LearnedExample.text)) == misunderstood.ERASED
        assert misunderstood.retrain_due(session) == 1
        assert "kako da obrišem" not in json.dumps(
            [m.text for m in session.scalars(select(Misunderstood))]
        )
    assert "train a new model" in client.get("/admin/misunderstood").text
