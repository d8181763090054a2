"""Actions, as Rasa calls them: a Tracker in, messages and events out (rasa-sdk's own types)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session, sessionmaker

from actions.fallback import ActionDefaultAskAffirmation
from actions.search import (
    ActionRefineSearch,
    ActionSearchJobs,
    ActionSearchTrainings,
    ActionShowDetails,
    ActionShowMore,
)
from bot.services import people
from bot.services.catalogue_csv import import_catalogue
from tests.conftest import catalogue_csv, opportunity_row


@pytest.fixture
def catalogue(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    rows = [
        opportunity_row(title=f"Coding course {n}", start_date=f"2027-03-{n:02d}", deadline="")
        for n in range(1, 8)
    ]
    rows += [
        opportunity_row(title="Hotel receptionist", kind="job", topics="tourism_hospitality",
                        city="Sliema", region="Malta", country="MT", cost_eur="0"),
        opportunity_row(title="Cooking class", topics="tourism_hospitality", city="Palermo",
                        region="Sicilia", country="IT", cost_eur="150", mode="hybrid"),
    ]  # fmt: skip
    with sessions.begin() as session:
        assert import_catalogue(session, catalogue_csv(*rows)).ok
    return sessions


def tracker(
    text: str,
    intent: str,
    entities: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
    **message: Any,
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
    }
    return Tracker(
        "tester", slots or {}, {**latest, **message}, [], False, None, {}, "action_listen"
    )


def run(action, tracker_: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, tracker_, {})
    return dispatcher.messages, events


def slots_of(events) -> dict[str, Any]:
    return {event["name"]: event["value"] for event in events if event["event"] == "slot"}


def test_training_search_with_topic_and_place(catalogue) -> None:
    messages, events = run(
        ActionSearchTrainings(), tracker("any free IT courses in Split?", "ask_trainings")
    )
    (message,) = messages
    assert message["text"].startswith("Here are 5 of 7 trainings about Digital")
    assert " in Split:" in message["text"]
    assert "1. Coding course 1 · Code Academy Split, Split · 🗣️ HR, EN (free)" in message["text"]
    titles = [button["title"] for button in message["buttons"]]
    assert titles[:2] == ["1. Coding course 1", "2. Coding course 2"]
    assert titles[-2:] == ["➡️ Show more", "🔔 Alert me about new ones"]
    assert message["buttons"][-1]["payload"] == '/subscribe_alerts{"alert":"search"}'
    assert message["buttons"][0]["payload"].startswith('/show_details{"opportunity_id":"')
    assert slots_of(events) == {
        "search_kind": "training", "topic": "digital", "location": "Split",
        "search_filters": {"terms": [], "free": True, "online": False}, "search_page": 1.0,
    }  # fmt: skip


def test_job_search_uses_entities(catalogue) -> None:
    entities = [{"entity": "location", "value": "malta"}]
    messages, _ = run(ActionSearchJobs(), tracker("jobs in malta", "ask_jobs", entities))
    assert messages[0]["text"].startswith("Here is the only job in Malta:")
    assert "Hotel receptionist" in messages[0]["text"]


def test_no_topic_no_place_asks_for_a_topic(catalogue) -> None:
    messages, events = run(ActionSearchTrainings(), tracker("/ask_trainings", "ask_trainings"))
    assert messages[0]["text"].startswith("What would you like to learn?")
    assert len(messages[0]["buttons"]) == 13
    assert messages[0]["buttons"][0]["payload"] == '/inform{"topic":"digital"}'
    assert SlotSet("search_kind", "training") in events


def test_no_results_offers_a_wider_search_that_finds_something(catalogue) -> None:
    entities = [{"entity": "topic", "value": "tourism_hospitality"}]
    messages, _ = run(
        ActionSearchTrainings(), tracker("cooking courses in split", "ask_trainings", entities)
    )
    assert messages[0]["text"].startswith("I found no trainings about Tourism")
    offers = {button["payload"]: button["title"] for button in messages[1]["buttons"]}
    assert offers['/inform{"location":"any"}'] == "🌍 Tourism & hospitality anywhere (1)"
    assert offers['/inform{"topic":"any","location":"Split"}'] == "📍 Anything in Split (7)"


def test_refine_keeps_the_topic_and_changes_the_place(catalogue) -> None:
    slots = {
        "search_kind": "training",
        "topic": "tourism_hospitality",
        "location": "Split",
        "search_page": 1,
    }
    messages, events = run(ActionRefineSearch(), tracker("in palermo", "inform", slots=slots))
    assert "Cooking class" in messages[0]["text"]
    assert slots_of(events)["location"] == "Palermo"
    assert slots_of(events)["topic"] == "tourism_hospitality"


def test_show_more_then_the_end(catalogue) -> None:
    slots = {"search_kind": "training", "topic": "digital", "location": "Split", "search_page": 1}
    messages, events = run(ActionShowMore(), tracker("more", "show_more", slots=slots))
    assert messages[0]["text"].startswith("Page 2 of 2.")
    assert "6. Coding course 6" in messages[0]["text"]
    assert slots_of(events)["search_page"] == 2.0
    messages, _ = run(
        ActionShowMore(), tracker("more", "show_more", slots={**slots, "search_page": 2})
    )
    assert messages[0]["text"].startswith("That's all I have")


def test_show_more_without_a_search(catalogue) -> None:
    messages, events = run(ActionShowMore(), tracker("more", "show_more"))
    assert "Tell me what you are looking for" in messages[0]["text"] and events == []


def test_details_show_what_is_needed_to_apply(catalogue) -> None:
    messages, _ = run(ActionSearchTrainings(), tracker("cooking course palermo", "ask_trainings"))
    payload = messages[0]["buttons"][0]["payload"]
    opportunity_id = payload.split('"')[3]
    entities = [{"entity": "opportunity_id", "value": opportunity_id}]
    messages, events = run(ActionShowDetails(), tracker(payload, "show_details", entities))
    text = messages[0]["text"]
    for expected in (
        "Cooking class",
        "🏢 Code Academy Split",
        "Palermo, Sicilia, IT",
        "online and in person",
        "150 €",
        "ages 18–29",
        "https://code-academy.example/bootcamp",
        "How to apply:",
    ):
        assert expected in text, expected
    assert events == [SlotSet("opportunity_id", opportunity_id)]


def test_details_of_something_gone(catalogue) -> None:
    entities = [{"entity": "opportunity_id", "value": "99999"}]
    messages, _ = run(ActionShowDetails(), tracker("/show_details", "show_details", entities))
    assert "can't find that one" in messages[0]["text"]


def test_fallback_offers_the_two_likeliest_intents() -> None:
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.5},
        {"name": "ask_jobs", "confidence": 0.3},
        {"name": "out_of_scope", "confidence": 0.1},
        {"name": "ask_trainings", "confidence": 0.08},
        {"name": "greet", "confidence": 0.02},
    ]
    entities = [{"entity": "location", "value": "Malta"}]
    messages, events = run(
        ActionDefaultAskAffirmation(),
        tracker("smth in malta", "nlu_fallback", entities, intent_ranking=ranking),
    )
    buttons = messages[0]["buttons"]
    assert [b["payload"] for b in buttons] == [
        '/ask_jobs{"location":"Malta"}', '/ask_trainings{"location":"Malta"}', "/out_of_scope",
    ]  # fmt: skip
    assert events == []


def test_details_asked_in_words_without_a_result_shown(catalogue) -> None:
    messages, events = run(ActionShowDetails(), tracker("tell me more about it", "show_details"))
    assert messages[0]["text"].startswith("Which one? Tap its number") and events == []


def _total_shown(text: str) -> int:
    """How many results a search's first message announces (0 when it found none)."""
    if text.startswith("I found no"):
        return 0
    if text.startswith("Here is the only"):
        return 1
    found = re.match(r"Here are (?:\d+ of )?(\d+) ", text)
    assert found, text
    return int(found.group(1))


