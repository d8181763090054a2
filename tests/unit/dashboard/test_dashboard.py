"""The dashboard's pages through FastAPI's test client: sign-in, authorisation on every route,
CSRF on every form, and the coach's work on a conversation read from a tracker store."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import fastapi.routing
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, insert, select

from bot.db.models import Conversation, Handoff, Person
from bot.db.session import session_factory
from bot.services import handoff
from bot.services.people import now
from bot.services.users import create_user
from bot.settings import Settings
from connectors.rasa.events import EVENTS
from dashboard.app import create_app

PASSWORD = "correct horse battery"
PUBLIC = {"/login", "/health", "/"}
SENDER = "a1b2c3d4e5f6a7b8c9d0"


def _event(event_id: int, sender: str, kind: str, timestamp: float, **data: object) -> dict:
    return {
        "id": event_id,
        "sender_id": sender,
        "type_name": kind,
        "timestamp": timestamp,
        "intent_name": (data.get("parse_data") or {}).get("intent", {}).get("name")  # type: ignore[union-attr]
        if kind == "user"
        else None,
        "action_name": data.get("name") if kind == "action" else None,
        "data": json.dumps({"event": kind, **data}),
    }


def user_message(event_id: int, sender: str, text: str, intent: str, confidence: float,
                 timestamp: float, language: str = "en") -> dict:  # fmt: skip
    parse = {"intent": {"name": intent, "confidence": confidence}, "entities": []}
    return _event(
        event_id,
        sender,
        "user",
        timestamp,
        text=text,
        parse_data=parse,
        metadata={"language": language},
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        var_dir=tmp_path,
        rasa_port=1,  # nothing listens: Rasa is "down" in these tests
        rasa_token=SecretStr("token" * 32),
        secret_key=SecretStr("dashboard-test-key-0123456789abcdefgh"),
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[TestClient]:
    application = create_app(settings)
    with session_factory(settings.database_url).begin() as session:
        create_user(session, "coach1", "coach", PASSWORD)
        create_user(session, "coach2", "coach", PASSWORD)
        create_user(session, "boss", "admin", PASSWORD)
    engine = create_engine(settings.tracker_store_url)
    EVENTS.metadata.create_all(engine)
    base = now().timestamp() - 3600
    rows = [
        user_message(1, SENDER, "any free IT courses in Split?", "ask_trainings", 0.91, base),
        _event(
            2,
            SENDER,
            "bot",
            base + 1,
            text="Here are 2 trainings in Split:",
            data={"buttons": [{"title": "➡️ Show more", "payload": "/show_more"}]},
        ),  # fmt: skip
        user_message(3, SENDER, "blah blah qwerty", "nlu_fallback", 0.21, base + 60),
        _event(4, SENDER, "action", base + 61, name="action_default_ask_affirmation"),
        user_message(5, "other-sender-0000", "lavoro a Palermo", "ask_jobs", 0.88, base + 5, "it"),
    ]
    with engine.begin() as connection:
        connection.execute(insert(EVENTS), rows)
    with TestClient(application) as client:
        yield client


def csrf_of(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]


def every_route(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route of the app, included routers too."""
    found = client.app.routes  # type: ignore[attr-defined]
    if hasattr(fastapi.routing, "iter_route_contexts"):  # FastAPI ≥ 0.16x wraps included routers
        found = [
            context for context in fastapi.routing.iter_route_contexts(found)
            if isinstance(context.original_route, APIRoute)
        ]  # fmt: skip
    else:
        found = [route for route in found if isinstance(route, APIRoute)]
    routes = []
    for route in found:
        path = (
            re.sub(r"\{(\w+):int\}", r"{\1}", route.path)
            .replace("{sender_id}", SENDER)
            .replace("{handoff_id}", "1")
            .replace("{person_id}", "1")
            .replace("{item_id}", "1")
            .replace("{version_id}", "1")
            .replace("{job_id}", "1")
            .replace("{annotation_id}", "1")
            .replace("{decision}", "accept")
            .replace("{action}", "publish")
            .replace("{key}", "digital")
            .replace("{name:path}", "greet")
        )
        routes.extend((method, path) for method in sorted(route.methods))
    return routes


def test_anonymous_visitors_are_sent_to_the_login_page_from_every_route(app: TestClient) -> None:
    routes = every_route(app)
    assert len(routes) >= 20
    for method, path in routes:
        if path in PUBLIC:
            continue
        response = app.request(method, path, follow_redirects=False)
        assert response.status_code == 303, (method, path, response.status_code)
        assert response.headers["location"].startswith("/login?next="), (method, path)


