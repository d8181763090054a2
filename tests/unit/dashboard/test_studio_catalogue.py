"""The catalogue in the studio: create (alerts queued for matching subscribers), edit with a
refused stale form, unpublish, CSV import previewed then committed (all or nothing), export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.db.models import AlertDelivery, AuditEntry, ImportPreview, Opportunity, User
from bot.db.session import session_factory
from bot.services import alerts, catalogue_admin, people
from bot.services.catalogue_csv import COLUMNS
from bot.services.users import create_user
from bot.settings import Settings
from dashboard.app import create_app
from tests.conftest import catalogue_csv, opportunity_row

PASSWORD = "catalogue admin 1"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        _env_file=None, var_dir=tmp_path, rasa_port=1, rasa_token=SecretStr("t" * 32),
        secret_key=SecretStr("catalogue-key-0123456789abcdefghijklm"),
    )  # fmt: skip
    app = create_app(settings)
    with session_factory(settings.database_url).begin() as session:
        create_user(session, "boss", "admin", PASSWORD)
        person = people.give_consent(session, "tg-sub", "1")
        person.telegram_chat_id = 99
        alerts.subscribe(session, person, "training", ["digital"], None)
    with TestClient(app) as test_client:
        page = test_client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        test_client.post(
            "/login", data={"username": "boss", "password": PASSWORD, "csrf_token": token}
        )
        yield test_client


def csrf(client: TestClient, path: str = "/admin/catalogue") -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def database(client: TestClient):  # type: ignore[no-untyped-def]
    return session_factory(client.app.state.settings.database_url)  # type: ignore[attr-defined]


def form(token: str, **fields: str) -> dict[str, str | list[str]]:
    """The opportunity form as a browser sends it (topics as several checkboxes)."""
    row = opportunity_row(**fields)
    values: dict[str, str | list[str]] = {n: row[n] for n in COLUMNS if n != "topics"}
    values["topics"] = row["topics"].split(";")
    values["csrf_token"] = token
    return values


def test_create_queues_alerts_and_bad_input_is_explained(client: TestClient) -> None:
    token = csrf(client, "/admin/catalogue/new")
    bad = client.post("/admin/catalogue/new", data=form(token, country="Croatia", min_age="x"))
    assert bad.status_code == 422
    # Plain words at each field, not the validator's ("String should match pattern ...")
    assert "Not saved: 2 fields to correct, marked below." in bad.text
    country = bad.text.split('name="country"')[1].split("</label>")[0]
    assert "Two letters of the country&#39;s code, such as IT, HR or TN." in country
    age = bad.text.split('name="min_age"')[1].split("</label>")[0]
    assert "Write a whole number, such as 18." in age
    assert "should match pattern" not in bad.text and 'value="Croatia"' in bad.text
    unknown = client.post("/admin/catalogue/new", data=form(token, country="XX")).text
    assert "XX is not a country code: use two letters such as IT, HR or TN" in unknown
    created = client.post("/admin/catalogue/new", data=form(token))
    assert "Published. 1 alert(s) queued for subscribers." in created.text
    again = client.post("/admin/catalogue/new", data=form(token))
    assert "exists already" in again.text
    with database(client).begin() as session:
        assert session.scalar(select(func.count(Opportunity.id))) == 1
        assert session.scalar(select(func.count(AlertDelivery.id))) == 1
        assert session.scalar(select(AuditEntry.action)) == "catalogue.create"


def test_edit_refuses_a_stale_form_and_unpublish_hides(client: TestClient) -> None:
    token = csrf(client, "/admin/catalogue/new")
    client.post("/admin/catalogue/new", data=form(token))
    with database(client).begin() as session:
        item_id = session.scalar(select(Opportunity.id))
    page = client.get(f"/admin/catalogue/{item_id}").text
    version = re.search(r'name="version" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    saved = client.post(
        f"/admin/catalogue/{item_id}",
        data={**form(token, title="Web bootcamp 2"), "version": version},
    )
    assert "Saved." in saved.text
    stale = client.post(
        f"/admin/catalogue/{item_id}",
        data={**form(token, title="Someone else's title"), "version": version},
    )
    assert stale.status_code == 409 and "Someone else changed this opportunity" in stale.text
    assert 'value="Web bootcamp 2"' in stale.text  # the stored version is shown
    client.post(f"/admin/catalogue/{item_id}/unpublish", data={"csrf_token": token})
    with database(client).begin() as session:
        item = session.get(Opportunity, item_id)
        assert item is not None and item.title == "Web bootcamp 2" and not item.published
        country = item.country
    # The list filters by status and country
    assert "Web bootcamp 2" in client.get("/admin/catalogue?status=unpublished").text
    assert "Web bootcamp 2" not in client.get("/admin/catalogue?status=published").text
    assert "Web bootcamp 2" in client.get(f"/admin/catalogue?country={country}").text
    other = "IT" if country != "IT" else "HR"
    assert "0 opportunities." in client.get(f"/admin/catalogue?country={other}").text


def test_import_is_previewed_then_committed_all_or_nothing(client: TestClient) -> None:
    token = csrf(client)
    broken = catalogue_csv(opportunity_row(), opportunity_row(title="Other", cost_eur="free"))
    preview = client.post(
        "/admin/catalogue/import", data={"csrf_token": token},
        files={"file": ("broken.csv", broken.encode(), "text/csv")},
    )  # fmt: skip
    assert "Nothing can be imported: 1 problem(s)" in preview.text
    assert "line 3: cost_eur" in preview.text
    good = catalogue_csv(opportunity_row(), opportunity_row(title="Data analyst course"))
    preview = client.post(
        "/admin/catalogue/import", data={"csrf_token": token},
        files={"file": ("good.csv", good.encode(), "text/csv")},
    )  # fmt: skip
    assert "2 new and 0 updated opportunities" in preview.text
    with database(client).begin() as session:
        assert session.scalar(select(func.count(Opportunity.id))) == 0  # nothing written yet
    import_token = re.search(r'name="token" value="([^"]+)"', preview.text).group(1)  # type: ignore[union-attr]
    done = client.post(
        "/admin/catalogue/import/confirm",
        data={"csrf_token": token, "token": import_token, "filename": "good.csv"},
    )
    assert "Imported: 2 new, 0 updated; 2 alert(s) queued for subscribers." in done.text
    replay = client.post(
        "/admin/catalogue/import/confirm", data={"csrf_token": token, "token": import_token}
    )
    assert "That preview has expired" in replay.text
    exported = list(csv.DictReader(io.StringIO(client.get("/admin/catalogue/export.csv").text)))
    assert sorted(row["title"] for row in exported) == [
        "Data analyst course",
        "Web development bootcamp",
    ]
    # The same file again, with one row changed: the preview says which, and what changes
    changed = catalogue_csv(
        opportunity_row(), opportunity_row(title="Data analyst course", cost_eur="120")
    )
    again = client.post(
        "/admin/catalogue/import", data={"csrf_token": token},
        files={"file": ("changed.csv", changed.encode(), "text/csv")},
    ).text  # fmt: skip
    lines = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td>", again)
    assert lines == [("2", "no change"), ("3", "changes cost_eur")]
    latin1 = client.post(
        "/admin/catalogue/import", data={"csrf_token": token},
        files={"file": ("latin.csv", "kind,title\ntraining,Caf\xe9".encode("latin-1"), "text/csv")},
    )  # fmt: skip
    assert "not UTF-8" in latin1.text


def test_an_import_previewed_on_one_dashboard_is_confirmed_on_another(
    client: TestClient, tmp_path: Path
) -> None:
    """Several dashboard replicas: the previewed file waits in the database, not on the disk of
    the replica that took the upload."""
    token = csrf(client)
    good = catalogue_csv(opportunity_row(title="Data analyst course"))
    preview = client.post(
        "/admin/catalogue/import", data={"csrf_token": token},
        files={"file": ("good.csv", good.encode(), "text/csv")},
    )  # fmt: skip
    import_token = re.search(r'name="token" value="([^"]+)"', preview.text).group(1)  # type: ignore[union-attr]
    assert not list(tmp_path.rglob("*.csv"))  # nothing on this replica's disk
    first: Settings = client.app.state.settings  # type: ignore[attr-defined]
    other = Settings(
        _env_file=None, var_dir=tmp_path / "replica-2", database_url=first.database_url,
        rasa_port=1, rasa_token=SecretStr("t" * 32), secret_key=first.secret_key,
        pseudonym_key=first.pseudonym_key,
    )  # fmt: skip
    with TestClient(create_app(other)) as second:
        second.cookies.update(client.cookies)  # the same signed-in session
        done = second.post(
            "/admin/catalogue/import/confirm",
            data={"csrf_token": token, "token": import_token, "filename": "good.csv"},
        )
        assert "Imported: 1 new, 0 updated" in done.text
    with database(client).begin() as session:
        assert session.scalar(select(func.count(Opportunity.id))) == 1
        assert session.scalar(select(func.count(ImportPreview.digest))) == 0  # gone once used


def test_a_kept_preview_is_only_its_admins_and_only_for_a_day(client: TestClient) -> None:
    with database(client).begin() as session:
        boss = session.scalar(select(User).where(User.username == "boss"))
        other = create_user(session, "other-admin", "admin", PASSWORD)
        session.flush()
        assert boss is not None
        token = catalogue_admin.keep_preview(session, boss.id, "kind,title\n")
        assert catalogue_admin.kept_preview(session, boss.id, token) == "kind,title\n"
        assert catalogue_admin.kept_preview(session, other.id, token) is None
        assert catalogue_admin.kept_preview(session, boss.id, token + "x") is None
        stored = session.scalars(select(ImportPreview)).one()
        assert stored.digest != token  # only a digest of the token is stored
        stored.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1, minutes=1)
        session.flush()
        assert catalogue_admin.kept_preview(session, boss.id, token) is None
        catalogue_admin.keep_preview(session, boss.id, "kind,title\n")  # drops the old one
        assert session.scalar(select(func.count(ImportPreview.digest))) == 1