def test_each_wider_search_finds_as_many_as_its_button_says(sessions) -> None:
    """The count on a "widen the search" button is the number of results its search shows:
    the same age limits of the person's profile, and the filters that search keeps."""
    rows = [
        # in Split: two paid courses of another topic, one free one for 16-year-olds
        opportunity_row(title="Paid coding 1", cost_eur="90"),
        opportunity_row(title="Paid coding 2", cost_eur="90"),
        opportunity_row(title="Free coding for teens", min_age="15", max_age="19"),
        # tourism elsewhere: one a 16-year-old may join, one from 18
        opportunity_row(title="Cooking for teens", topics="tourism_hospitality", city="Palermo",
                        region="Sicilia", country="IT", min_age="15", max_age="25"),
        opportunity_row(title="Hotel internship", topics="tourism_hospitality", city="Sliema",
                        region="Malta", country="MT"),
        # tourism jobs in Split: one paid is no matter for a job search, one only from 18
        opportunity_row(title="Waiter", kind="job", topics="tourism_hospitality", cost_eur="0",
                        min_age="16", max_age="30"),
        opportunity_row(title="Night porter", kind="job", topics="tourism_hospitality"),
    ]  # fmt: skip
    with sessions.begin() as session:
        assert import_catalogue(session, catalogue_csv(*rows)).ok
        people.give_consent(session, "tester", language="en")
        people.save_profile(session, "tester", people.Profile(age=16, country="HR"))
    entities = [{"entity": "topic", "value": "tourism_hospitality"}]
    messages, events = run(
        ActionSearchTrainings(), tracker("free cooking courses in split", "ask_trainings", entities)
    )
    assert messages[0]["text"].startswith("I found no trainings about Tourism")
    buttons = messages[1]["buttons"]
    assert len(buttons) == 3, buttons
    slots = slots_of(events)
    for offer in buttons:
        announced = int(re.search(r"\((\d+)\)$", offer["title"]).group(1))
        intent, _, arguments = offer["payload"][1:].partition("{")
        values = json.loads("{" + arguments) if arguments else {}
        found = [{"entity": key, "value": value} for key, value in values.items()]
        if intent == "inform":
            action, state = ActionRefineSearch(), slots
        else:
            action = ActionSearchJobs() if intent == "ask_jobs" else ActionSearchTrainings()
            state = {}
        shown, _ = run(action, tracker(offer["payload"], intent, found, slots=state))
        assert _total_shown(shown[0]["text"]) == announced, (offer, shown[0]["text"])
    titles = [offer["title"] for offer in buttons]
    assert titles == [
        "🌍 Tourism & hospitality anywhere (1)",  # the internship is from 18
        "📍 Anything in Split (1)",  # free, and for a 16-year-old: the teens' course only
        "🔁 Jobs about Tourism & hospitality in Split instead (1)",  # the waiter
    ]


def test_a_wider_search_button_keeps_its_place_after_another_search(catalogue) -> None:
    """ "📍 Anything in Split" searches Split, even when the person tapped another button (or
    searched elsewhere) since: the button carries the place it names."""
    entities = [{"entity": "topic", "value": "tourism_hospitality"}]
    messages, first = run(
        ActionSearchTrainings(), tracker("cooking courses in split", "ask_trainings", entities)
    )
    offers = {button["title"]: button["payload"] for button in messages[1]["buttons"]}
    anywhere = [{"entity": "location", "value": "any"}]
    _, second = run(
        ActionRefineSearch(),
        tracker(offers["🌍 Tourism & hospitality anywhere (1)"], "inform", anywhere,
                slots=slots_of(first)),
    )  # fmt: skip
    assert slots_of(second)["location"] is None
    stale = offers["📍 Anything in Split (7)"]
    values = json.loads(stale[len("/inform") :])  # what Rasa reads from the payload
    found = [{"entity": key, "value": value} for key, value in values.items()]
    shown, third = run(
        ActionRefineSearch(), tracker(stale, "inform", found, slots=slots_of(second))
    )
    assert shown[0]["text"].startswith("Here are 5 of 7 trainings in Split")
    assert slots_of(third)["location"] == "Split"
