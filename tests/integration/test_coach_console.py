"""Handoff and safeguarding end to end: a young person on (fake) Telegram, the connector, Rasa,
the action server, and a coach in the dashboard (a real uvicorn process) over HTTP. Checked by
what the person sees in their chat and what the coach sees in the console."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.db.models import Rating
from bot.db.session import session_factory
from bot.messages import text as message_text
from bot.pseudonym import pseudonym
from connectors import processes
from tests.integration.coach import Coach
from tests.integration.conftest import (
    Connector,
    Dashboard,
    Stack,
    create_account,
    start_connector,
    start_dashboard,
)
from tests.integration.person import Person, buttons, listed_titles, text_of

pytestmark = pytest.mark.integration

PASSWORD = "coach password 123"
TIMEOUT = 8  # seconds a request waits for a coach in this module
QUIET = 2.5  # seconds in which the bot must stay silent


@pytest.fixture(scope="module")
def connector(stack: Stack, fake_telegram) -> Iterator[Connector]:
    running = start_connector(
        stack, fake_telegram, "telegram-coach",
        HANDOFF_TIMEOUT_SECONDS=str(TIMEOUT), HANDOFF_POLL_SECONDS="0.5",
    )  # fmt: skip
    fake_telegram.wait_for(lambda: fake_telegram.calls_to("getUpdates"), timeout=30)
    yield running
    processes.stop(running.process)


@pytest.fixture(scope="module")
def dashboard(stack: Stack, fake_telegram) -> Iterator[Dashboard]:
    create_account(stack, "ana", "coach", PASSWORD)
    running = start_dashboard(stack, fake_telegram, "dashboard-coach")
    yield running
    processes.stop(running.process)


@pytest.fixture
def coach(dashboard: Dashboard) -> Iterator[Coach]:
    signed_in = Coach(dashboard.url, "ana", PASSWORD)
    yield signed_in
    signed_in.close()


def sender_of(chat: Person) -> str:
    return pseudonym("test-secret-key-0123456789abcdefghij", "tg", chat.user_id)


def silent(chat: Person, text: str) -> None:
    """Send `text` and check that nothing comes back for a while."""
    before = len(chat.seen())
    chat.api.push_update(chat.api.make_text_update(chat.user_id, text, language_code="en"))
    time.sleep(QUIET)
    assert chat.seen()[before:] == [], text_of(chat.seen()[before:])


def wait_for_text(chat: Person, part: str, before: int, timeout: float = 15) -> str:
    chat.api.wait_for(lambda: part in text_of(chat.seen()[before:]), timeout=timeout)
    return text_of(chat.seen()[before:])


def test_a_coach_takes_over_replies_into_telegram_and_hands_back(
    connector: Connector, coach: Coach, fake_telegram, stack: Stack
) -> None:
    chat = Person(fake_telegram)
    asked = text_of(chat.say("/coach"))
    assert asked.startswith("🧑‍💼 OK, I've asked a coach to join this chat.")
    # The first message while waiting is acknowledged; after that the bot says nothing.
    assert text_of(chat.say("hello? is anyone there")) == message_text("handoff_received", "en")
    silent(chat, "hello??")

    handoff_id = coach.waiting_handoff(sender_of(chat))
    before = len(chat.seen())
    coach.post(f"/handoffs/{handoff_id}/take")
    joined = wait_for_text(chat, "has joined the chat", before)
    # Young people see the coach's display name ("Ana", made from the username), not the login
    assert joined == message_text("handoff_coach_joined", "en", name="Ana")

    before = len(chat.seen())
    coach.post(f"/handoffs/{handoff_id}/reply", text="Hi, I'm Ana. What are you looking for?")
    assert wait_for_text(chat, "Hi, I'm Ana", before) == "Hi, I'm Ana. What are you looking for?"
    silent(chat, "a job in tourism maybe")  # the coach answers, never the bot

    # The coach reads everything, as it arrives, with what the bot understood.
    sender = sender_of(chat)
    live = coach.get(f"/conversations/{sender}/events.json?after=0").json()["entries"]
    said = [(entry["kind"], entry["text"]) for entry in live if entry["kind"] in ("user", "bot")]
    assert ("user", "hello? is anyone there") in said
    assert ("user", "a job in tourism maybe") in said
    assert ("bot", "Hi, I'm Ana. What are you looking for?") in said
    coach_lines = [entry["text"] for entry in live if entry["by"] == "ana"]
    assert coach_lines == ["Hi, I'm Ana. What are you looking for?"]  # what she typed
    # the "joined" text is automatic: the assistant's line, not labelled as typed by her
    assert ("bot", joined) in said
    page = coach.get(f"/conversations/{sender}").text
    assert "a job in tourism maybe" in page and "request_coach" in page

    before = len(chat.seen())
    coach.post(f"/handoffs/{handoff_id}/handback")
    # Handed back, then asked once how it was (the coach's display name, never the login)
    told = wait_for_text(chat, "How was talking to", before)
    assert told == message_text("handoff_ended", "en") + "\n" + message_text(
        "rating_question", "en", name="Ana"
    )
    assert buttons(chat.seen()[-1:]) == ["1 😞", "2 🙁", "3 😐", "4 🙂", "5 😀"]
    assert text_of(chat.tap(chat.seen()[-1:], "4")) == message_text("rating_thanks", "en")
    with session_factory(stack.settings.database_url).begin() as session:
        (rating,) = session.scalars(select(Rating).where(Rating.score.is_not(None)))
        assert rating.score == 4 and rating.sender_id is None  # kept without the person
    results = text_of(chat.say("IT courses in Zagreb", replies=1))
    assert listed_titles(results), results
    assert "Waiting for a coach" not in coach.get("/conversations").text.split(sender)[0]


def test_a_crisis_message_gets_help_at_once_and_tops_the_list_as_urgent(
    connector: Connector, coach: Coach, fake_telegram
) -> None:
    chat = Person(fake_telegram)
    chat.say("/start", replies=1)
    help_text = text_of(chat.say("i dont want to live anymore, i want to kill myself"))
    assert help_text.startswith("💛 Thank you for telling me.")
    assert "call 112" in help_text and "116 123" in help_text
    # The bot does not go on with trainings and jobs: a coach will answer.
    assert text_of(chat.say("jobs in Split")) == message_text("handoff_received", "en")

    listing = coach.get("/conversations").text
    pinned = listing.split("<h2>All conversations</h2>")[0]
    first_row = pinned.split("<tbody>")[1].split("</tr>")[0]
    assert sender_of(chat) in first_row and "URGENT: self harm" in first_row
    transcript = coach.get(f"/conversations/{sender_of(chat)}").text
    assert "i want to kill myself" in transcript and "Thank you for telling me." in transcript
    # Tidy up: a coach takes it and hands it back (the person is told).
    handoff_id = coach.waiting_handoff(sender_of(chat))
    coach.post(f"/handoffs/{handoff_id}/take")
    before = len(chat.seen())
    coach.post(f"/handoffs/{handoff_id}/handback")
    wait_for_text(chat, "The coach has left", before)


def test_when_nobody_takes_a_request_the_bot_offers_to_carry_on(
    connector: Connector, dashboard: Dashboard, fake_telegram
) -> None:
    chat = Person(fake_telegram)
    chat.say("/coach")
    before = len(chat.seen())
    timed_out = wait_for_text(chat, "no coach is free", before, timeout=TIMEOUT + 15)
    assert timed_out == message_text("handoff_timeout", "en")
    offer = chat.seen()[before:]
    assert buttons(offer) == [
        message_text("handoff_timeout_bot_button", "en"),
        message_text("handoff_timeout_again_button", "en"),
    ]
    back = text_of(chat.tap(offer, "🤖 Carry on"))
    assert back and "coach" not in back.lower().split("\n")[0]
    results = text_of(chat.say("IT courses in Zagreb"))
    assert listed_titles(results), results


def test_back_to_the_assistant_while_waiting(connector: Connector, fake_telegram) -> None:
    chat = Person(fake_telegram)
    asked = chat.say("/coach")
    answer = text_of(chat.tap(asked, "🤖 Back to the assistant"))
    assert answer  # the bot answers again (its help)
    results = text_of(chat.say("IT courses in Zagreb"))
    assert listed_titles(results), results


def test_a_coach_asked_for_in_words_is_confirmed_first(
    connector: Connector, coach: Coach, fake_telegram
) -> None:
    chat = Person(fake_telegram)
    asked = chat.say("I want to talk to a coach")
    assert text_of(asked) == message_text("confirm_coach", "en")
    assert buttons(asked) == [
        message_text("confirm_yes_button", "en"),
        message_text("confirm_no_button", "en"),
    ]
    assert (
        f'data-sender="{sender_of(chat)}"'
        not in coach.get("/conversations").text.split("<h2>All conversations</h2>")[0]
    )  # not paused, nothing waits
    paused = text_of(chat.say("yes"))  # typed: taps "Yes, please"
    assert paused.startswith("🧑‍💼 OK, I've asked a coach to join this chat.")
    assert coach.waiting_handoff(sender_of(chat))

    other = Person(fake_telegram)
    other.say("can a real person answer me?")
    declined = text_of(other.say("no"))
    assert "asked a coach" not in declined and declined.strip()
    results = text_of(other.say("IT courses in Zagreb"))
    assert listed_titles(results), results


def test_nonsense_never_pauses_the_bot(connector: Connector, coach: Coach, fake_telegram) -> None:
    chat = Person(fake_telegram)
    flood = text_of(chat.say("blah " * 400))
    assert "coach" not in flood.lower()
    results = text_of(chat.say("any free IT courses for women in Vilnius?"))
    assert "A coach will read this" not in results
    assert listed_titles(results) or "Vilnius" in results, results
    assert (
        f'data-sender="{sender_of(chat)}"'
        not in coach.get("/conversations").text.split("<h2>All conversations</h2>")[0]
    )


def test_a_question_while_waiting_is_answered_and_the_place_kept(
    connector: Connector, coach: Coach, fake_telegram
) -> None:
    chat = Person(fake_telegram)
    chat.say("/coach")
    meanwhile = chat.say("any IT courses in Zagreb?", replies=2)
    assert listed_titles(text_of(meanwhile)), text_of(meanwhile)
    assert text_of(meanwhile).endswith(message_text("handoff_meanwhile", "en"))
    kept = chat.tap(meanwhile, "⏳ Keep waiting")
    assert text_of(kept) == message_text("handoff_still_waiting", "en")
    assert coach.waiting_handoff(sender_of(chat))  # still in the queue
