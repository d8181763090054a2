"""The coaches' workspace in the dashboard: a coach's settings (status, languages, countries) in
plain words, the live queue's JSON (mine / unassigned / all, what needs this coach, the
person's last words, minutes waited), passing a conversation to another coach, filters that
say what they left out, and a person's page in words with outcomes that fit."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.db.models import Handoff, Opportunity, User
from bot.db.session import session_factory
from bot.services import campaigns as channel
from bot.services import handoff, people
from bot.services.catalogue_csv import import_catalogue
from tests.conftest import catalogue_csv, opportunity_row
from tests.unit.dashboard.test_dashboard import SENDER, app, csrf_of, settings, sign_in

__all__ = ["app", "settings"]  # fixtures


def database(client: TestClient) -> str:
    return str(client.app.state.settings.database_url)  # type: ignore[attr-defined]


def cover(client: TestClient, status: str, languages: list[str], countries: str = "") -> str:
    token = csrf_of(client, "/account")
    page = client.post(
        "/account/coverage",
        data={
            "csrf_token": token,
            "status": status,
            "languages": languages,
            "countries": countries,
        },
    )
    return page.text


def test_a_coach_sets_status_languages_and_countries_in_plain_words(app: TestClient) -> None:
    sign_in(app, "coach1")
    assert "Saved." in cover(app, "available", ["it", "hr"], "it; mt")
    page = app.get("/account").text
    assert 'value="it" checked' in page and 'value="hr" checked' in page
    assert 'value="IT, MT"' in page
    refused = cover(app, "available", ["it"], "Italy")
    assert "Countries are two-letter codes such as IT or HR, not: ITALY." in refused
    assert "Not a language of the assistant: xx." in cover(app, "available", ["xx"])
    with session_factory(database(app)).begin() as session:
        saved = session.scalar(select(User).where(User.username == "coach1"))
        assert saved is not None and (saved.languages, saved.countries) == ("it,hr", "IT,MT")
    # Away, from the header of any page, and back
    token = csrf_of(app, "/people")
    away = app.post("/account/status", data={"csrf_token": token, "status": "away"}).text
    assert "You are away." in away and "Be available" in away


def test_the_queue_routes_itself_and_tells_each_coach_what_needs_them(app: TestClient) -> None:
    sign_in(app, "coach1")
    cover(app, "available", ["en"])
    with session_factory(database(app)).begin() as session:
        mine, _ = handoff.request(session, SENDER, "en")  # coach1 covers English
        other, _ = handoff.request(session, "other-sender-0000", "it")  # nobody covers Italian
        mine_id, other_id = mine.id, other.id
    found = app.get("/queue.json").json()
    assert found["view"] == "mine"  # a coach who covers languages starts on their own
    assert found["counts"] == {"mine": 1, "unassigned": 1, "all": 2}
    assert sorted(found["needs_me"]) == sorted([mine_id, other_id])
    # the person's last typed words, how long they waited, what language they write in
    assert "blah blah qwerty" in found["html"] and "min</span>" in found["html"]
    assert f'data-handoff="{mine_id}"' in found["html"]
    assert f'data-handoff="{other_id}"' not in found["html"]
    everyone = app.get("/queue.json?view=all").json()["html"]
    assert f'data-handoff="{other_id}"' in everyone and "lavoro a Palermo" in everyone
    # The other coach covers nothing: they see everything, and only the unassigned one needs them
    app.post("/logout", data={"csrf_token": csrf_of(app, "/people")})
    sign_in(app, "coach2")
    theirs = app.get("/queue.json").json()
    assert theirs["view"] == "all" and theirs["needs_me"] == [other_id]
    # The conversations page renders the same queue, after its one h1
    page = app.get("/conversations").text
    assert page.index("<h1>Conversations</h1>") < page.index("Requests for a coach")
    assert 'aria-label="Take the conversation with' in page


def test_passing_a_conversation_to_another_coach_with_a_note(app: TestClient) -> None:
    with session_factory(database(app)).begin() as session:
        made, _ = handoff.request(session, SENDER, "en")
        made_id = made.id
        coach2 = session.scalar(select(User.id).where(User.username == "coach2"))
    sign_in(app, "coach1")
    token = csrf_of(app, "/conversations")
    app.post(f"/handoffs/{made_id}/take", data={"csrf_token": token})
    passed = app.post(
        f"/handoffs/{made_id}/transfer",
        data={"csrf_token": token, "to": str(coach2), "note": "asks about Split courses"},
    ).text
    assert "Passed to Coach2. The bot stays silent until they answer." in passed
    unknown = app.post(f"/handoffs/{made_id}/transfer", data={"csrf_token": token, "to": "999"})
    assert "There is no such coach." in unknown.text
    again = {"csrf_token": token, "to": str(coach2)}  # it is no longer coach1's to pass
    refused = app.post(f"/handoffs/{made_id}/transfer", data=again)
    assert "This request is waiting for another coach." in refused.text
    with session_factory(database(app)).begin() as session:
        moved = session.get(Handoff, made_id)
        assert moved is not None and (moved.status, moved.assigned_to) == ("waiting", coach2)
    app.post("/logout", data={"csrf_token": token})
    sign_in(app, "coach2")
    found = app.get("/queue.json?view=mine").json()
    assert found["needs_me"] == [made_id] and "asks about Split courses" in found["html"]


def test_filters_offer_the_intents_and_say_what_they_left_out(app: TestClient) -> None:
    sign_in(app, "coach1")
    page = app.get("/conversations?below=7&intent=jobs+please&from=yesterday").text
    assert (
        "Confidence below: “7” is not a number from 0 to 1 (such as 0.5); it was left out." in page
    )
    assert "Intent: there is no intent “jobs please”; it was left out." in page
    assert "From: “yesterday” is not a date; it was left out." in page
    assert "2 conversations" in page  # nothing filtered by what was left out
    assert '<select name="intent"><option value="">any</option>' in page
    assert "<option >ask_trainings</option>" in page or "<option>ask_trainings</option>" in page
    chosen = app.get("/conversations?intent=ask_trainings").text
    assert "1 conversation." in chosen and 'role="alert"' not in chosen
    # The page the coach is on is marked in the navigation (and only that one)
    assert chosen.count('aria-current="page"') == 2  # the page, and the queue's current view
    assert 'id="queue-link" aria-current="page"' in chosen
    assert '<a href="/people" aria-current="page">' in app.get("/people").text


def test_a_persons_page_speaks_words_and_the_outcome_fits_the_opportunity(
    app: TestClient,
) -> None:
    with session_factory(database(app)).begin() as session:
        rows = [
            opportunity_row(title="Corso di pizzaiolo", city="Napoli", country="IT"),
            opportunity_row(kind="job", title="Commis de cuisine", city="Marseille", country="FR"),
        ]
        assert import_catalogue(session, catalogue_csv(*rows)).ok
        person = people.give_consent(session, "tg-napoli")
        people.save_profile(
            session, "tg-napoli",
            people.Profile(name="Gennaro", age=19, place="Napoli", country="IT",
                           situation="both", education="upper_secondary",
                           interests=["tourism_hospitality"], language="it"),
        )  # fmt: skip
        person_id = person.id
        found = session.execute(select(Opportunity.title, Opportunity.id)).all()
        ids = {title: item_id for title, item_id in found}
    sign_in(app, "coach1")
    page = app.get(f"/people/{person_id}").text
    for words in ("Both", "Upper secondary (high school)", "Tourism &amp; hospitality",
                  "Italiano (it)", "not answered"):  # fmt: skip
        assert f"<dd>{words}</dd>" in page, words
    assert "tourism_hospitality" not in page and "<dd>both</dd>" not in page
    # The person's country first; the rest apart
    assert page.index('<optgroup label="Trainings in IT">') < page.index(
        '<optgroup label="Jobs in other countries">'
    )
    assert "Commis de cuisine — " in page and "(Marseille, FR)" in page
    token = csrf_of(app, f"/people/{person_id}")
    wrong = {"csrf_token": token, "kind": "training", "date": "2026-11-01"}
    refused = app.post(
        f"/people/{person_id}/outcomes",
        data={**wrong, "opportunity": str(ids["Commis de cuisine"])},
    ).text
    assert "“Commis de cuisine” is a job: it does not fit “started a training”." in refused
    fits = {**wrong, "kind": "job", "opportunity": str(ids["Commis de cuisine"])}
    assert "Outcome recorded." in app.post(f"/people/{person_id}/outcomes", data=fits).text
    assert "got a job" in app.get(f"/people/{person_id}").text


def test_saved_replies_pages_keep_the_typed_text_on_an_error(app: TestClient) -> None:
    sign_in(app, "coach1")
    token = csrf_of(app, "/replies")
    wrong = {"csrf_token": token, "language": "en", "shortcut": "hi", "text": "Hi {nome}!"}
    page = app.post("/replies", data=wrong).text
    assert "Unknown placeholder {nome}: use {name}, {coach} or {opportunity:ID}." in page
    assert "Hi {nome}!</textarea>" in page  # what was typed is still there
    shared = app.post("/replies", data={**wrong, "text": "Hi {name}", "shared": "yes"}).text
    assert "Only admins keep shared replies" in shared
    saved = app.post("/replies", data={**wrong, "text": "Hi {name}, I'm {coach}."}).text
    assert "Saved: type /hi in a reply to insert it." in saved
    # In a conversation the coach holds, the reply box offers it, filled in
    with session_factory(database(app)).begin() as session:
        made, _ = handoff.request(session, SENDER, "en")
        made_id = made.id
    app.post(f"/handoffs/{made_id}/take", data={"csrf_token": token})
    transcript = app.get(f"/conversations/{SENDER}").text
    assert 'data-shortcut="hi"' in transcript and "Hi, I&#39;m Coach1." in transcript


def test_a_coach_links_and_unlinks_their_own_telegram_on_their_settings(app: TestClient) -> None:
    sign_in(app, "coach1")
    before = app.get("/account").text
    assert "The link appears once the Telegram connector has started." in before
    with session_factory(database(app)).begin() as session:
        channel.remember_bot_username(session, "neet_helper_bot")
        coach1 = session.scalar(select(User).where(User.username == "coach1"))
        assert coach1 is not None
        coach1.telegram_chat_id = 7001
    page = app.get("/account").text
    assert "✅ Your Telegram chat is linked." in page
    assert 'href="https://t.me/neet_helper_bot?start=staff-' in page
    unlinked = app.post("/account/telegram/unlink", data={"csrf_token": csrf_of(app, "/account")})
    assert "Your Telegram chat is no longer linked." in unlinked.text
    with session_factory(database(app)).begin() as session:
        assert (
            session.scalar(select(User.telegram_chat_id).where(User.username == "coach1")) is None
        )


def test_a_coach_writes_a_plan_and_proposes_an_appointment_on_the_persons_page(
    app: TestClient,
) -> None:
    import datetime as dt
    import json

    from bot.db.models import Appointment, OutboxMessage, PlanStep

    with session_factory(database(app)).begin() as session:
        person = people.give_consent(session, "tg-plan-page")
        people.save_profile(
            session, "tg-plan-page",
            people.Profile(name="Gennaro", age=19, country="IT", language="it"),
        )  # fmt: skip
        person_id = person.id
    sign_in(app, "coach1")
    page = app.get(f"/people/{person_id}").text
    assert "No steps yet." in page and "no appointment can be proposed" in page
    token = csrf_of(app, f"/people/{person_id}")
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    refused = app.post(
        f"/people/{person_id}/plan", data={"csrf_token": token, "text": "Old", "due": "2020-01-01"}
    ).text
    assert "The due date is in the past." in refused
    added = app.post(
        f"/people/{person_id}/plan",
        data={"csrf_token": token, "text": "Manda il CV al centro", "due": tomorrow},
    ).text
    assert "Step added." in added and "0 of 1 steps done." in added
    with session_factory(database(app)).begin() as session:
        step_id = session.scalars(select(PlanStep.id)).one()
        session.get(type(person), person_id).telegram_chat_id = 4242  # type: ignore[union-attr]
    ticked = app.post(
        f"/people/{person_id}/plan/{step_id}", data={"csrf_token": token, "do": "done"}
    )
    assert "1 of 1 steps done." in ticked.text and "by a coach" in ticked.text
    # An appointment: in the person's time zone, its proposal in the outbox with three buttons
    when = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    assert "(Europe/Rome)" in app.get(f"/people/{person_id}").text
    proposed = app.post(
        f"/people/{person_id}/appointments",
        data={"csrf_token": token, "date": when, "time": "10:30", "place": "Via Roma 1"},
    ).text
    assert "Appointment proposed." in proposed and "Via Roma 1" in proposed
    with session_factory(database(app)).begin() as session:
        queued = [json.loads(row.params) for row in session.scalars(select(OutboxMessage))]
        appointment_id = session.scalars(select(Appointment.id)).one()
    assert queued[-1]["chat_id"] == 4242 and "10:30" in queued[-1]["text"]
    assert len(queued[-1]["reply_markup"]["inline_keyboard"]) == 3
    early = app.post(
        f"/people/{person_id}/appointments/{appointment_id}",
        data={"csrf_token": token, "status": "attended"},
    ).text
    assert "This appointment has not happened yet." in early
    cancelled = app.post(
        f"/people/{person_id}/appointments/{appointment_id}",
        data={"csrf_token": token, "status": "cancelled"},
    ).text
    assert "Appointment cancelled. The young person is told." in cancelled
    with session_factory(database(app)).begin() as session:
        assert session.scalars(select(OutboxMessage)).all()[-1].chat_id == 4242
