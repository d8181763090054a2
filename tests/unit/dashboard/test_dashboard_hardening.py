"""Issue 16's dashboard items, through FastAPI's test client: bodies refused before they are
read, sign-in limited per client address, sessions that end everywhere, accounts managed and
audited, display names for young people, and a coach's messages through the outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.db.models import AuditEntry, Handoff, OutboxMessage
from bot.db.session import session_factory
from bot.services import handoff, users
from bot.services.users import create_user
from bot.settings import Settings
from dashboard import limits
from dashboard.app import create_app
from tests.unit.dashboard.test_dashboard import (  # noqa: F401 - `settings` is a fixture
    PASSWORD,
    csrf_of,
    settings,
    sign_in,
)

CHAT = 777001


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:  # noqa: F811
    application = create_app(settings)
    with session_factory(settings.database_url).begin() as session:
        create_user(session, "coach1", "coach", PASSWORD, display_name="Marta")
        create_user(session, "boss", "admin", PASSWORD)
    with TestClient(application) as test_client:
        yield test_client


def test_an_oversized_body_is_refused_before_it_is_read(client: TestClient) -> None:
    big = b"x" * (limits.SMALL + 1)
    assert client.post("/login", content=big).status_code == 413
    # A multipart upload to the import by an anonymous visitor: refused at the small limit.
    upload = {"file": ("c.csv", b"a" * (limits.SMALL * 4), "text/csv")}
    assert client.post("/admin/catalogue/import", files=upload).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams in
        for _ in range(100):
            yield b"y" * 4096

    form = {"content-type": "application/x-www-form-urlencoded"}
    assert client.post("/login", content=chunks(), headers=form).status_code == 413


def test_an_admin_may_send_a_large_import_but_not_beyond_the_large_limit(
    client: TestClient,
) -> None:
    sign_in(client, "boss")
    token = csrf_of(client, "/admin/catalogue")
    csv = b"kind,title\n" + b"training,x\n" * 20_000  # about 220 KB: over the small limit
    response = client.post(
        "/admin/catalogue/import", data={"csrf_token": token}, files={"file": ("c.csv", csv)}
    )
    assert response.status_code == 200
    huge = {"file": ("c.csv", b"z" * (limits.LARGE + 1))}
    assert client.post("/admin/catalogue/import", files=huge).status_code == 413


def test_many_sign_ins_from_one_address_are_slowed_down(client: TestClient) -> None:
    token = csrf_of(client)
    answers = [
        client.post(
            "/login", data={"username": f"guess{n}", "password": "nope nope", "csrf_token": token}
        ).status_code
        for n in range(31)
    ]
    assert answers[:30] == [401] * 30 and answers[30] == 429
    refused = client.post(
        "/login", data={"username": "boss", "password": PASSWORD, "csrf_token": token}
    )
    assert refused.status_code == 429 and "Too many sign-in attempts" in refused.text


def test_signing_out_ends_every_copy_of_the_session(client: TestClient) -> None:
    sign_in(client, "coach1")
    stolen = dict(client.cookies)
    client.post("/logout", data={"csrf_token": csrf_of(client, "/conversations")})
    client.cookies.clear()
    client.cookies.update(stolen)  # the copy an attacker kept
    page = client.get("/conversations", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


@pytest.mark.parametrize(
    ("change", "value"), [("disable", ""), ("role", "admin"), ("password", "a new password 1")]
)
def test_an_admin_change_ends_the_accounts_sessions_and_is_audited(
    client: TestClient,
    settings: Settings,  # noqa: F811
    change: str,
    value: str,
) -> None:
    coach = TestClient(client.app)
    sign_in(coach, "coach1")
    assert coach.get("/conversations").status_code == 200
    sign_in(client, "boss")
    token = csrf_of(client, "/admin/users")
    done = client.post(f"/admin/users/coach1/{change}", data={"csrf_token": token, "value": value})
    assert "updated" in done.text
    assert coach.get("/conversations", follow_redirects=False).status_code == 303
    with session_factory(settings.database_url).begin() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry is not None and (entry.username, entry.action, entry.target) == (
            "boss", f"account.{change}", "coach1",
        )  # fmt: skip
        if change == "password":  # never a password in the log
            assert value not in (entry.before or "") + (entry.after or "")


def test_accounts_are_created_with_a_display_name_and_audited(
    client: TestClient,
    settings: Settings,  # noqa: F811
) -> None:
    sign_in(client, "boss")
    token = csrf_of(client, "/admin/users")
    client.post(
        "/admin/users",
        data={"csrf_token": token, "username": "luca", "role": "coach",
              "password": PASSWORD, "display_name": "Luca B."},
    )  # fmt: skip
    page = client.get("/admin/users").text
    assert "Luca B." in page
    with session_factory(settings.database_url).begin() as session:
        created = session.scalar(select(AuditEntry).where(AuditEntry.action == "account.create"))
        assert created is not None and json.loads(created.after or "{}")["display_name"] == (
            "Luca B."
        )


def test_a_coach_joins_by_display_name_and_writes_through_the_outbox(
    client: TestClient,
    settings: Settings,  # noqa: F811
) -> None:
    with session_factory(settings.database_url).begin() as session:
        request, _ = handoff.request(session, "tg-person-1", "en")
        handoff.attach_chat(session, "tg-person-1", CHAT)
        request_id = request.id
    sign_in(client, "coach1")
    token = csrf_of(client, "/conversations")
    client.post(f"/handoffs/{request_id}/take", data={"csrf_token": token})
    client.post(f"/handoffs/{request_id}/reply", data={"csrf_token": token, "text": "Hi!"})
    with session_factory(settings.database_url).begin() as session:
        queued = [json.loads(row.params)["text"] for row in session.scalars(
            select(OutboxMessage).where(OutboxMessage.chat_id == CHAT).order_by(OutboxMessage.id)
        )]  # fmt: skip
    assert queued == ["👋 Marta, a coach, has joined the chat. You are now talking to a person.",
                      "Hi!"]  # fmt: skip
    assert "coach1" not in queued[0]


def test_a_coach_reply_carries_buttons_to_tap_and_an_opportunity_card(
    client: TestClient,
    settings: Settings,  # noqa: F811
) -> None:
    from bot.db.models import Opportunity
    from bot.services.catalogue_csv import import_catalogue
    from tests.conftest import catalogue_csv, opportunity_row

    with session_factory(settings.database_url).begin() as session:
        assert import_catalogue(session, catalogue_csv(opportunity_row())).ok
        item = session.scalars(select(Opportunity.id)).one()
        request, _ = handoff.request(session, "tg-person-3", "it")
        handoff.attach_chat(session, "tg-person-3", CHAT)
        request_id = request.id
    sign_in(client, "coach1")
    token = csrf_of(client, "/conversations")
    client.post(f"/handoffs/{request_id}/take", data={"csrf_token": token})

    def reply(**fields: str) -> str:
        return client.post(
            f"/handoffs/{request_id}/reply", data={"csrf_token": token, **fields}
        ).text

    assert "At most 4 buttons" in reply(text="Quale?", choices="a|b|c|d|e")
    assert "cannot start with / or #" in reply(text="Quale?", choices="/delete_data")
    assert "Buttons go under a message" in reply(choices="Sì | No")
    assert "no such training or job" in reply(text="x", opportunity="99999")
    reply(text="Ti interessa?", choices=" Sì |No ", opportunity=str(item))
    with session_factory(settings.database_url).begin() as session:
        queued = [json.loads(row.params) for row in session.scalars(
            select(OutboxMessage).where(OutboxMessage.chat_id == CHAT).order_by(OutboxMessage.id)
        )][1:]  # fmt: skip
    assert [m["text"] for m in queued][0] == "Ti interessa?"  # the refused ones sent nothing
    assert queued[0]["reply_markup"]["inline_keyboard"] == [
        [{"text": "Sì", "callback_data": "=Sì"}, {"text": "No", "callback_data": "=No"}]
    ]
    card = queued[1]
    assert card["text"].startswith("🎓 Web development bootcamp") and "Gratis" in card["text"]
    assert card["reply_markup"]["inline_keyboard"][0][0]["url"] == (
        "https://code-academy.example/bootcamp"
    )
    assert len(queued) == 2


def test_of_two_coaches_taking_at_once_exactly_one_gets_it(settings: Settings) -> None:  # noqa: F811
    create_app(settings)  # migrates
    sessions = session_factory(settings.database_url)
    with sessions.begin() as session:
        first = users.create_user(session, "ana.c", "coach", PASSWORD)
        second = users.create_user(session, "ben.c", "coach", PASSWORD)
        request, _ = handoff.request(session, "tg-person-2", "en")
    # Both read it waiting; then both take it: the second's compare-and-set finds it taken.
    with sessions() as one, sessions() as two:
        row_one, row_two = one.get(Handoff, request.id), two.get(Handoff, request.id)
        assert row_one is not None and row_two is not None and row_two.status == "waiting"
        handoff.take(one, request.id, one.get(users.User, first.id))  # type: ignore[arg-type]
        one.commit()
        with pytest.raises(handoff.HandoffError, match="already talking"):
            handoff.take(two, request.id, two.get(users.User, second.id))  # type: ignore[arg-type]
