"""Hardening (issue 16, part A): no CSV the project writes carries a spreadsheet formula, and an
id from a payload or a form is checked before it is used (a bad one is answered like an unknown
one, never a crash)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import create_engine, insert, select
from sqlalchemy.orm import Session, sessionmaker

from actions.alerts import ActionUnsubscribeAlerts
from actions.registration.form import ValidateRegistrationForm
from actions.search import ActionShowDetails
from bot.csvsafe import csv_cell, restore_cell
from bot.db.models import Handoff, Opportunity, Outcome, Person, Subscription
from bot.db.session import session_factory
from bot.messages import text
from bot.services import alerts, conversations, figures, people
from bot.services.catalogue_csv import export_catalogue, import_catalogue
from bot.services.figures import Period
from bot.services.people import now
from bot.services.users import create_user
from bot.settings import Settings
from bot.text import parse_id
from connectors.rasa.events import EVENTS, RasaEvents
from dashboard.app import create_app
from tests.conftest import catalogue_csv, opportunity_row

PASSWORD = "correct horse battery"
SENDER = "f00dfeedf00dfeedf00d"
FORMULA = "=cmd|' /C calc'!A0"
BULLET = "- bullet title"


# --- the shared helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+33 6 12", "'+33 6 12"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("'=1+2", "''=1+2"),  # what a reader would take for our quote gets one of its own
        ("Ana", "Ana"),
        ("'quoted", "'quoted"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),  # a number is not a formula
        (0.5, 0.5),
        (True, True),
    ],
)
def test_csv_cell_neutralises_formulas_and_restore_undoes_it(
    value: object, written: object
) -> None:
    assert csv_cell(value) == written
    if isinstance(value, str):
        assert restore_cell(str(written)) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", 12), ("0", 0), ("123456789", 123456789), ("²", None), ("١٢", None),
     ("1234567890", None), ("", None), (" 12", None), ("12\n", None), ("-1", None), ("+1", None),
     ("1e3", None), ("abc", None), (None, None), (12, None)],
)  # fmt: skip
def test_parse_id_takes_only_short_ascii_digit_strings(value: object, expected: int | None) -> None:
    assert parse_id(value) == expected


# --- the registration name ------------------------------------------------------------------


def validate_name(typed: str) -> tuple[dict[str, Any], list[str]]:
    latest = {"text": typed, "intent": {"name": "inform", "confidence": 0.9}, "entities": []}
    tracker = Tracker(
        "tg-name", {}, latest, [], False, None, {"name": "registration_form"}, "action_listen"
    )
    dispatcher = CollectingDispatcher()
    result = ValidateRegistrationForm().validate_reg_name(typed, dispatcher, tracker, {})
    return result, [message.get("text") or "" for message in dispatcher.messages]


@pytest.mark.parametrize(
    "typed",
    [
        '=HYPERLINK("HTTPS://evil.example","Ana")',
        "see HTTPS://spam.example",
        "Ana Http://spam.example",
        "=Ana",
        "+Ana",
        "-Ana",
        "\t=Ana",
        "\r+Ana",
    ],
)
def test_names_that_are_links_or_formulas_are_refused(typed: str) -> None:
    result, said = validate_name(typed)
    assert result["reg_name"] is None and result["reg_failures"] == 1.0
    assert "doesn't look like a name" in said[0]


@pytest.mark.parametrize("typed", ["Anna-Maria", "Jean-Luc", "Zoé", "D'Angelo"])
def test_names_with_those_characters_inside_are_still_taken(typed: str) -> None:
    assert validate_name(typed)[0]["reg_name"] == typed


# --- the catalogue export and its round trip ------------------------------------------------


def exported_rows(session: Session) -> dict[str, dict[str, str]]:
    """The exported catalogue's rows by their raw (exported) title."""
    return {row["title"]: row for row in csv.DictReader(io.StringIO(export_catalogue(session)))}


