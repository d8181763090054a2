"""The connector's other situations: Rasa down, webhook mode, no token."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from connectors import processes
from tests.integration.conftest import free_port, start_connector, webhook_env
from tests.integration.person import Person, text_of

pytestmark = pytest.mark.integration


def test_when_rasa_is_down_messages_are_kept_and_answered_once_it_is_back(
    stack, fake_telegram
) -> None:
    down = start_connector(stack, fake_telegram, "telegram-no-rasa", RASA_PORT=str(free_port()))
    person = Person(fake_telegram)
    try:
        notice = text_of(person.say("hello", timeout=40))
        assert "technical problem" in notice and "kept your message" in notice
        fake_telegram.send_text(person.user_id, "thanks")  # waits behind the first
        time.sleep(4)
        assert len(person.seen()) == 1, "told once, not once per message or per attempt"
        assert down.process.poll() is None, "the connector keeps running"
    finally:
        processes.stop(down.process)
    assert person.user_id and str(person.user_id) not in down.output()
    # A connector that reaches Rasa picks up both stored messages and answers them in order.
    up = start_connector(stack, fake_telegram, "telegram-back")
    try:
        # "hello" gets the greeting and the privacy notice, "thanks" one answer.
        fake_telegram.wait_for_messages(person.user_id, 4, timeout=60)
        time.sleep(1)
        replies = [text_of([message]) for message in person.seen()[1:]]
        assert len(replies) == 3, replies
        assert "I help young people" in replies[0] and "about your data" in replies[1]
        assert "welcome" in replies[2]
    finally:
        processes.stop(up.process)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_webhook_mode_checks_the_secret(stack, fake_telegram) -> None:
    port = free_port()
    hook = start_connector(
        stack,
        fake_telegram,
        "telegram-webhook",
        **webhook_env(port, "s3cret-token_value"),
    )
    try:
        webhook = fake_telegram.wait_for(lambda: fake_telegram.webhook.get("url"), timeout=30)
        assert webhook == f"http://127.0.0.1:{port}/telegram"
        # PTB may register the webhook a moment before its server listens (seen on a loaded
        # machine): wait until the port answers.
        fake_telegram.wait_for(lambda: listening(port), timeout=30)
        person = Person(fake_telegram)
        update = fake_telegram.make_text_update(person.user_id, "hi")
        forged = fake_telegram.deliver_webhook(update, secret_token="wrong")
        assert forged.status_code == 403
        missing = fake_telegram.deliver_webhook(update, secret_token="")
        assert missing.status_code == 403
        assert fake_telegram.sent_messages(person.user_id) == []

        before = len(person.seen())
        response = fake_telegram.deliver_webhook(
            fake_telegram.make_text_update(person.user_id, "hi")
        )
        assert response.status_code == 200
        fake_telegram.wait_for_messages(person.user_id, before + 1, timeout=30)
        assert "I help young people" in text_of(person.seen()[before:])
    finally:
        processes.stop(hook.process)


def test_without_a_token_the_connector_explains_and_exits_2(stack) -> None:
    env = {key: value for key, value in stack.env().items() if key != "TELEGRAM_BOT_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "connectors.telegram"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr
