"""The admin studio's stores on a copy of the Rasa project: examples and responses edited as
Rasa YAML (comments kept), refused concurrent saves, warnings, renaming and deleting intents;
and its pages through FastAPI's test client (audit log, annotations, admins only)."""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, insert, select

from bot.db.models import Annotation, AuditEntry
from bot.db.session import session_factory
from bot.services.users import create_user
from bot.settings import ROOT, SUPPORTED_LANGUAGES, Settings
from connectors.rasa.events import EVENTS
from connectors.rasa.studio.evaluation import scores
from connectors.rasa.studio.nlu import Conflict, NluStore, StudioError
from connectors.rasa.studio.responses import ResponseStore, Variation, parse_buttons
from connectors.rasa.studio.topics import TOPICS_FILE, TopicStore
from dashboard import deps
from dashboard.app import create_app
from tests.conftest import sign_in, version_on

PASSWORD = "studio password 1"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    target = tmp_path / "rasa_project"
    shutil.copytree(ROOT / "rasa_project", target, ignore=shutil.ignore_patterns(".rasa", "models"))
    return target


def rasa_examples(path: Path, intent: str) -> list[str]:
    """What Rasa will read: the examples of `intent` in one file, parsed with plain PyYAML."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for item in document["nlu"]:
        if item.get("intent") == intent:
            return [line[2:] for line in item["examples"].splitlines()]
    return []


def test_saving_examples_writes_rasa_yaml_and_keeps_comments(project: Path) -> None:
    store = NluStore(project, SUPPORTED_LANGUAGES)
    before = store.examples("ask_jobs", "it")
    assert len(before) >= 12
    file = next(p for p in (project / "data/nlu/it").glob("*.yml") if rasa_examples(p, "ask_jobs"))
    comments = [line for line in file.read_text().splitlines() if line.startswith("#")]
    store.save(
        "ask_jobs", "it",
        [*before, "  cerco un posto da   bagnino a [Rimini](location) ", before[0]],
        store.version("ask_jobs", "it"),
    )  # fmt: skip
    after = rasa_examples(file, "ask_jobs")
    assert after == [
        *before,
        "cerco un posto da bagnino a [Rimini](location)",
    ]  # trimmed, no repeat
    assert [line for line in file.read_text().splitlines() if line.startswith("#")] == comments
    assert store.examples("ask_jobs", "en") == NluStore(ROOT / "rasa_project", ["en"]).examples(
        "ask_jobs", "en"
    )


def test_a_stale_save_is_refused_and_nothing_is_lost(project: Path) -> None:
    first, second = NluStore(project, SUPPORTED_LANGUAGES), NluStore(project, SUPPORTED_LANGUAGES)
    seen_by_both = first.version("greet", "de")
    current = first.examples("greet", "de")
    first.save("greet", "de", [*current, "servus ihr lieben aus graz"], seen_by_both)
    with pytest.raises(Conflict, match="Someone else changed the de examples of greet"):
        second.save("greet", "de", [*current, "grüß gott"], seen_by_both)
    assert first.examples("greet", "de")[-1] == "servus ihr lieben aus graz"


@pytest.mark.parametrize(
    ("example", "message"),
    [
        ("jobs in [Split](city)", '"city" is not an entity of the domain'),
        ("- jobs", "write it bare"),
        ("x" * 301, "longer than 300 characters"),
        ("jobs in [Split(location)", "unclosed"),
    ],
)
def test_bad_examples_are_refused_with_a_reason(project: Path, example: str, message: str) -> None:
    store = NluStore(project, SUPPORTED_LANGUAGES)
    with pytest.raises(StudioError, match=re.escape(message)):
        store.save("ask_jobs", "en", [example], store.version("ask_jobs", "en"))
    assert len(store.examples("ask_jobs", "en")) > 1


def test_warnings_name_duplicates_and_thin_intents(project: Path) -> None:
    store = NluStore(project, SUPPORTED_LANGUAGES)
    # The project's data is clean (tests/unit/project/test_translations.py).
    assert store.warnings() == []
    thanks = store.examples("thank", "fr")[0]
    store.save(
        "greet", "fr", [*store.examples("greet", "fr"), thanks], store.version("greet", "fr")
    )
    store.save("help", "lt", store.examples("help", "lt")[:3], store.version("help", "lt"))
    messages = [warning.message for warning in store.warnings()]
    assert f'"{thanks}" is an example of both' in " ".join(messages)
    assert "help has 3 examples in lt (at least 12)" in messages


def test_new_intent_rename_and_delete(project: Path) -> None:
    store = NluStore(project, SUPPORTED_LANGUAGES)
    store.add_intent("ask_housing")
    with pytest.raises(StudioError, match="already an intent"):
        store.add_intent("ask_housing")
    store.save(
        "ask_housing",
        "it",
        ["cerco casa", "un alloggio a Roma"],
        store.version("ask_housing", "it"),
    )
    assert store.overview()["ask_housing"]["it"] == 2
    store.rename_intent("ask_housing", "ask_accommodation")
    assert store.examples("ask_accommodation", "it") == ["cerco casa", "un alloggio a Roma"]
    assert "ask_housing" not in store.overview()
    with pytest.raises(StudioError, match="is used in data/rules"):
        store.delete_intent("greet")
    removed = store.delete_intent("ask_accommodation")
    assert removed == {"it": ["cerco casa", "un alloggio a Roma"]}
    assert "ask_accommodation" not in store.overview()
    assert "ask_accommodation" not in (project / "domain/studio.yml").read_text()


def test_search_finds_examples_accent_insensitively(project: Path) -> None:
    store = NluStore(project, SUPPORTED_LANGUAGES)
    found = store.search("formacion", "es")
    assert found and all(code == "es" for _, code, _ in found)
    assert any("formación" in example for _, _, example in found)


def test_responses_per_language_with_buttons_and_conflicts(project: Path) -> None:
    store = ResponseStore(project, SUPPORTED_LANGUAGES)
    assert set(store.variations("utter_help")) == set(SUPPORTED_LANGUAGES)
    version = store.version("utter_help", "it")
    old = store.variations("utter_help")["it"]
    new = Variation("Ecco cosa posso fare (nuovo)!", parse_buttons("🎓 Corsi | /ask_trainings"))
    before, after = store.save("utter_help", "it", new, version)
    assert before == old.as_value()
    assert after == {
        "text": "Ecco cosa posso fare (nuovo)!",
        "buttons": [["🎓 Corsi", "/ask_trainings"]],
    }
    with pytest.raises(Conflict):
        store.save("utter_help", "it", Variation("again"), version)
    domain = yaml.safe_load(
        next(
            p for p in (project / "domain").glob("*.yml") if "utter_help:" in p.read_text()
        ).read_text()
    )
    italian = [
        item for item in domain["responses"]["utter_help"]
        if (item.get("condition") or [{}])[0].get("value") == "it"
    ]  # fmt: skip
    assert italian == [
        {
            "condition": [{"type": "slot", "name": "language", "value": "it"}],
            "text": "Ecco cosa posso fare (nuovo)!",
            "buttons": [{"title": "🎓 Corsi", "payload": "/ask_trainings"}],
        }
    ]
    with pytest.raises(StudioError, match="title \\| /payload"):
        parse_buttons("no separator")


# --- the pages ------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path, project: Path) -> Iterator[TestClient]:
    settings = Settings(
        _env_file=None, var_dir=tmp_path, rasa_port=1, rasa_project_dir=project,
        rasa_token=SecretStr("t" * 32),
        secret_key=SecretStr("studio-key-0123456789abcdefghijklmnop"),
    )  # fmt: skip
    app = create_app(settings)
    with session_factory(settings.database_url).begin() as session:
        create_user(session, "boss", "admin", PASSWORD)
        create_user(session, "carla", "coach", PASSWORD)
    engine = create_engine(settings.tracker_store_url)
    EVENTS.metadata.create_all(engine)
    data = {
        "event": "user", "text": "posso lavorare come bagnino?",
        "parse_data": {"intent": {"name": "ask_programme", "confidence": 0.4}, "entities": []},
        "metadata": {"language": "it"},
    }  # fmt: skip
    with engine.begin() as connection:
        connection.execute(
            insert(EVENTS),
            [{"id": 1, "sender_id": "tg-s1", "type_name": "user", "timestamp": 1.7e9,
              "intent_name": "ask_programme", "action_name": None, "data": json.dumps(data)}],
        )  # fmt: skip
    with TestClient(app) as test_client:
        yield test_client


def test_studio_pages_save_audit_and_refuse_a_stale_form(client: TestClient, project: Path) -> None:
    token = sign_in(client, "boss", PASSWORD)
    page = client.get("/admin/intents/ask_jobs").text
    stale = version_on(page, "it")
    examples = NluStore(project, SUPPORTED_LANGUAGES).examples("ask_jobs", "it")
    saved = client.post(
        "/admin/intents/ask_jobs/examples",
        data={"csrf_token": token, "language": "it", "version": stale,
              "examples": "\n".join([*examples, "faccio il bagnino d'estate"])},
    )  # fmt: skip
    assert "Saved the it examples of ask_jobs: 1 added, 0 removed." in saved.text
    refused = client.post(
        "/admin/intents/ask_jobs/examples",
        data={"csrf_token": token, "language": "it", "version": stale, "examples": "ciao"},
    )
    assert "Someone else changed the it examples of ask_jobs" in refused.text
    # refused: the same page, the text typed still in the box, the reason at its form
    assert refused.status_code == 409 and ">ciao</textarea>" in refused.text
    assert "Saved." in client.get("/admin/intents/ask_jobs?saved=it").text
    assert NluStore(project, SUPPORTED_LANGUAGES).examples("ask_jobs", "it")[-1] == (
        "faccio il bagnino d'estate"
    )
    response_page = client.get("/admin/responses/utter_help").text
    client.post(
        "/admin/responses/utter_help",
        data={"csrf_token": token, "language": "sl", "version": version_on(response_page, "sl"),
              "text": "Pomagam ti najti tečaje in delo.", "buttons": ""},
    )  # fmt: skip
    audit = client.get("/admin/audit").text
    assert "examples.save" in audit and "ask_jobs [it]" in audit and "utter_help [sl]" in audit
    # Filtered: by kind of change (a group matches its actions), by account, by words
    only = client.get("/admin/audit?action=response").text
    assert "utter_help [sl]" in only and "ask_jobs [it]" not in only and "1 change." in only
    assert "ask_jobs [it]" in client.get("/admin/audit?q=ask_jobs&who=boss").text
    assert "No change yet." in client.get("/admin/audit?who=nobody").text
    with session_factory(client.app.state.settings.database_url).begin() as session:  # type: ignore[attr-defined]
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        assert [(e.username, e.action, e.target) for e in entries] == [
            ("boss", "examples.save", "ask_jobs [it]"),
            ("boss", "response.save", "utter_help [sl]"),
        ]
        assert json.loads(entries[0].after)[-1] == "faccio il bagnino d'estate"  # type: ignore[arg-type]


def test_a_coach_proposes_an_intent_and_an_admin_accepts_it(
    client: TestClient, project: Path
) -> None:
    token = sign_in(client, "carla", PASSWORD)
    assert client.get("/admin/intents").status_code == 403
    form = {"csrf_token": token, "event_id": "1", "intent": "ask_jobs"}
    proposed = client.post("/conversations/tg-s1/annotations", data=form)
    assert "meant ask_jobs. An admin will review it." in proposed.text
    client.post("/logout", data={"csrf_token": token})
    token = sign_in(client, "boss", PASSWORD)
    queue = client.get("/admin/annotations").text
    assert "posso lavorare come bagnino?" in queue
    annotation_id = re.search(r"/admin/annotations/(\d+)/accept", queue).group(1)  # type: ignore[union-attr]
    client.post(f"/admin/annotations/{annotation_id}/accept", data={"csrf_token": token})
    assert NluStore(project, SUPPORTED_LANGUAGES).examples("ask_jobs", "it")[-1] == (
        "posso lavorare come bagnino?"
    )
    again = client.post(f"/admin/annotations/{annotation_id}/reject", data={"csrf_token": token})
    assert "already decided" in again.text
    with session_factory(client.app.state.settings.database_url).begin() as session:  # type: ignore[attr-defined]
        assert session.scalar(select(Annotation.status)) == "accepted"


def test_topic_words_per_language_one_topic_per_word(
    tmp_path: Path, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = tmp_path / "topics.yml"
    shutil.copy(TOPICS_FILE, topics)
    monkeypatch.setattr(deps, "TOPICS_FILE", topics)
    token = sign_in(client, "boss", PASSWORD)
    page = client.get("/admin/topics/digital").text
    words = TopicStore(topics, SUPPORTED_LANGUAGES).topics()["digital"]["it"]
    form = {"csrf_token": token, "language": "it", "version": version_on(page, "it")}
    taken = client.post(
        "/admin/topics/digital", data={**form, "words": "\n".join([*words, "turismo"])}
    )
    assert '"turismo" is already a word of the topic tourism_hospitality.' in html.unescape(
        taken.text
    )
    saved = client.post(
        "/admin/topics/digital", data={**form, "words": "\n".join([*words, "Cloud  Computing"])}
    )
    assert "Saved the it words of digital." in saved.text
    assert (
        TopicStore(topics, SUPPORTED_LANGUAGES).topics()["digital"]["it"][-1] == "cloud computing"
    )
    stale = client.post("/admin/topics/digital", data={**form, "words": "informatica"})
    assert "Someone else changed the it words of digital" in stale.text
    assert TOPICS_FILE.read_text(encoding="utf-8") != topics.read_text(encoding="utf-8")
    assert "cloud computing" not in TOPICS_FILE.read_text(encoding="utf-8")  # the repo's untouched


def test_scores_are_accuracy_and_macro_f1() -> None:
    gold = ["greet", "greet", "ask_jobs", "ask_jobs"]
    predicted = ["greet", "ask_jobs", "ask_jobs", "ask_jobs"]
    result = scores(gold, predicted)
    assert result["accuracy"] == 0.75 and result["n"] == 4
    # greet: precision 1, recall 0.5 → F1 2/3; ask_jobs: precision 2/3, recall 1 → F1 0.8
    assert result["f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_the_models_page_says_when_the_data_changed_since_the_live_model(
    client: TestClient, project: Path
) -> None:
    from connectors.rasa.studio import jobs
    from connectors.rasa.training import model_hash

    settings = client.app.state.settings  # type: ignore[attr-defined]
    live = project / "models" / f"{model_hash(project, settings.training_config)}.tar.gz"
    with session_factory(settings.database_url).begin() as session:
        jobs.register_live(session, live)
    sign_in(client, "boss", PASSWORD)
    assert 'id="data-changed"' not in client.get("/admin/models").text  # trained on this data
    examples = project / "data" / "nlu" / "it"
    target = next(examples.glob("*.yml"))
    target.write_text(target.read_text("utf-8") + "\n# an admin's edit\n", "utf-8")
    page = client.get("/admin/models").text
    assert "changed since the live model was trained: train a new model" in page