def test_catalogue_export_neutralises_formulas_and_reimports_unchanged(
    sessions: sessionmaker[Session],
) -> None:
    rows = [
        opportunity_row(title=FORMULA, description="=2+3 and more", provider="@provider"),
        opportunity_row(title=BULLET, description="-just a dash", contact="+385 21 123 456"),
        opportunity_row(title="Plain title"),
    ]
    with sessions.begin() as session:
        first = import_catalogue(session, catalogue_csv(*rows))
        assert first.ok, first.errors
        raw = exported_rows(session)
    assert set(raw) == {"'" + FORMULA, "'" + BULLET, "Plain title"}
    formula, bullet = raw["'" + FORMULA], raw["'" + BULLET]
    assert (formula["description"], formula["provider"]) == ("'=2+3 and more", "'@provider")
    assert (bullet["description"], bullet["contact"]) == ("'-just a dash", "'+385 21 123 456")
    assert raw["Plain title"]["cost_eur"] == "0" and raw["Plain title"]["min_age"] == "18"

    with sessions.begin() as session:
        again = import_catalogue(session, export_catalogue(session))
    assert again.ok and again.created == [] and sorted(again.updated) == sorted(first.created)
    with sessions.begin() as session:
        stored = {
            item.title: (item.description, item.provider, item.contact)
            for item in session.scalars(select(Opportunity))
        }
    assert stored[FORMULA] == ("=2+3 and more", "@provider", "hello@code-academy.example")
    assert stored[BULLET] == ("-just a dash", "Code Academy Split", "+385 21 123 456")
    assert set(stored) == {FORMULA, BULLET, "Plain title"}


def test_catalogue_import_strips_exactly_one_quote_before_a_formula_character(
    sessions: sessionmaker[Session],
) -> None:
    text_ = catalogue_csv(
        opportunity_row(title="'=one"),
        opportunity_row(title="''-two"),
        opportunity_row(title="'three"),
    )
    with sessions.begin() as session:
        assert import_catalogue(session, text_).ok
        titles = set(session.scalars(select(Opportunity.title)))
    assert titles == {"=one", "'-two", "'three"}


# --- the KPI export -------------------------------------------------------------------------


