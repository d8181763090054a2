"""The registration form's checks and question order, and the consent and privacy actions, as
Rasa calls them (rasa-sdk's own Tracker and dispatcher), on a real database."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session, sessionmaker

from actions.consent import ActionOfferConsent, ActionRecordConsent, notice_text
from actions.privacy import ERASE_CONVERSATION, ActionDeleteData
from actions.registration.form import ValidateRegistrationForm
from actions.registration.profile import ActionSaveProfile
from actions.registration.questions import ActionAskRegAge, ActionAskRegGuardian
from bot.messages import text
from bot.services import people, privacy
from bot.services.catalogue_csv import import_catalogue
from bot.settings import get_settings
from connectors.console import after_turn
from connectors.rasa.events import EVENTS, tracker_engine
from tests.conftest import catalogue_csv, opportunity_row

FORM_SLOTS = [
    "reg_name", "reg_age", "reg_place", "reg_guardian", "reg_education", "reg_situation",
    "reg_interests", "reg_gender", "reg_followup", "reg_language",
]  # fmt: skip


@pytest.fixture
def catalogue(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        assert import_catalogue(session, catalogue_csv(opportunity_row())).ok  # Split, HR
    return sessions


def tracker(
    text: str = "",
    intent: str = "inform",
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
    sender: str = "tg-test",
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
    }
    return Tracker(
        sender, slots or {}, latest, events or [], False, None,
        {"name": "registration_form"}, "action_listen",
    )  # fmt: skip


def validate(slot: str, value: Any, **kw: Any) -> tuple[dict[str, Any], list[str]]:
    dispatcher = CollectingDispatcher()
    method = getattr(ValidateRegistrationForm(), f"validate_{slot}")
    result = method(value, dispatcher, tracker(str(value), **kw), {})
    return result, [message.get("text") or "" for message in dispatcher.messages]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("Ana", "Ana"), ("my name is Sara", "Sara"), ("I'm Ahmed!", "Ahmed"), ("Zoé", "Zoé")],
)
def test_names_are_taken_as_written(typed: str, stored: str) -> None:
    assert validate("reg_name", typed)[0]["reg_name"] == stored


@pytest.mark.parametrize("typed", ["@@@@", "12345", "/start", "x" * 60, "see https://spam.example"])
def test_what_is_not_a_name_is_refused_with_a_reason(typed: str) -> None:
    result, said = validate("reg_name", typed)
    assert result["reg_name"] is None and result["reg_failures"] == 1.0
    assert "doesn't look like a name" in said[0]


def test_failures_are_counted_and_a_good_answer_resets_them() -> None:
    result, _ = validate("reg_age", "old enough", slots={"reg_failures": 1.0})
    assert result == {"reg_age": None, "reg_failures": 2.0}
    result, _ = validate("reg_age", "I'm 17", slots={"reg_failures": 2.0})
    assert result == {"reg_age": 17.0, "reg_failures": 0.0}


def test_after_two_failures_the_question_explains_and_offers_skip_and_stop() -> None:
    dispatcher = CollectingDispatcher()
    ActionAskRegAge().run(dispatcher, tracker(slots={"reg_failures": 2.0}), {})
    (message,) = dispatcher.messages
    assert "like 17 or 23" in message["text"]
    assert [b["payload"] for b in message["buttons"]] == ['/inform{"choice":"skip"}', "/deny"]


@pytest.mark.parametrize(("typed", "ok"), [("9", False), ("150", False), ("10", True)])
def test_implausible_ages_are_refused(typed: str, ok: bool) -> None:
    assert (validate("reg_age", typed)[0]["reg_age"] is not None) is ok


def test_places_are_normalised_or_explained(catalogue) -> None:
    place = validate("reg_place", "split")[0]["reg_place"]
    assert place["place"] == "Split" and place["city"] == "split" and place["country"] == "HR"
    town = validate("reg_place", "Zadar, Croatia")[0]["reg_place"]
    assert town["place"] == "Zadar, Croatia" and town["country"] == "HR" and town["city"] is None
    arabic = validate("reg_place", "زادار، كرواتيا")[0]["reg_place"]  # the Arabic comma
    assert arabic["place"] == "زادار, Croatia" and arabic["country"] == "HR"
    result, said = validate("reg_place", "Atlantis")
    assert result["reg_place"] is None and 'I don\'t know "Atlantis"' in said[0]


def test_buttons_and_typed_labels_are_both_understood() -> None:
    chose = [{"entity": "choice", "value": "vocational"}]
    assert validate("reg_education", "/inform", entities=chose)[0]["reg_education"] == "vocational"
    assert validate("reg_education", "University or college")[0]["reg_education"] == "university"
    assert validate("reg_situation", "looking for work")[0]["reg_situation"] == "work"
    assert validate("reg_language", "italiano")[0]["reg_language"] == "it"
    assert validate("reg_language", "Arabic")[0]["reg_language"] == "ar"
    assert validate("reg_education", "high school")[0]["reg_education"] == "upper_secondary"
    assert validate("reg_education", "secondary")[0]["reg_education"] is None  # which one?
    assert validate("reg_education", "dunno")[0]["reg_education"] is None


def test_interests_toggle_until_done_or_are_typed() -> None:
    tap = [{"entity": "choice", "value": "digital"}]
    result, _ = validate("reg_interests", "/inform", entities=tap)
    assert result["reg_interests"] is None and result["reg_topics_chosen"] == ["digital"]
    result, _ = validate(
        "reg_interests", "/inform", entities=tap, slots={"reg_topics_chosen": ["digital", "green"]}
    )
    assert result["reg_topics_chosen"] == ["green"]  # tapped again: removed
    done = [{"entity": "choice", "value": "done"}]
    result, _ = validate(
        "reg_interests", "/inform", entities=done, slots={"reg_topics_chosen": ["green"]}
    )
    assert result["reg_interests"] == ["green"]
    assert validate("reg_interests", "IT and tourism")[0]["reg_interests"] == [
        "digital", "tourism_hospitality",
    ]  # fmt: skip


async def test_the_guardian_question_is_asked_only_below_the_countrys_age() -> None:
    form = ValidateRegistrationForm()

    async def required(**slots: Any) -> list[str]:
        return await form.required_slots(
            FORM_SLOTS, CollectingDispatcher(), tracker(slots=slots), {}
        )

    assert "reg_guardian" not in await required(reg_age=17.0, reg_place={"country": "HR"})
    assert "reg_guardian" in await required(reg_age=15.0, reg_place={"country": "HR"})
    assert "reg_guardian" not in await required(reg_age=15.0, reg_place={"country": "IT"})  # 14
    assert "reg_guardian" not in await required(
        reg_age=15.0, reg_place={"country": "HR"}, reg_guardian="yes"
    )
    assert await required(edit_field="name") == ["reg_name"]
    assert await required(edit_field="age", reg_age=12.0, reg_place={"country": "HR"}) == [
        "reg_age", "reg_guardian",
    ]  # fmt: skip
    dispatcher = CollectingDispatcher()
    ActionAskRegGuardian().run(dispatcher, tracker(slots={"reg_place": {"country": "SI"}}), {})
    assert "under 15" in dispatcher.messages[0]["text"]


def test_consent_notice_then_yes_is_recorded(sessions) -> None:
    dispatcher = CollectingDispatcher()
    ActionOfferConsent().run(dispatcher, tracker(intent="greet"), {})
    assert dispatcher.messages[0]["text"] == notice_text("en")
    # A "yes" that answers something else is not consent.
    ActionRecordConsent().run(CollectingDispatcher(), tracker("yes", "affirm"), {})
    with sessions.begin() as session:
        assert people.get_person(session, "tg-test") is None
    answered = [{"event": "bot", "text": notice_text("en")}]
    ActionRecordConsent().run(CollectingDispatcher(), tracker("yes", "affirm", events=answered), {})
    with sessions.begin() as session:
        assert people.get_person(session, "tg-test") is not None
    # Once decided, greetings no longer show the notice.
    dispatcher = CollectingDispatcher()
    ActionOfferConsent().run(dispatcher, tracker(intent="greet"), {})
    assert dispatcher.messages == []


def test_saving_the_profile_and_deleting_it(sessions) -> None:
    with sessions.begin() as session:
        people.give_consent(session, "tg-test")
    slots = {
        "reg_name": "Ana", "reg_age": 19.0, "reg_guardian": None,
        "reg_place": {"place": "Split", "city": "split", "region": None, "country": "HR"},
        "reg_education": "skip", "reg_situation": "work", "reg_interests": ["digital"],
        "reg_language": "hr",
    }  # fmt: skip
    dispatcher = CollectingDispatcher()
    events = ActionSaveProfile().run(dispatcher, tracker(slots=slots), {})
    # The chosen language takes over at once, and the channel is told.
    assert {"neetbot": {"language": "hr"}} in [message["custom"] for message in dispatcher.messages]
    assert dispatcher.messages[0]["text"].startswith(text("profile_saved", "hr"))
    assert text("profile_saved", "hr") != text("profile_saved", "en")
    assert {"event": "slot", "name": "language", "value": "hr", "timestamp": None} in events
    with sessions.begin() as session:
        person = people.get_person(session, "tg-test")
        assert person is not None and person.education is None and person.situation == "work"

    dispatcher = CollectingDispatcher()
    ActionDeleteData().run(dispatcher, tracker("/delete_data", "delete_data"), {})
    assert "Are you sure?" in dispatcher.messages[0]["text"]
    with sessions.begin() as session:
        assert people.get_person(session, "tg-test") is not None
    dispatcher = CollectingDispatcher()
    confirm = [{"entity": "confirm", "value": "yes"}]
    ActionDeleteData().run(dispatcher, tracker("/delete_data", "delete_data", entities=confirm), {})
    assert dispatcher.messages[-1]["custom"] == ERASE_CONVERSATION
    with sessions.begin() as session:
        assert people.get_person(session, "tg-test") is None


def test_the_console_notes_activity_and_erases_on_request(sessions, tmp_path, capsys) -> None:
    settings = get_settings()
    EVENTS.metadata.create_all(tracker_engine(settings.tracker_store_url))
    with tracker_engine(settings.tracker_store_url).begin() as connection:
        connection.execute(EVENTS.insert(), [{"sender_id": "console-1", "type_name": "user",
                                              "timestamp": 1.0, "data": "{}"}])  # fmt: skip
    with sessions.begin() as session:
        person = people.give_consent(session, "console-1", channel="console")
        before = person.last_active_at
    after_turn(settings, "console-1", [{"text": "hi"}])
    with sessions.begin() as session:
        person = people.get_person(session, "console-1")
        # (SQLite gives the stored UTC time back without its zone)
        assert person is not None
        assert person.last_active_at.replace(tzinfo=None) > before.replace(tzinfo=None)
    # The delete action erases our rows and records the erasure (actions/privacy.py); the
    # channel finishes it after the turn and only then says it is done.
    with sessions.begin() as session:
        privacy.request_erasure(session, "console-1", "en")
    after_turn(settings, "console-1", [{"custom": ERASE_CONVERSATION}])
    with tracker_engine(settings.tracker_store_url).connect() as connection:
        assert connection.execute(EVENTS.select()).fetchall() == []
    assert text("delete_done", "en") in capsys.readouterr().out
