"""Consent, registration, profile, alerts, /mydata, /delete and /stop through Telegram (the fake
Bot API), the connector, the Rasa server and the action server; checked by what the person
sees and by what is (or is no longer) stored."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db.models import AlertDelivery, Person, Subscription
from bot.db.session import session_factory
from bot.messages import text as message_text
from bot.pseudonym import pseudonym
from connectors import processes
from tests.conftest import catalogue_csv, opportunity_row
from tests.integration.conftest import Connector, Stack, start_connector
from tests.integration.person import Person as Chat
from tests.integration.person import buttons, text_of

pytestmark = pytest.mark.integration

NAME = "Zorbalina"  # distinctive, so the log check cannot be fooled by other text


@pytest.fixture(scope="module")
def connector(stack: Stack, fake_telegram) -> Iterator[Connector]:
    """The connector, looking for alerts every half second, with no quiet hours (the night
    queue is tested with a clock in tests/unit/connectors/telegram/test_alert_sender.py)."""
    running = start_connector(
        stack, fake_telegram, "telegram-accounts",
        ALERT_POLL_SECONDS="0.5", ALERT_QUIET_START="0", ALERT_QUIET_END="0",
    )  # fmt: skip
    fake_telegram.wait_for(lambda: fake_telegram.calls_to("getUpdates"), timeout=30)
    yield running
    processes.stop(running.process)


def stored_person(stack: Stack, chat: Chat) -> Person | None:
    sender = pseudonym("test-secret-key-0123456789abcdefghij", "tg", chat.user_id)
    with session_factory(stack.settings.database_url).begin() as session:
        person = session.scalar(select(Person).where(Person.sender_id == sender))
        if person is not None:
            session.expunge(person)
        return person


def tracker_events(stack: Stack, chat: Chat) -> int:
    sender = pseudonym("test-secret-key-0123456789abcdefghij", "tg", chat.user_id)
    with sqlite3.connect(stack.settings.tracker_db_path) as db:
        return db.execute("SELECT count(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()[
            0
        ]


def gender_and_followup(
    chat: Chat, replies: list[dict], gender: str = "🤐 Prefer not to say", followup: bool = False
) -> list[dict]:
    """The two questions after the interests: gender (optional) and later check-ins."""
    assert "optional" in text_of(replies)  # the gender question says it may be left out
    replies = chat.tap(replies, gender)
    assert "May I stay in touch?" in text_of(replies)
    key = "followup_answer.yes" if followup else "followup_answer.no"
    return chat.tap(replies, message_text(key, "en"))


def accept_and_register(
    chat: Chat, age: str = "19", place: str = "Split", followup: bool = False
) -> list[dict]:
    """/register, consent, and every question answered well (interests: Digital & IT)."""
    replies = chat.say("/register", replies=2)
    replies = chat.tap(replies, "✅ I agree", replies=3)
    assert "What's your name?" in text_of(replies)
    chat.say(NAME)
    chat.say(age)
    replies = chat.say(place)
    replies = chat.tap(replies, "Upper secondary")
    replies = chat.tap(replies, "💼 Looking for work")
    replies = chat.tap(replies, "💻")
    replies = chat.tap(replies, "✔️ Done")
    replies = gender_and_followup(chat, replies, followup=followup)
    return chat.tap(replies, "English", replies=2)


def test_start_shows_the_privacy_notice_and_declining_stores_nothing(
    connector, fake_telegram, stack
) -> None:
    chat = Chat(fake_telegram)
    replies = chat.say("/start", replies=2)
    text = text_of(replies)
    assert "about your data" in text and "/delete" in text and "Do you agree?" in text
    assert buttons(replies)[-2:] == ["✅ I agree", "🙅 No thanks"]
    replies = chat.tap(replies, "🙅 No thanks")
    assert "I store nothing about you" in text_of(replies)
    assert stored_person(stack, chat) is None
    # They can still search; the notice does not come back on every greeting.
    assert "Digital & IT" in text_of(chat.say("IT courses in Zagreb"))
    assert "about your data" not in text_of(chat.say("hello"))
    # Registering later asks again.
    assert "Do you agree?" in text_of(chat.say("/register", replies=2))


def test_typed_yes_right_after_the_notice_is_consent(connector, fake_telegram, stack) -> None:
    chat = Chat(fake_telegram)
    chat.say("/start", replies=2)
    assert "Thank you" in text_of(chat.say("yes", replies=2))
    person = stored_person(stack, chat)
    assert person is not None and person.consent_version and person.registered_at is None


def test_registration_with_bad_answers_and_a_question_in_between(
    connector, fake_telegram, stack
) -> None:
    chat = Chat(fake_telegram)
    replies = chat.say("/register", replies=2)
    assert "I need your OK first" in text_of(replies)
    replies = chat.tap(replies, "✅ I agree", replies=3)
    assert "What's your name?" in text_of(replies)

    replies = chat.say("@@@@", replies=2)
    assert "doesn't look like a name" in text_of(replies)
    assert "What's your name?" in text_of(replies)
    assert "How old are you?" in text_of(chat.say(NAME))

    assert "as a number" in text_of(chat.say("old enough", replies=2))
    replies = chat.say("twenty", replies=2)  # second failure: explain, offer skip/stop
    assert "I need your age as a number, like 17 or 23" in text_of(replies)
    assert buttons(replies)[-2:] == ["⏭️ Skip this question", "⏹️ Stop registering"]
    assert "Where do you live?" in text_of(chat.say("I'm 17"))

    replies = chat.say("Atlantis", replies=2)
    assert 'I don\'t know "Atlantis"' in text_of(replies)
    replies = chat.say("Split")
    assert "highest level of school" in text_of(replies)

    # A question in the middle: answered, then the form goes on where it was.
    replies = chat.say("what is the Youth Guarantee?", replies=2)
    assert "Youth Guarantee" in text_of(replies)
    assert "highest level of school" in text_of(replies[-1:])

    replies = chat.tap(replies, "Upper secondary")
    replies = chat.tap(replies, "🔀 Both")
    replies = chat.tap(replies, "💻")
    assert "So far: Digital & IT" in text_of(replies)
    replies = chat.tap(replies, "🌱")
    replies = chat.tap(replies, "✔️ Done")
    replies = gender_and_followup(chat, replies, gender="👩 A woman", followup=True)
    assert "Which language" in text_of(replies)
    replies = chat.tap(replies, "Italiano", replies=2)
    text = text_of(replies)  # the chosen language takes over at once
    assert message_text("profile_saved", "it") in text
    assert NAME in text and "17" in text and "Split" in text

    person = stored_person(stack, chat)
    assert person is not None
    assert (person.name, person.age, person.place, person.country) == (NAME, 17, "Split", "HR")
    assert (person.education, person.situation, person.language) == (
        "upper_secondary", "both", "it",
    )  # fmt: skip
    assert person.interest_keys == ["digital", "green"]
    assert person.registered_at is not None and person.guardian_consent_at is None
    assert (person.gender, person.followup_consent) == ("woman", True)


def test_under_the_age_of_consent_a_guardian_must_agree(connector, fake_telegram, stack) -> None:
    chat = Chat(fake_telegram)
    replies = chat.say("/register", replies=2)
    chat.tap(replies, "✅ I agree", replies=3)
    chat.say(NAME)
    chat.say("14")
    replies = chat.say("Zagreb")  # Croatia: 16
    assert "under 16" in text_of(replies) and "parent or guardian" in text_of(replies)
    replies = chat.tap(replies, "❌ No")
    assert "nothing was saved" in text_of(replies)
    person = stored_person(stack, chat)
    assert person is not None and person.registered_at is None and person.age is None

    # With the guardian's OK the profile is saved, and the agreement recorded.
    replies = chat.say("/register", replies=2)
    chat.say(NAME)
    chat.say("14")
    replies = chat.say("Zagreb")
    replies = chat.tap(replies, "✅ Yes, they agree")
    assert "highest level of school" in text_of(replies)
    replies = chat.tap(replies, "Upper secondary")
    replies = chat.tap(replies, "🤷 Not sure yet")
    replies = chat.tap(replies, "💻")
    replies = chat.tap(replies, "✔️ Done")
    replies = gender_and_followup(chat, replies)
    assert "your profile is saved" in text_of(chat.tap(replies, "English", replies=2))
    person = stored_person(stack, chat)
    assert person is not None and person.age == 14 and person.guardian_consent_at is not None


def test_out_of_the_age_range_they_are_told_but_can_browse(connector, fake_telegram) -> None:
    chat = Chat(fake_telegram)
    text = text_of(accept_and_register(chat, age="34", place="Malta"))
    assert "programmes here are for people aged 15 to 29" in text
    assert "Digital & IT" in text_of(chat.say("IT courses in Malta"))


def test_profile_shows_and_changes_one_answer(connector, fake_telegram, stack) -> None:
    chat = Chat(fake_telegram)
    accept_and_register(chat)
    replies = chat.say("/profile")
    text = text_of(replies)
    assert "Your profile" in text and NAME in text and "Digital & IT" in text
    replies = chat.tap(replies, "✏️ Age")
    assert "How old are you?" in text_of(replies)
    replies = chat.say("21")
    assert "profile is updated" in text_of(replies) and "Age: 21" in text_of(replies)
    person = stored_person(stack, chat)
    assert person is not None and person.age == 21 and person.name == NAME
    assert person.interest_keys == ["digital"]

    # A registered person who asks without a topic or place gets results from the profile.
    replies = chat.say("I'm looking for a job", replies=2)
    assert "matches your profile" in text_of(replies)
    assert re.search(r"jobs? about Digital & IT in Split", text_of(replies)), text_of(replies)


def test_alerts_subscribe_receive_and_cancel(connector, fake_telegram, stack, tmp_path) -> None:
    chat = Chat(fake_telegram)
    replies = accept_and_register(chat)
    replies = chat.tap(replies, "🔔 Alerts for my interests")
    assert "I'll message you about New trainings and jobs about Digital & IT in Split" in text_of(
        replies
    )
    replies = chat.say("/alerts", replies=2)
    assert "Your alerts:" in text_of(replies)

    # A new item appears: `neetbot catalogue import`, as an admin would do it.
    new = tmp_path / "new.csv"
    new.write_text(
        catalogue_csv(
            opportunity_row(title="Cloud support apprenticeship", kind="job", min_age="16"),
            opportunity_row(title="Baking course", topics="tourism_hospitality"),
        )
    )
    before = len(chat.seen())
    result = subprocess.run(
        [str(Path(sys.executable).parent / "neetbot"), "catalogue", "import", str(new)],
        env=stack.env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"[1-9]\d* alert\(s\) queued", result.stdout), result.stdout
    fake_telegram.wait_for_messages(chat.user_id, before + 1, timeout=20)
    time.sleep(1.5)
    alerts_seen = chat.seen()[before:]
    assert len(alerts_seen) == 1  # the matching item only, once
    assert "Cloud support apprenticeship" in text_of(alerts_seen)
    replies = chat.tap(alerts_seen, "📄 Details")
    assert "Cloud support apprenticeship" in text_of(replies)

    replies = chat.tap(alerts_seen, "🔕 Stop these alerts")
    assert "Cancelled" in text_of(replies)
    with session_factory(stack.settings.database_url).begin() as session:
        person = session.scalar(select(Person).where(Person.name == NAME, Person.id.in_(
            select(AlertDelivery.person_id))))  # fmt: skip
        assert person is not None and person.subscriptions == []
        assert {d.status for d in person.deliveries} == {"sent"}
    assert "no alerts yet" in text_of(chat.say("/alerts"))


def test_alert_for_a_typed_search(connector, fake_telegram, stack) -> None:
    chat = Chat(fake_telegram)
    chat.say("/start", replies=2)
    chat.say("yes", replies=2)
    replies = chat.say("hotel jobs in Malta")
    replies = chat.tap(replies, "🔔 Alert me about new ones")
    assert "New jobs about Tourism" in text_of(replies) and "in Malta" in text_of(replies)
    with session_factory(stack.settings.database_url).begin() as session:
        sender = pseudonym("test-secret-key-0123456789abcdefghij", "tg", chat.user_id)
        subscription = session.scalar(
            select(Subscription).join(Person).where(Person.sender_id == sender)
        )
        assert subscription is not None
        assert (subscription.kind, subscription.country) == ("job", "MT")


def test_mydata_sends_everything_as_a_json_document(connector, fake_telegram, stack) -> None:
    chat = Chat(fake_telegram)
    accept_and_register(chat)
    before = len(fake_telegram.calls_to("sendDocument"))
    replies = chat.say("/mydata")
    assert "everything I store about you" in text_of(replies)
    fake_telegram.wait_for(lambda: len(fake_telegram.calls_to("sendDocument")) > before)
    call = fake_telegram.calls_to("sendDocument")[-1]
    assert call.params["chat_id"] == chat.user_id
    upload = call.files["document"]
    assert upload.filename == "my-data.json"
    document = json.loads(upload.content)
    assert document["profile"]["name"] == NAME and document["profile"]["interests"] == ["digital"]
    assert document["consent"]["notice_version"]
    said = [line["text"] for line in document["conversation"] if line["from"] == "you"]
    assert NAME in said and "/register" in said


def test_delete_erases_everything_after_confirmation(connector, fake_telegram, stack) -> None:
    chat = Chat(fake_telegram)
    replies = accept_and_register(chat)
    chat.tap(replies, "🔔 Alerts for my interests")
    assert tracker_events(stack, chat) > 0

    replies = chat.say("/delete")
    assert "Are you sure?" in text_of(replies)
    assert "I deleted nothing" in text_of(chat.tap(replies, "No, keep it"))
    assert stored_person(stack, chat) is not None

    replies = chat.say("please delete my data")
    replies = chat.tap(replies, "🗑️ Yes, delete everything", replies=2)
    # "erasing…", then "erased" once the conversation itself is gone too
    assert "Erasing everything about you now" in text_of(replies)
    assert "Everything about you is erased" in text_of(replies)
    fake_telegram.wait_for(lambda: tracker_events(stack, chat) == 0, timeout=10)
    assert stored_person(stack, chat) is None
    with session_factory(stack.settings.database_url).begin() as session:
        sender = pseudonym("test-secret-key-0123456789abcdefghij", "tg", chat.user_id)
        assert not session.scalar(select(func.count()).select_from(Person).where(
            Person.sender_id == sender))  # fmt: skip
    with sqlite3.connect(stack.settings.tracker_db_path) as db:
        dumped = "\n".join(str(row) for row in db.execute("SELECT * FROM events"))
    assert pseudonym("test-secret-key-0123456789abcdefghij", "tg", chat.user_id) not in dumped

    # Writing again starts fresh: the notice again, nothing remembered.
    assert "Do you agree?" in text_of(chat.say("/start", replies=2))


def test_stop_withdraws_consent_in_one_step(connector, fake_telegram, stack) -> None:
    chat = Chat(fake_telegram)
    replies = accept_and_register(chat)
    chat.tap(replies, "🔔 Alerts for my interests")
    replies = chat.say("/stop")
    assert "consent is withdrawn" in text_of(replies)
    assert stored_person(stack, chat) is None
    assert "Do you agree?" in text_of(chat.say("/alerts", replies=2))


def test_no_personal_data_or_ids_in_any_log(connector, fake_telegram, stack) -> None:
    """Runs last in this module: every process's log after all the conversations above."""
    chat = Chat(fake_telegram)
    accept_and_register(chat, age="23", place="Palermo")
    chat.say("/mydata")
    time.sleep(1)
    logs = {path.name: path.read_text(errors="replace") for path in Path(stack.logs).glob("*.log")}
    assert {"rasa.log", "actions.log", "telegram-accounts.log"} <= set(logs)
    forbidden = [NAME, str(chat.user_id), "Palermo", fake_telegram.token]
    for name, content in logs.items():
        for secret in forbidden:
            assert secret not in content, f"{secret!r} appears in {name}"
        assert not re.search(r"\b23 years|'reg_age': 23|\"reg_age\": 23", content), name