def test_kpi_export_neutralises_formulas(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    at = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
    with sessions.begin() as session:
        session.add(Handoff(sender_id="tg-kpi", reason="=1+2", requested_at=at))
    url = f"sqlite:///{tmp_path / 'no-tracker.db'}"  # Rasa has not made its table yet
    with sessions.begin() as session:
        exported = figures.kpi_csv(
            session, RasaEvents(url), Period(dt.date(2026, 3, 1), dt.date(2026, 3, 3))
        )
    rows = list(csv.reader(io.StringIO(exported)))
    assert ["coach_handoffs", "'=1+2", "1"] in rows
    assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@")]


# --- the dashboard: conversation export, outcome form ---------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TestClient]:
    """The dashboard with one coach and one conversation in the tracker store."""
    settings = Settings(
        _env_file=None,
        var_dir=tmp_path,
        rasa_port=1,  # nothing listens: Rasa is "down"
        rasa_token=SecretStr("token" * 32),
        secret_key=SecretStr("dashboard-test-key-0123456789abcdefgh"),
    )
    application = create_app(settings)
    with session_factory(settings.database_url).begin() as session:
        create_user(session, "coach1", "coach", PASSWORD)
    engine = create_engine(settings.tracker_store_url)
    EVENTS.metadata.create_all(engine)
    data = {
        "event": "user",
        "text": "hello",
        "parse_data": {"intent": {"name": "greet", "confidence": 0.9}, "entities": []},
        "metadata": {"language": "en"},
    }
    with engine.begin() as connection:
        connection.execute(
            insert(EVENTS),
            [{"id": 1, "sender_id": SENDER, "type_name": "user", "intent_name": "greet",
              "timestamp": now().timestamp() - 60, "data": json.dumps(data)}],
        )  # fmt: skip
    with TestClient(application) as client:
        yield client


def csrf_of(client: TestClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


def sign_in(client: TestClient) -> None:
    response = client.post(
        "/login",
        data={"username": "coach1", "password": PASSWORD, "csrf_token": csrf_of(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303


def database_of(client: TestClient) -> sessionmaker[Session]:
    return session_factory(client.app.state.settings.database_url)  # type: ignore[attr-defined]


def test_conversation_export_neutralises_formulas(app: TestClient) -> None:
    sign_in(app)
    assert "1 conversation." in app.get("/conversations").text  # read from the tracker store
    with database_of(app).begin() as session:
        # A name stored before the registration check refused formulas.
        session.add(Person(sender_id=SENDER, consent_at=now(), consent_version="1",
                           registered_at=now(), last_active_at=now(),
                           name='=HYPERLINK("HTTPS://evil.example","Ana")'))  # fmt: skip
        conversations.add_tag(session, SENDER, "+tag")
        conversations.set_note(session, SENDER, "@SUM(1+1)")
    exported = app.get("/conversations/export.csv")
    (row,) = list(csv.DictReader(io.StringIO(exported.text)))
    assert row["name"] == '\'=HYPERLINK("HTTPS://evil.example","Ana")'
    assert (row["tags"], row["note"]) == ("'+tag", "'@SUM(1+1)")
    assert (row["conversation"], row["user_messages"], row["intents"]) == (SENDER, "1", "greet")


def test_a_bad_opportunity_id_in_the_outcome_form_is_refused_like_an_unknown_one(
    app: TestClient,
) -> None:
    with database_of(app).begin() as session:
        person = Person(sender_id=SENDER, consent_at=now(), consent_version="1",
                        registered_at=now(), last_active_at=now(), name="Ana", age=19)  # fmt: skip
        session.add(person)
        session.flush()
        person_id = person.id
    sign_in(app)
    token = csrf_of(app, f"/people/{person_id}")
    answers = {}
    for opportunity in ("999", "²", "abc", "99999999999999999999"):
        response = app.post(
            f"/people/{person_id}/outcomes",
            data={"csrf_token": token, "kind": "job", "date": "2026-11-01",
                  "opportunity": opportunity},
        )  # fmt: skip
        assert response.status_code == 200
        answers[opportunity] = "There is no such training or job in the catalogue." in response.text
    assert answers == {"999": True, "²": True, "abc": True, "99999999999999999999": True}
    with database_of(app).begin() as session:
        assert session.scalars(select(Outcome)).all() == []
    app.post(
        f"/people/{person_id}/outcomes",
        data={"csrf_token": token, "kind": "job", "date": "2026-11-01", "opportunity": ""},
    )
    with database_of(app).begin() as session:
        assert [item.opportunity_id for item in session.scalars(select(Outcome))] == [None]


# --- ids in the actions' payloads -----------------------------------------------------------


def payload_tracker(text_: str, intent: str, entities: dict[str, str]) -> Tracker:
    latest = {
        "text": text_,
        "intent": {"name": intent, "confidence": 1.0},
        "entities": [{"entity": name, "value": value} for name, value in entities.items()],
    }
    return Tracker("tg-ids", {}, latest, [], False, None, {}, "action_listen")


def run(action: Any, tracker: Tracker) -> tuple[list[str], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, tracker, {})
    return [message.get("text") or "" for message in dispatcher.messages], events


@pytest.mark.parametrize("bad", ["²", "١٢", "99999999999999999999", "12abc"])
def test_details_of_a_bad_id_are_answered_like_an_unknown_one(
    sessions: sessionmaker[Session], bad: str
) -> None:
    with sessions.begin() as session:
        assert import_catalogue(session, catalogue_csv(opportunity_row())).ok

    def details(chosen: str) -> tuple[list[str], list[dict[str, Any]]]:
        tracker = payload_tracker(f'/show_details{{"opportunity_id":"{chosen}"}}',
                                  "show_details", {"opportunity_id": chosen})  # fmt: skip
        return run(ActionShowDetails(), tracker)

    assert details("999") == ([text("details_missing", "en")], [])
    assert details(bad) == details("999")


@pytest.mark.parametrize("bad", ["²", "99999999999999999999"])
def test_cancelling_a_bad_alert_id_is_answered_like_an_unknown_one(
    sessions: sessionmaker[Session], bad: str
) -> None:
    with sessions.begin() as session:
        person = people.give_consent(session, "tg-ids")
        alerts.subscribe(session, person, "job", ["digital"], None)

    def cancel(chosen: str) -> list[str]:
        tracker = payload_tracker(f'/unsubscribe_alerts{{"subscription":"{chosen}"}}',
                                  "unsubscribe_alerts", {"subscription": chosen})  # fmt: skip
        return run(ActionUnsubscribeAlerts(), tracker)[0]

    assert cancel("999") == [text("alerts_already_cancelled", "en", count=0)]
    assert cancel(bad) == cancel("999")
    with sessions.begin() as session:
        assert len(session.scalars(select(Subscription)).all()) == 1
