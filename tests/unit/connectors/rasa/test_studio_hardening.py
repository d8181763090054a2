"""The studio never writes a YAML file that Rasa, the pages or the config loaders cannot read
back as meant: characters YAML cannot hold are refused with a reason (examples, responses,
topic words, accepted annotations, labelled misunderstood messages); every write is checked
before it replaces the file, and a failed one leaves the old file as it was; topic words keep
their type; and a transcript with odd characters from the tracker store still renders."""

from __future__ import annotations

import datetime as dt
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
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from sqlalchemy import create_engine, insert, select

from bot.db.models import Annotation, Misunderstood
from bot.db.session import session_factory
from bot.services.users import create_user
from bot.settings import ROOT, SUPPORTED_LANGUAGES, Settings
from connectors.rasa.events import EVENTS
from connectors.rasa.studio import yamlio
from connectors.rasa.studio.nlu import NluStore, StudioError
from connectors.rasa.studio.responses import ResponseStore, Variation
from connectors.rasa.studio.topics import TOPICS_FILE, TopicStore
from dashboard import deps
from dashboard.app import create_app
from tests.conftest import sign_in, version_on

PASSWORD = "studio password 1"

# Characters no YAML file can hold (or that a reader turns into something else), each one the
# studio must refuse. Whitespace controls (\x0b, \x1c, \x85, ...) are not here: an example or a
# word has its whitespace collapsed to single spaces before it is checked.
UNWRITABLE = ["\x00", "\x01", "\x08", "\x1b", "\x7f", "\x80", "\x9f", "\ud800", "\ufffe", "\uffff"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, byte for byte (temporary files included)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def rasa_read(path: Path) -> object:
    """What Rasa 3.6's `read_yaml` makes of a file (ruamel's safe loader, YAML 1.2)."""
    reader = YAML(typ="safe")
    reader.version = (1, 2)
    return reader.load(path.read_text(encoding="utf-8"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    target = tmp_path / "rasa_project"
    shutil.copytree(ROOT / "rasa_project", target, ignore=shutil.ignore_patterns(".rasa", "models"))
    return target


@pytest.fixture
def topics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of config/topics.yml, which the topic pages edit instead of the repository's."""
    path = tmp_path / "topics.yml"
    shutil.copy(TOPICS_FILE, path)
    monkeypatch.setattr(deps, "TOPICS_FILE", path)
    return path


@pytest.fixture
def settings(tmp_path: Path, project: Path) -> Settings:
    return Settings(
        _env_file=None, var_dir=tmp_path, rasa_port=1, rasa_project_dir=project,
        rasa_token=SecretStr("t" * 32),
        secret_key=SecretStr("studio-key-0123456789abcdefghijklmnop"),
    )  # fmt: skip


def user_event(text: str, intent: str = "ask_programme") -> str:
    return json.dumps(
        {
            "event": "user",
            "text": text,
            "metadata": {"language": "it"},
            "parse_data": {"intent": {"name": intent, "confidence": 0.4}, "entities": []},
        }  # fmt: skip
    )


# Tracker events: sender, type, JSON data (as Rasa stores them).
EVENT_ROWS = [
    ("tg-s1", "user", user_event("posso lavorare come bagnino?")),
    ("tg-s2", "user", user_event("cerco\x01 lavoro\x7f a \x9fRoma")),
    ("tg-s3", "user", '{"event": "user", "text": "ciao \\ud800 a tutti", "metadata": {}}'),
    (
        "tg-s3",
        "bot",
        '{"event": "bot", "text": "Ciao \\udfff\\u0000!", "data": {"buttons": '
        '[{"title": "ok\\ud83d", "payload": "/ok"}]}}',
    ),  # fmt: skip
]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with session_factory(settings.database_url).begin() as session:
        create_user(session, "boss", "admin", PASSWORD)
        create_user(session, "carla", "coach", PASSWORD)
    engine = create_engine(settings.tracker_store_url)
    EVENTS.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(EVENTS),
            [
                {"id": number, "sender_id": sender, "type_name": kind, "timestamp": 1.7e9 + number,
                 "intent_name": None, "action_name": None, "data": data}
                for number, (sender, kind, data) in enumerate(EVENT_ROWS, start=1)
            ],
        )  # fmt: skip
    with TestClient(app) as test_client:
        yield test_client


def assert_readable(project: Path) -> None:
    """Every NLU and domain file loads with PyYAML (the pages) and as Rasa reads it."""
    for path in [*(project / "data" / "nlu").rglob("*.yml"), *(project / "domain").glob("*.yml")]:
        yaml.safe_load(path.read_text(encoding="utf-8"))
        rasa_read(path)


# --- 1. characters YAML cannot hold -----------------------------------------------------------


def test_an_example_with_an_unwritable_character_is_refused(project: Path) -> None:
    store = NluStore(project, SUPPORTED_LANGUAGES)
    before = snapshot(project)
    examples = store.examples("ask_jobs", "en")
    for character in UNWRITABLE:
        code = f"U\\+{ord(character):04X}"
        with pytest.raises(
            StudioError, match=rf'Example {len(examples) + 1} \("bad.one"\) .*{code}'
        ):
            store.save(
                "ask_jobs", "en", [*examples, f"bad{character}one"], store.version("ask_jobs", "en")
            )
    assert snapshot(project) == before
    assert store.examples("ask_jobs", "en") == examples
    assert_readable(project)


def test_the_examples_form_refuses_a_control_character_and_the_pages_keep_working(
    client: TestClient, project: Path
) -> None:
    token = sign_in(client, "boss", PASSWORD)
    page = client.get("/admin/intents/ask_jobs").text
    examples = NluStore(project, SUPPORTED_LANGUAGES).examples("ask_jobs", "it")
    before = snapshot(project)
    refused = client.post(
        "/admin/intents/ask_jobs/examples",
        data={"csrf_token": token, "language": "it", "version": version_on(page, "it"),
              "examples": "\n".join([*examples, "cerco lavoro\x01 a Roma"])},
    )  # fmt: skip
    assert refused.status_code == 400  # the page again, with the reason at the form
    assert "U+0001" in refused.text and "control character" in html.unescape(refused.text)
    assert "cerco lavoro\ufffd a Roma" in refused.text  # the typed text, kept
    assert snapshot(project) == before
    assert client.get("/admin/intents").status_code == 200
    assert client.get("/admin/intents/ask_jobs").status_code == 200
    assert client.get("/conversations/tg-s1").status_code == 200
    assert NluStore(project, SUPPORTED_LANGUAGES).examples("ask_jobs", "it") == examples
    assert_readable(project)


def test_a_response_with_an_unwritable_character_is_refused(project: Path) -> None:
    store = ResponseStore(project, SUPPORTED_LANGUAGES)
    before = snapshot(project)
    version = store.version("utter_help", "it")
    for character in UNWRITABLE:
        code = f"U\\+{ord(character):04X}"
        with pytest.raises(StudioError, match=rf"The text contains .*{code}"):
            store.save("utter_help", "it", Variation(f"Ciao{character}!"), version)
        buttons = [("Corsi", "/ask_trainings"), ("Lavoro", f"/ask_jobs{character}")]
        with pytest.raises(StudioError, match=rf"Button 2 contains .*{code}"):
            store.save("utter_help", "it", Variation("Ciao!", buttons), version)
    assert snapshot(project) == before
    assert_readable(project)


def test_a_response_keeps_tabs_newlines_and_emoji(project: Path) -> None:
    store = ResponseStore(project, SUPPORTED_LANGUAGES)
    text = "Ciao!\tEcco:\n\n• corsi 🎓\r\n• lavoro\u2028fine"
    store.save("utter_help", "it", Variation(text), store.version("utter_help", "it"))
    meant = text.replace("\r\n", "\n")
    assert store.variations("utter_help")["it"].text == meant
    domain = next(p for p in (project / "domain").glob("*.yml") if "utter_help:" in p.read_text())
    for document in (yaml.safe_load(domain.read_text(encoding="utf-8")), rasa_read(domain)):
        italian = [
            item["text"] for item in document["responses"]["utter_help"]  # type: ignore[index]
            if (item.get("condition") or [{}])[0].get("value") == "it"
        ]  # fmt: skip
        assert italian == [meant]


def test_a_topic_word_with_an_unwritable_character_is_refused(topics: Path) -> None:
    store = TopicStore(topics, SUPPORTED_LANGUAGES)
    before = topics.read_bytes()
    words = store.topics()["digital"]["it"]
    version = store.version("digital", "it")
    for character in UNWRITABLE:
        code = f"U\\+{ord(character):04X}"
        with pytest.raises(StudioError, match=rf'"cloud.x" contains .*{code}'):
            store.save("digital", "it", [*words, f"cloud{character}x"], version)
    assert topics.read_bytes() == before
    assert [p.name for p in topics.parent.glob(".topics.yml*")] == []


def test_the_topic_form_shows_the_reason(client: TestClient, topics: Path) -> None:
    token = sign_in(client, "boss", PASSWORD)
    page = client.get("/admin/topics/digital").text
    before = topics.read_bytes()
    refused = client.post(
        "/admin/topics/digital",
        data={"csrf_token": token, "language": "it", "version": version_on(page, "it"),
              "words": "informatica\ncloud\x1bcomputing"},
    )  # fmt: skip
    assert "U+001B" in refused.text
    assert topics.read_bytes() == before


def test_accepting_an_annotation_with_a_control_character_is_refused(
    client: TestClient, project: Path, settings: Settings
) -> None:
    with session_factory(settings.database_url).begin() as session:
        session.add(
            Annotation(
                sender_id="tg-s2", event_id=2, text="cerco\x01 lavoro a Roma", language="it",
                predicted="ask_programme", intent="ask_jobs", status="proposed",
                proposed_by="carla", proposed_at=dt.datetime.now(dt.UTC),
            )
        )  # fmt: skip
    token = sign_in(client, "boss", PASSWORD)
    queue = client.get("/admin/annotations").text
    annotation_id = re.search(r"/admin/annotations/(\d+)/accept", queue).group(1)  # type: ignore[union-attr]
    before = snapshot(project)
    answer = client.post(f"/admin/annotations/{annotation_id}/accept", data={"csrf_token": token})
    assert answer.status_code == 200 and "U+0001" in answer.text
    assert snapshot(project) == before
    with session_factory(settings.database_url).begin() as session:
        assert session.scalar(select(Annotation.status)) == "proposed"
    assert client.get("/conversations/tg-s2").status_code == 200


def test_labelling_a_misunderstood_message_with_a_control_character_is_refused(
    client: TestClient, project: Path, settings: Settings
) -> None:
    with session_factory(settings.database_url).begin() as session:
        row = Misunderstood(
            sender_id="tg-s2", event_id=99, text="cerco\x7f lavoro", language="it",
            intent="nlu_fallback", confidence=0.2, at=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        session.add(row)
        session.flush()
        message_id = row.id
    token = sign_in(client, "boss", PASSWORD)
    before = snapshot(project)
    answer = client.post(
        f"/admin/misunderstood/{message_id}/label",
        data={"csrf_token": token, "intent": "ask_jobs", "language": "it"},
    )
    assert answer.status_code == 200 and "U+007F" in answer.text
    assert snapshot(project) == before
    with session_factory(settings.database_url).begin() as session:
        assert session.get(Misunderstood, message_id).status == "waiting"  # type: ignore[union-attr]


# --- every write checked before it replaces the file ------------------------------------------


def test_a_write_that_would_not_read_back_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "data.yml"
    path.write_text("words: [ok]\n", encoding="utf-8")
    for meant in (
        CommentedMap({"words": ["yes"]}),  # PyYAML would read a boolean
        CommentedMap({"words": [yamlio.examples_block(["a\x01b"])]}),  # no YAML holds \x01
        CommentedMap({"words": ["a\ud800b"]}),  # not even UTF-8
    ):
        with pytest.raises(StudioError, match="data.yml"):
            yamlio.write(path, meant)
        assert path.read_text(encoding="utf-8") == "words: [ok]\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["data.yml"]  # no temporary left
    yamlio.write(path, CommentedMap({"words": ["fine", "also fine"]}))
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == {"words": ["fine", "also fine"]}


def test_a_failed_replace_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.yml"
    path.write_text("words: [ok]\n", encoding="utf-8")

    def broken(source: str, target: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(yamlio.os, "replace", broken)
    with pytest.raises(StudioError, match="data.yml"):
        yamlio.write(path, CommentedMap({"words": ["new"]}))
    assert path.read_text(encoding="utf-8") == "words: [ok]\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.yml"]


def test_an_example_rasa_would_read_differently_is_refused(project: Path) -> None:
    """Rasa decodes \\u escapes in an all-ASCII file: the example would train as other text."""
    store = NluStore(project, SUPPORTED_LANGUAGES)
    store.add_intent("ask_paths")
    before = snapshot(project)
    with pytest.raises(StudioError, match="nothing was saved"):
        store.save("ask_paths", "en", ["open c:\\users\\me"], store.version("ask_paths", "en"))
    assert snapshot(project) == before


# --- 2. topic words keep their type -----------------------------------------------------------

TRICKY = [
    "yes", "no", "on", "off", "y", "n", "true", "false", "null", "~", "? q", "1e3", "1.5",
    "0x1f", "012", "1_000", "2024-01-01", "12:30", "- x", "#tag", "a: b", "[x]", "{x}", "*a",
    "&a", "!x", "%x", "@x", "`x", "'q", '"q', "x #y", "a, b", ".inf", ".nan", "=", "<<", "| x",
    "> x", "nan", "c++", "l'informatica", "sì", "no-code",
]  # fmt: skip


def test_topic_words_read_back_as_the_same_strings(topics: Path) -> None:
    store = TopicStore(topics, SUPPORTED_LANGUAGES)
    others = yaml.safe_load(topics.read_text(encoding="utf-8"))["topics"]["green"]
    _, after = store.save("digital", "en", TRICKY, store.version("digital", "en"))
    assert after == TRICKY
    plain = yaml.safe_load(topics.read_text(encoding="utf-8"))
    assert plain["topics"]["digital"]["synonyms"]["en"] == TRICKY
    assert rasa_read(topics)["topics"]["digital"]["synonyms"]["en"] == TRICKY  # type: ignore[index]
    assert TopicStore(topics, SUPPORTED_LANGUAGES).topics()["digital"]["en"] == TRICKY
    assert plain["topics"]["green"] == others  # the rest as it was
    assert "informatica, programmazione, computer" in topics.read_text(encoding="utf-8")


# --- 3. transcripts with odd characters from the tracker store --------------------------------


def test_transcripts_with_control_characters_and_lone_surrogates_render(
    client: TestClient,
) -> None:
    sign_in(client, "carla", PASSWORD)
    for sender in ("tg-s2", "tg-s3"):
        page = client.get(f"/conversations/{sender}")
        assert page.status_code == 200
        live = client.get(f"/conversations/{sender}/events.json")
        assert live.status_code == 200
    page = client.get("/conversations/tg-s3").text
    assert "ciao \ufffd a tutti" in page and "Ciao \ufffd" in page
    assert "cerco" in client.get("/conversations/tg-s2").text
    exported = client.get("/conversations/export.json")
    assert exported.status_code == 200 and "a tutti" in exported.text


def test_a_validation_shows_the_datas_problems_not_pythons_warnings_or_server_paths() -> None:
    from bot.config import ROOT
    from connectors.rasa.studio.jobs import failure_output

    output = (
        "/opt/venv/lib/python3.10/site-packages/rasa/io.py:99: DeprecationWarning: old\n"
        "  import pkg_resources\n"
        f"ERROR rasa.cli - Failed to read {ROOT}/rasa_project/data/nlu/en/x.yml: bad\n"
        'File "/srv/elsewhere/actions/a.py", line 3'
    )
    assert failure_output(0, output) == ""  # it passed: "No problems found", nothing under it
    shown = failure_output(1, output)
    assert shown == (
        'ERROR rasa.cli - Failed to read rasa_project/data/nlu/en/x.yml: bad\nFile "a.py", line 3'
    )


def test_the_training_progress_grows_through_every_stage_not_only_during_epochs() -> None:
    from connectors.rasa.studio.jobs import Progress

    follow = Progress(4)
    seen = []
    for line in (
        "INFO rasa - Starting to train component 'WhitespaceTokenizer'",
        "INFO rasa - Starting to train component 'CountVectorsFeaturizer'",
        "INFO rasa - Restored component 'RegexFeaturizer'",
        "INFO rasa - Starting to train component 'DIETClassifier'",
        "Epochs:  50%|█████     | 50/100",
        "Epochs: 100%|██████████| 100/100",
    ):
        follow.feed(line)
        seen.append(follow.progress)
    assert seen == sorted(seen) and seen[0] == 0.0 and 0 < seen[1] < seen[-1] <= 0.99
    assert seen[-2] == 0.875 and seen[-1] == 0.99  # step 4 of 4, half and all of its epochs
    assert follow.stage == "Training DIETClassifier (step 4 of about 4)"
    follow.feed("INFO rasa - Starting to train component 'TEDPolicy'")  # more than expected
    assert follow.total == 5 and follow.progress == 0.8


def test_a_bad_example_is_named_by_its_line_and_its_words(project: Path) -> None:
    store = NluStore(project, SUPPORTED_LANGUAGES)
    with pytest.raises(StudioError, match=r'Example 3 \("cerco lavoro a \[Roma"\) has an unclosed'):
        store.check_examples(["cerco lavoro", "", "cerco lavoro a [Roma"])
