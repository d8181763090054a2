"""The studio's messages: every text the actions and the connector write, edited per language
on a copy of config/messages/, checked (fields, braces, stale forms, characters YAML cannot
hold), audited, and used by the processes from the next message on."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from bot import messages
from bot.db.models import AuditEntry
from bot.db.session import session_factory
from bot.services.users import create_user
from bot.settings import SUPPORTED_LANGUAGES, Settings
from connectors.rasa.studio.messages import MessageStore
from connectors.rasa.studio.nlu import Conflict, StudioError
from dashboard import message_routes
from dashboard.app import create_app
from tests.conftest import sign_in, version_on

PASSWORD = "messages password 1"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "messages"
    shutil.copytree(messages.MESSAGES_DIR, target)
    return target


def test_a_saved_text_is_what_the_assistant_says_next(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages, "MESSAGES_DIR", folder)
    store = MessageStore(folder, SUPPORTED_LANGUAGES)
    assert messages.text("page_of", "it", page=2, pages=3) == "Pagina 2 di 3."
    comments = [line for line in (folder / "it.yml").read_text().splitlines() if line[:1] == "#"]
    before, after = store.save(
        "page_of", "it", "  Pagina {page} su {pages} 📄 ", store.version("page_of", "it")
    )
    assert (before, after) == ("Pagina {page} di {pages}.", "Pagina {page} su {pages} 📄")
    assert messages.text("page_of", "it", page=2, pages=3) == "Pagina 2 su 3 📄"
    # The file stays the one people and git read: comments kept, plain YAML.
    it = (folder / "it.yml").read_text()
    assert [line for line in it.splitlines() if line[:1] == "#"] == comments
    assert yaml.safe_load(it)["page_of"] == "Pagina {page} su {pages} 📄"
    # A nested key, and a language that lacked a text gets one.
    key = "kind_plural.job"
    store.save(key, "sl", "delovna mesta", store.version(key, "sl"))
    assert messages.text(key, "sl") == "delovna mesta"


def test_a_save_that_would_break_a_message_is_refused(folder: Path) -> None:
    store = MessageStore(folder, SUPPORTED_LANGUAGES)
    original = (folder / "fr.yml").read_text()
    version = store.version("results_header", "fr")
    refusals = {
        "Voici {shown} {kinds}:": "same fields as the English one",  # {total} ... dropped
        "Voici {shown} sur {total} {kinds}{about}{where} {name}:": "same fields",  # one added
        "Voici {shown sur {total}": "brace does not pair",
        "Voici\x01 {shown} sur {total} {kinds}{about}{where}:": "control character",
        "   ": "empty",
    }
    for text, reason in refusals.items():
        with pytest.raises(StudioError, match=reason):
            store.save("results_header", "fr", text, version)
    with pytest.raises(StudioError, match="no message"):
        store.save("no_such_key", "fr", "x", version)
    with pytest.raises(StudioError, match="not a language"):
        store.save("results_header", "xx", "x", version)
    assert (folder / "fr.yml").read_text() == original
    store.save("results_header", "fr", "{shown}/{total} {kinds}{about}{where} :", version)
    with pytest.raises(Conflict, match="Someone else changed the fr text of results_header"):
        store.save("results_header", "fr", "{shown} de {total} {kinds}{about}{where}:", version)


@pytest.fixture
def client(tmp_path: Path, folder: Path) -> Iterator[TestClient]:
    settings = Settings(
        _env_file=None, var_dir=tmp_path, rasa_port=1, rasa_token=SecretStr("t" * 32),
        secret_key=SecretStr("messages-key-0123456789abcdefghijklm"),
    )  # fmt: skip
    app = create_app(settings)
    app.dependency_overrides[message_routes.message_store] = lambda: MessageStore(
        folder, SUPPORTED_LANGUAGES
    )
    with session_factory(settings.database_url).begin() as session:
        create_user(session, "boss", "admin", PASSWORD)
        create_user(session, "carla", "coach", PASSWORD)
    with TestClient(app) as test_client:
        yield test_client


def test_admins_edit_messages_in_the_studio_coaches_may_not(
    client: TestClient, folder: Path
) -> None:
    token = sign_in(client, "carla", PASSWORD)
    assert client.get("/admin/messages").status_code == 403
    refused = client.post(
        "/admin/messages/page_of", data={"csrf_token": token, "language": "it", "text": "x"}
    )
    assert refused.status_code == 403
    client.post("/logout", data={"csrf_token": token})
    token = sign_in(client, "boss", PASSWORD)
    listing = client.get("/admin/messages?q=page")
    assert listing.status_code == 200 and "page_of" in listing.text
    assert "results_header" not in listing.text  # not matching the search
    page = client.get("/admin/messages/page_of").text
    version = version_on(page, "hr")
    saved = client.post(
        "/admin/messages/page_of",
        data={"csrf_token": token, "language": "hr", "version": version,
              "text": "Stranica {page} od {pages}!"},
    )  # fmt: skip
    assert "Saved the hr text of page_of" in saved.text
    assert (
        yaml.safe_load((folder / "hr.yml").read_text())["page_of"] == "Stranica {page} od {pages}!"
    )
    broken = client.post(
        "/admin/messages/page_of",
        data={"csrf_token": token, "language": "hr", "version": version, "text": "Stranica"},
    )
    assert "same fields as the English one" in broken.text
    assert client.get("/admin/messages/no_such_key").status_code == 404
    assert "notice_version" in client.get("/admin/messages/consent_notice").text
    assert "notice_version" not in client.get("/admin/messages/page_of").text
    with session_factory(client.app.state.settings.database_url).begin() as session:  # type: ignore[attr-defined]
        entries = list(session.scalars(select(AuditEntry)))
        assert [(e.username, e.action, e.target) for e in entries] == [
            ("boss", "message.save", "page_of [hr]")
        ]
