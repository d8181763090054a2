"""The connector's handlers, offline: updates go through `Application.process_update`, Bot API
calls go to the fake server, and Rasa is a stand-in that records what it was sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from telegram import Update, User

from bot.db.session import session_factory
from bot.messages import text
from bot.services import bulk, followups, handoff, people
from connectors.telegram.app import build_application
from tests.conftest import connector_settings
from tests.fakes.rasa import StandInRasa
from tests.fakes.telegram_api import FakeTelegramAPI


@pytest.fixture(scope="module")
def api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as fake:
        yield fake


@pytest.fixture
async def app(api: FakeTelegramAPI, database_url: str) -> AsyncIterator[tuple[Any, StandInRasa]]:
    rasa = StandInRasa()
    application = build_application(connector_settings(api, database_url), rasa)  # type: ignore[arg-type]
    await application.initialize()
    yield application, rasa
    await application.shutdown()


async def process(application, update: dict[str, Any]) -> None:
    await application.process_update(Update.de_json(update, application.bot))


async def test_text_goes_to_rasa_under_a_pseudonym_with_metadata(app, api) -> None:
    application, rasa = app
    await process(
        application, api.make_text_update(4242, "IT courses in Split", language_code="it")
    )
    ((sender, text, metadata),) = rasa.received
    assert text == "IT courses in Split"
    assert sender.startswith("tg-") and "4242" not in sender
    # The language the connector decided on goes along, for the coaches' transcript: "IT" and
    # "Split" are names, so two words are left, too few to overturn the Telegram app's Italian.
    assert metadata == {"language_code": "it", "chat_type": "private", "language": "it"}
    (sent,) = api.sent_messages(4242)
    assert sent["text"] == "echo: IT courses in Split" and sent["parse_mode"] == "HTML"


async def test_commands_become_intent_payloads(app, api) -> None:
    application, rasa = app
    await process(application, api.make_text_update(4243, "/start campaign-42"))
    await process(application, api.make_text_update(4243, "/help"))
    await process(application, api.make_text_update(4243, "/coach"))
    assert [text for _, text, _ in rasa.received] == ["/greet", "/help", "/request_coach"]
    assert rasa.received[0][2]["start_payload"] == "campaign-42"


async def test_long_payload_buttons_round_trip_through_a_short_key(app, api) -> None:
    application, rasa = app
    await process(application, api.make_text_update(4244, "hi"))
    (sent,) = api.sent_messages(4244)
    data = sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert len(data.encode()) <= 64 and data.startswith("#")
    await process(application, api.make_callback_update(4244, data))
    assert (
        rasa.received[-1][1]
        == '/ask_trainings{"topic":"tourism_hospitality","location":"Cluj-Napoca"}'
    )
    assert rasa.received[-1][2]["via"] == "button"
    assert api.calls_to("answerCallbackQuery")


async def test_an_unknown_button_key_is_answered_not_forwarded(app, api) -> None:
    application, rasa = app
    await process(application, api.make_callback_update(4245, "#deadbeef"))
    assert rasa.received == []
    answer = api.calls_to("answerCallbackQuery")[-1]
    assert "expired" in answer.params["text"]


async def test_stickers_and_groups_never_reach_rasa(app, api) -> None:
    application, rasa = app
    await process(application, api.make_sticker_update(4246))
    await process(application, api.make_group_text_update(4246, -100777, "hello bot"))
    assert rasa.received == []
    assert "only read text" in api.sent_messages(4246)[0]["text"]
    assert "private chats only" in api.sent_messages(-100777)[0]["text"]


async def test_a_huge_message_is_cut_and_the_person_told(app, api) -> None:
    application, rasa = app
    await process(application, api.make_text_update(4247, "a" * 10_000))
    assert len(rasa.received[0][1]) == 1000
    texts = [message["text"] for message in api.sent_messages(4247)]
    assert "long message" in texts[0] and texts[1].startswith("echo:")


async def test_rasa_down_gets_an_apology(app, api) -> None:
    application, rasa = app
    rasa.down = True
    await process(application, api.make_text_update(4248, "hello"))
    assert "technical problem" in api.sent_messages(4248)[0]["text"]


async def test_no_reply_from_rasa_still_gets_an_answer(app, api) -> None:
    application, rasa = app
    rasa.silent = True
    await process(application, api.make_text_update(4250, "jobs in Malta"))
    assert rasa.received and "technical problem" in api.sent_messages(4250)[0]["text"]


async def test_typing_shows_only_when_rasa_is_slow(app, api) -> None:
    application, rasa = app
    await process(application, api.make_text_update(4249, "fast"))
    assert not [c for c in api.calls_to("sendChatAction") if c.params["chat_id"] == 4249]
    rasa.delay = 1.3
    await process(application, api.make_text_update(4249, "slow"))
    assert [c for c in api.calls_to("sendChatAction") if c.params["chat_id"] == 4249]


def _checkin_offered(application: Any, database_url: str, user_id: int, language: str) -> str:
    """A registered person who got a check-in (its buttons offered to them): their pseudonym."""
    bridge = application.bot_data.bridge
    sender = bridge.sender_id(User(user_id, "Gio", is_bot=False))
    sessions = session_factory(database_url)
    with sessions.begin() as session:
        person = people.give_consent(session, sender, language=language)
        person.telegram_chat_id, person.followup_consent = user_id, True
        person.registered_at = people.now() - dt.timedelta(days=31)
        assert followups.queue_due(session) == 1
        (message,) = bulk.due(session, people.now(), (0, 0))
    bridge.choices.remember(sender, [{"buttons": message.buttons}])
    return sender


async def test_a_typed_answer_to_a_check_in_is_recorded_not_sent_to_rasa(
    app, api, database_url
) -> None:
    application, rasa = app
    sender = _checkin_offered(application, database_url, 4251, "it")
    await process(application, api.make_text_update(4251, "lavoro in un hotel", language_code="it"))
    assert rasa.received == []
    (reply,) = api.sent_messages(4251)
    assert reply["text"].startswith(text("checkin_noted.working", "it"))
    with session_factory(database_url).begin() as session:
        (checkin,) = followups.checkins_of(session, people.get_person(session, sender).id)  # type: ignore[union-attr]
        assert checkin.status == "working"
    await process(application, api.make_text_update(4251, "4", language_code="it"))  # 1-5
    assert rasa.received == [] and api.sent_messages(4251)[-1]["text"] == text(
        "checkin_thanks", "it"
    )
    with session_factory(database_url).begin() as session:
        (checkin,) = followups.checkins_of(session, people.get_person(session, sender).id)  # type: ignore[union-attr]
        assert checkin.helpful == 4


async def test_words_of_a_crisis_are_never_taken_for_a_check_in_answer(
    app, api, database_url
) -> None:
    application, rasa = app
    sender = _checkin_offered(application, database_url, 4252, "en")
    await process(
        application,
        api.make_text_update(4252, "still looking and I want to kill myself", language_code="en"),
    )
    with session_factory(database_url).begin() as session:
        (checkin,) = followups.checkins_of(session, people.get_person(session, sender).id)  # type: ignore[union-attr]
        assert checkin.status is None  # not an answer
        assert handoff.open_for(session, sender) is not None  # an urgent request for a coach
    seen = " ".join(message["text"] for message in api.sent_messages(4252))
    assert seen and text("checkin_noted.looking", "en") not in seen  # help, not "thanks"