def test_coaches_get_403_on_every_admin_route_and_admins_do_not(app: TestClient) -> None:
    sign_in(app, "coach1")
    token = csrf_of(app, "/conversations")
    admin_routes = [(m, p) for m, p in every_route(app) if p.startswith("/admin")]
    assert admin_routes
    for method, path in admin_routes:
        response = app.request(method, path, data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, (method, path)
        assert "for admins" in response.text
    app.post("/logout", data={"csrf_token": token})
    sign_in(app, "boss")
    assert app.get("/admin/users").status_code == 200


def test_every_form_needs_the_csrf_token(app: TestClient) -> None:
    sign_in(app, "boss")  # an admin, so that admin forms are checked too
    for method, path in every_route(app):
        if method != "POST" or path in PUBLIC:
            continue
        response = app.post(path, data={"csrf_token": "forged"}, follow_redirects=False)
        assert response.status_code == 403, path
        assert "expired" in response.text
    with session_factory(app.app.state.settings.database_url).begin() as session:  # type: ignore[attr-defined]
        assert session.scalar(
            select(Conversation.note).where(Conversation.sender_id == SENDER)
        ) in (
            None,
            "",
        )


def test_login_messages_and_slow_down(app: TestClient) -> None:
    token = csrf_of(app)
    wrong = app.post("/login", data={"username": "coach1", "password": "nope", "csrf_token": token})
    assert wrong.status_code == 401 and "Wrong username or password." in wrong.text
    unknown = app.post("/login", data={"username": "ghost", "password": "x", "csrf_token": token})
    assert "Wrong username or password." in unknown.text
    for _ in range(2):
        response = app.post(
            "/login", data={"username": "coach1", "password": "nope", "csrf_token": token}
        )
    assert "Too many wrong passwords" in response.text and "Wait 2 seconds" in response.text
    # Even the right password waits now.
    right = app.post(
        "/login", data={"username": "coach1", "password": PASSWORD, "csrf_token": token}
    )
    assert "Too many wrong passwords" in right.text


def test_login_goes_back_to_the_page_asked_for_but_never_off_site(app: TestClient) -> None:
    first = app.get("/people?q=ana", follow_redirects=False)
    assert first.headers["location"] == "/login?next=/people?q=ana"
    token = csrf_of(app)
    response = app.post(
        "/login",
        data={
            "username": "coach1",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/people?q=ana",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/people?q=ana"
    app.post("/logout", data={"csrf_token": csrf_of(app, "/people")})
    token = csrf_of(app)
    response = app.post(
        "/login",
        data={
            "username": "coach1",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/conversations"


def test_security_headers_and_a_signed_http_only_cookie(app: TestClient) -> None:
    response = app.get("/login")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    cookie = response.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    app.cookies.set("neetbot_session", "forged.cookie.value")
    assert app.get("/conversations", follow_redirects=False).status_code == 303


def test_list_filters_transcript_tag_note_review_and_export(app: TestClient) -> None:
    sign_in(app, "coach1")
    listing = app.get("/conversations")
    assert "2 conversations" in listing.text
    fallback = app.get("/conversations?fallback=yes&below=0.5")
    assert "1 conversation." in fallback.text and f"anon-{SENDER[:8]}" in fallback.text
    assert "1 conversation." in app.get("/conversations?language=it").text
    assert "0 conversations" in app.get("/conversations?q=qwertz").text
    assert "1 conversation." in app.get("/conversations?q=QWERTY").text

    page = app.get(f"/conversations/{SENDER}")
    assert "any free IT courses in Split?" in page.text
    assert "ask_trainings (0.91)" in page.text and "nlu_fallback (0.21)" in page.text
    assert "➡️ Show more" in page.text
    assert "action_default_ask_affirmation" not in page.text  # the assistant's own steps

    token = csrf_of(app, f"/conversations/{SENDER}")
    app.post(f"/conversations/{SENDER}/tags", data={"csrf_token": token, "tag": "  Follow Up "})
    app.post(f"/conversations/{SENDER}/note", data={"csrf_token": token, "note": "Call back"})
    app.post(f"/conversations/{SENDER}/reviewed", data={"csrf_token": token, "reviewed": "yes"})
    too_long = app.post(
        f"/conversations/{SENDER}/tags", data={"csrf_token": token, "tag": "x" * 41}
    )
    assert "A tag has 1 to 40 characters." in too_long.text
    assert "1 conversation." in app.get("/conversations?tag=follow+up&reviewed=yes").text
    assert "0 conversations" in app.get("/conversations?tag=follow+up&reviewed=no").text

    exported = app.get("/conversations/export.csv?tag=follow+up")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["conversation"], r["tags"], r["note"], r["fallback"]) for r in rows] == [
        (SENDER, "follow up", "Call back", "True")
    ]
    document = app.get("/conversations/export.json?language=it").json()
    assert [item["transcript"][0]["text"] for item in document] == ["lavoro a Palermo"]
    live = app.get(f"/conversations/{SENDER}/events.json?after=2").json()
    assert [entry["id"] for entry in live["entries"]] == [3]
    # rendered by the page's template: the same line as when the page loads
    assert live["html"][0].startswith('<li class="entry user" data-id="3">\n  <time')
    assert "blah blah qwerty" in live["html"][0] and "nlu_fallback (0.21)" in live["html"][0]
    assert 'class="annotate"' in live["html"][0]


def test_waiting_conversations_are_pinned_and_a_second_coach_cannot_take_one(
    app: TestClient,
) -> None:
    database = app.app.state.settings.database_url  # type: ignore[attr-defined]
    with session_factory(database).begin() as session:
        request, _ = handoff.request(session, SENDER, "en")
        handoff.request(session, "other-sender-0000", "it", "crisis", "self_harm")
        request_id = request.id
    sign_in(app, "coach1")
    listing = app.get("/conversations").text
    waiting = listing.split("<h2>All conversations</h2>")[0]
    assert waiting.index("URGENT: self harm") < waiting.index(f"anon-{SENDER[:8]}")
    token = csrf_of(app, "/conversations")
    taken = app.post(f"/handoffs/{request_id}/take", data={"csrf_token": token})
    # The request has no Telegram chat (e.g. a console chat): the coach holds it and is told
    # why no message went.
    assert "not reachable on Telegram" in taken.text
    app.post("/logout", data={"csrf_token": token})
    sign_in(app, "coach2")
    token = csrf_of(app, "/conversations")
    refused = app.post(f"/handoffs/{request_id}/take", data={"csrf_token": token})
    assert "coach1 is already talking with this person." in refused.text
    reply = app.post(f"/handoffs/{request_id}/reply", data={"csrf_token": token, "text": "hi"})
    assert "Another coach is talking with this person." in reply.text
    with session_factory(database).begin() as session:
        assert session.get(Handoff, request_id).status == "active"  # type: ignore[union-attr]


def test_people_take_on_notes_and_outcomes(app: TestClient) -> None:
    database = app.app.state.settings.database_url  # type: ignore[attr-defined]
    with session_factory(database).begin() as session:
        person = Person(
            sender_id=SENDER,
            consent_at=now(),
            consent_version="1",
            registered_at=now(),
            name="Ana",
            age=19,
            place="Split",
            country="HR",
            last_active_at=now(),
        )
        session.add(person)
        session.flush()
        person_id = person.id
    sign_in(app, "coach1")
    assert "Ana" in app.get("/people?q=spl").text
    assert "Nobody matches." in app.get("/people?coach=mine").text
    token = csrf_of(app, f"/people/{person_id}")
    app.post(f"/people/{person_id}/take-on", data={"csrf_token": token})
    assert "Ana" in app.get("/people?coach=mine").text
    app.post(f"/people/{person_id}/notes", data={"csrf_token": token, "text": "Wants IT"})
    bad = app.post(
        f"/people/{person_id}/outcomes",
        data={"csrf_token": token, "kind": "lottery", "date": "2026-11-01"},
    )
    assert "The outcome must be one of" in bad.text
    app.post(
        f"/people/{person_id}/outcomes",
        data={"csrf_token": token, "kind": "job", "date": "2026-11-01"},
    )
    page = app.get(f"/people/{person_id}").text
    assert "Wants IT" in page and "Nov 1, 2026: got a job" in page
    # The conversation list shows the name they gave, not the pseudonym.
    assert "Ana" in app.get("/conversations?registered=yes").text
    assert app.get("/people/999").status_code == 404


def test_figures_page_and_kpi_export(app: TestClient) -> None:
    sign_in(app, "coach1")
    page = app.get("/figures")
    assert page.status_code == 200
    assert (
        page.text.count("<svg") == 6
        and "<script" not in page.text.split('<main id="main">')[1].split("</main>")[0]
    )
    assert re.search(r'id="kpi-reached">2<', page.text)
    rows = list(csv.reader(io.StringIO(app.get("/figures/kpi.csv").text)))
    assert rows[0] == ["metric", "breakdown", "value"]
    values = {(metric, breakdown): value for metric, breakdown, value in rows[1:]}
    assert values[("people_reached", "")] == "2"
    assert values[("messages_not_understood", "")] == "1"
    assert values[("people_reached", "language=it")] == "1"
