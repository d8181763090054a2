"""The fault test: 50 people send 500 messages through the fake Bot API while the Rasa server,
then the action server, then the connector are killed and restarted. Afterwards every message is
in Rasa's tracker exactly once, in the order it was sent, every turn's replies reached the person
once and in order, and replayed updates change nothing.

Its own Rasa server, action server and database (the session's stack is not disturbed).
"""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.db.models import InboundUpdate, OutboxMessage
from bot.db.session import session_factory
from bot.pseudonym import pseudonym
from connectors import processes
from connectors.rasa.client import auth_headers
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.integration.conftest import (
    Stack,
    free_port,
    stack_settings,
    start_connector,
    webhook_env,
)

pytestmark = pytest.mark.integration

PEOPLE, EACH = 50, 10
MESSAGES = ["thanks", "any jobs in malta?", "what can you do?", "IT courses in Zagreb", "bye"]
NOTICE = "kept your message"


def kill(process: subprocess.Popen[bytes]) -> None:
    """A crash: SIGKILL to the whole process group, no chance to clean up."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def words(text: str) -> str:
    """A message as a comparable string: no markup, no escaping, letters and digits only."""
    return re.sub(r"\W+", " ", html.unescape(re.sub(r"<[^>]+>", "", text))).strip().lower()


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory, trained_model: Path):
    var = tmp_path_factory.mktemp("faults")
    settings = stack_settings(var)
    logs = var / "logs"
    running = processes.start_backend(settings, trained_model, logs)
    state = {"actions": running[0], "rasa": running[1]}
    yield Stack(settings, trained_model, logs), state
    for process in state.values():
        processes.stop(process)


def restart_rasa(stack: Stack, state: dict[str, Any]) -> None:
    state["rasa"] = processes.start(
        processes.rasa_server(stack.settings, stack.model), stack.logs / "rasa-2.log"
    )
    processes.wait_for_http(f"{stack.settings.rasa_url}/", 300, state["rasa"])


def restart_actions(stack: Stack, state: dict[str, Any]) -> None:
    state["actions"] = processes.start(
        processes.action_server(stack.settings), stack.logs / "actions-2.log"
    )
    url = f"http://127.0.0.1:{stack.settings.actions_port}/health"
    processes.wait_for_http(url, 60, state["actions"])


# About 5 minutes with its setup on a slow two-core host: 500 messages at Rasa's pace, and
# Rasa's restart loads the model again.
@pytest.mark.timeout(900)
def test_nothing_is_lost_duplicated_or_reordered_when_processes_die(backend, capsys) -> None:
    stack, state = backend
    sessions = session_factory(stack.settings.database_url)
    secret = stack.settings.pseudonym_key.get_secret_value()  # type: ignore[union-attr]
    with FakeTelegramAPI() as api:
        users = list(range(8_100_001, 8_100_001 + PEOPLE))
        sent: dict[int, list[int]] = {user: [] for user in users}
        updates: list[dict[str, Any]] = []
        connector = start_connector(stack, api, "telegram-faults")
        api.wait_for(lambda: api.calls_to("getUpdates"), timeout=30)

        def send_all() -> None:
            # Ten rounds; in each, every person sends one message (about 8 a second in all).
            for round_ in range(EACH):
                for user in users:
                    update = api.make_text_update(user, MESSAGES[(round_ + user) % len(MESSAGES)])
                    sent[user].append(api.push_update(update))
                    updates.append(update)
                    time.sleep(0.12)

        sender = threading.Thread(target=send_all)
        sender.start()
        faults: list[str] = []
        time.sleep(8)
        kill(state["rasa"])
        faults.append("Rasa server killed")
        time.sleep(2)
        restart_rasa(stack, state)
        faults.append("Rasa server restarted")
        time.sleep(6)
        kill(state["actions"])
        faults.append("action server killed")
        time.sleep(2)
        restart_actions(stack, state)
        faults.append("action server restarted")
        time.sleep(6)
        processes.stop(connector.process)  # SIGTERM mid-traffic, as a redeploy does
        faults.append("connector stopped")
        time.sleep(2)
        connector = start_connector(stack, api, "telegram-faults-2")
        faults.append("connector restarted")
        sender.join()

        ids = [update["update_id"] for update in updates]

        def settled() -> bool:
            with sessions.begin() as session:
                done = session.scalar(
                    select(func.count())
                    .select_from(InboundUpdate)
                    .where(InboundUpdate.update_id.in_(ids), InboundUpdate.state != "pending")
                )
                queued = session.scalar(select(func.count()).select_from(OutboxMessage))
            return done == len(ids) and queued == 0

        api.wait_for(settled, timeout=400)
        time.sleep(2)
        processes.stop(connector.process)
        received_before = {user: len(api.sent_messages(user)) for user in users}

        # Replays: the first 50 updates again, by webhook (as Telegram re-sends after a timeout).
        port = free_port()
        hook = start_connector(
            stack,
            api,
            "telegram-faults-webhook",
            **webhook_env(port, "fault-webhook-secret"),
        )
        try:
            api.wait_for(lambda: api.webhook.get("url"), timeout=30)
            statuses = [api.deliver_webhook(update).status_code for update in updates[:50]]
            time.sleep(3)
        finally:
            processes.stop(hook.process)
        assert statuses == [200] * 50
        replayed = sum(len(api.sent_messages(user)) - received_before[user] for user in users)

    # What Rasa recorded: each message answered once, in the order sent. An attempt that got
    # no answer (the action server was down) stays in the tracker and is counted apart.
    tracker_counts = {"answered": 0, "duplicated": 0, "missing": 0, "out_of_order": 0}
    unanswered, notices = 0, 0
    mismatched: list[str] = []
    token = stack.settings.rasa_token.get_secret_value()  # type: ignore[union-attr]
    with httpx.Client(
        base_url=stack.settings.rasa_url, timeout=30, headers=auth_headers(token)
    ) as rasa:
        for user in users:
            sender_id = pseudonym(secret, "tg", user)
            response = rasa.get(
                f"/conversations/{sender_id}/tracker",
                params={"include_events": "APPLIED"},
            )
            turns: list[tuple[int | None, list[str]]] = []
            for event in response.json()["events"]:
                if event["event"] == "user":
                    turns.append(((event.get("metadata") or {}).get("update_id"), []))
                elif event["event"] == "bot" and event.get("text") and turns:
                    turns[-1][1].append(words(event["text"]))
            answered = [(update_id, said) for update_id, said in turns if said]
            unanswered += sum(1 for update_id, said in turns if not said)
            answered_ids = [update_id for update_id, _ in answered]
            tracker_counts["answered"] += len(answered_ids)
            tracker_counts["duplicated"] += len(answered_ids) - len(set(answered_ids))
            tracker_counts["missing"] += len(set(sent[user]) - set(answered_ids))
            tracker_counts["out_of_order"] += answered_ids != sent[user]
            # What the person saw, apart from "your message is kept" notices, must be exactly
            # the bot's messages of those turns, in order.
            seen = [words(message["text"]) for message in api.sent_messages(user)]
            notices += sum(NOTICE in text for text in seen)
            seen = [text for text in seen if NOTICE not in text]
            expected = [text for _, said in answered for text in said]
            if seen != expected:
                mismatched.append(f"{user}: saw {seen}, Rasa said {expected}")

    with capsys.disabled():
        print(
            f"\nfault test: {len(ids)} messages from {PEOPLE} people; {'; '.join(faults)}."
            f"\n  tracker: {tracker_counts['answered']} messages answered,"
            f" {tracker_counts['duplicated']} answered twice, {tracker_counts['missing']}"
            f" missing, {tracker_counts['out_of_order']} people out of order;"
            f" {unanswered} attempts without answer while the action server was down"
            f"\n  replies: {sum(received_before.values()) - notices} messages, {notices}"
            f" 'message kept' notices, {len(mismatched)} people whose replies differ from"
            f" Rasa's; 50 replayed updates → {replayed} new messages"
        )
    assert tracker_counts == {"answered": 500, "duplicated": 0, "missing": 0, "out_of_order": 0}
    assert mismatched == [], mismatched[:3]
    assert replayed == 0
