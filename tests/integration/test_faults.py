"""The fault test: 50 people send 500 messages to two connector replicas behind one address
(webhook mode; each update goes to either, as a load balancer sends it, and to the other when
one does not answer, as Telegram retries), each replica talking to its own Rasa server; the
two Rasa servers and the replicas share PostgreSQL (application and tracker store) and Redis
(Rasa's locks). Meanwhile one Rasa server, the action server and one connector replica are
killed (SIGKILL) and restarted. Afterwards every message is in Rasa's tracker exactly once, in
the order it was sent, every turn's replies reached the person once and in order, and
replayed updates change nothing (decision 26).

The PostgreSQL backend is the session's (`postgres_backend`): the processes this test kills
are replaced there by the restarted ones.
"""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.db.models import Claim, InboundUpdate, OutboxMessage
from bot.db.session import session_factory
from bot.pseudonym import pseudonym
from bot.services.claims import UPKEEP
from connectors import processes
from connectors.rasa.client import auth_headers
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.integration.conftest import SharedBackend, free_port, webhook_env

pytestmark = pytest.mark.integration

PEOPLE, EACH = 50, 10
MESSAGES = ["thanks", "any jobs in malta?", "what can you do?", "IT courses in Zagreb", "bye"]
NOTICE = "kept your message"
SECRET = "fault-webhook-secret"


def kill(process: subprocess.Popen[bytes]) -> None:
    """A crash: SIGKILL to the whole process group, no chance to clean up."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def words(text: str) -> str:
    """A message as a comparable string: no markup, no escaping, letters and digits only."""
    return re.sub(r"\W+", " ", html.unescape(re.sub(r"<[^>]+>", "", text))).strip().lower()


class Replica:
    """One connector replica in webhook mode on its own port, talking to Rasa server `rasa`."""

    def __init__(self, backend: SharedBackend, api: FakeTelegramAPI, rasa: int) -> None:
        self.backend, self.api, self.rasa = backend, api, rasa
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/telegram"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = self.backend.logs / f"connector-{self.rasa}-{self.starts}.log"
        environment = {
            **self.backend.env(self.rasa),
            "TELEGRAM_BOT_TOKEN": self.api.token,
            "TELEGRAM_API_BASE_URL": self.api.base_url,
            "TELEGRAM_RATE_LIMIT": "0",
            **webhook_env(self.port, SECRET),
        }
        command = [sys.executable, "-m", "connectors.telegram"]
        spec = processes.ProcessSpec(f"connector-{self.rasa}", command, environment)
        self.process = processes.start(spec, log)
        processes.wait_for_http(f"http://127.0.0.1:{self.port}/healthz", 60, self.process)


def deliver(replicas: list[Replica], update: dict[str, Any], first: int) -> int:
    """POST the update to replica `first`, else to the other, until one stores it (200);
    how many deliveries failed on the way."""
    for attempt in range(200):
        replica = replicas[(first + attempt) % len(replicas)]
        try:
            status = replica.api.deliver_webhook(update, url=replica.url, secret_token=SECRET)
            if status.status_code == 200:
                return attempt
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("no replica stored an update")


def restart(backend: SharedBackend, name: str) -> None:
    """Start the killed process `name` again and wait until it answers."""
    if name == "actions":
        process = processes.start(
            processes.action_server(backend.settings), backend.logs / "actions-2.log"
        )
        url = f"http://127.0.0.1:{backend.settings.actions_port}/health"
        timeout = 60
    else:
        process = processes.start(
            processes.rasa_server(backend.settings, backend.model), backend.logs / "rasa-1b.log"
        )
        url, timeout = f"{backend.settings.rasa_url}/", 300
    backend.running[name] = process
    processes.wait_for_http(url, timeout, process)


# About 5 minutes on a slow two-core host: 500 messages at Rasa's pace, a Rasa server loading
# its model again, a dead replica's chats waiting for its claims to run out (15 s).
@pytest.mark.timeout(900)
def test_nothing_is_lost_duplicated_or_reordered_when_processes_die(
    postgres_backend: SharedBackend, capsys
) -> None:
    backend = postgres_backend
    stack_settings = backend.settings
    sessions = session_factory(stack_settings.database_url)
    secret = stack_settings.pseudonym_key.get_secret_value()  # type: ignore[union-attr]
    with FakeTelegramAPI() as api:
        users = list(range(8_100_001, 8_100_001 + PEOPLE))
        sent: dict[int, list[int]] = {user: [] for user in users}
        updates: list[dict[str, Any]] = []
        replicas = [Replica(backend, api, 0), Replica(backend, api, 1)]
        for replica in replicas:
            replica.start()
        retried = [0]

        def send_all() -> None:
            # Ten rounds; in each, every person sends one message (about 8 a second in all),
            # each message to either replica: a person's messages go to both.
            for round_ in range(EACH):
                for user in users:
                    update = api.make_text_update(user, MESSAGES[(round_ + user) % len(MESSAGES)])
                    retried[0] += deliver(replicas, update, (round_ + user) % 2)
                    sent[user].append(update["update_id"])
                    updates.append(update)
                    time.sleep(0.12)

        # Which replicas hold chats, sampled while the messages come: both must take part.
        holders: set[str] = set()
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.2):
                with sessions.begin() as session:
                    holders.update(
                        session.scalars(select(Claim.owner).where(Claim.key != UPKEEP).distinct())
                    )

        sampler = threading.Thread(target=sample)
        sampler.start()
        sender = threading.Thread(target=send_all)
        sender.start()
        faults: list[str] = []
        try:
            time.sleep(8)
            kill(backend.running["rasa"])
            faults.append("Rasa server 1 killed")
            time.sleep(2)
            restart(backend, "rasa")
            faults.append("Rasa server 1 restarted")
            time.sleep(4)
            kill(backend.running["actions"])
            faults.append("action server killed")
            time.sleep(2)
            restart(backend, "actions")
            faults.append("action server restarted")
            time.sleep(4)
            assert replicas[1].process is not None
            kill(replicas[1].process)  # mid-traffic, holding chats: they wait for its claims
            faults.append("connector replica 2 killed")
            time.sleep(5)
            replicas[1].start()
            faults.append("connector replica 2 restarted")
        finally:
            sender.join()
            sampling.set()
            sampler.join()

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

        try:
            api.wait_for(settled, timeout=400)
            time.sleep(2)
            received_before = {user: len(api.sent_messages(user)) for user in users}
            # Replays: the first 50 updates again, to both replicas (as Telegram re-sends
            # after a timeout, through the load balancer).
            statuses = [
                api.deliver_webhook(update, url=replica.url, secret_token=SECRET).status_code
                for update in updates[:50]
                for replica in replicas
            ]
            time.sleep(3)
        finally:
            for replica in replicas:
                if replica.process is not None:
                    processes.stop(replica.process)
        assert statuses == [200] * 100
        replayed = sum(len(api.sent_messages(user)) - received_before[user] for user in users)

    # What Rasa recorded: each message answered once, in the order sent. An attempt that got
    # no answer (the action server was down) stays in the tracker and is counted apart.
    tracker_counts = {"answered": 0, "duplicated": 0, "missing": 0, "out_of_order": 0}
    unanswered, notices = 0, 0
    mismatched: list[str] = []
    token = stack_settings.rasa_token.get_secret_value()  # type: ignore[union-attr]
    with httpx.Client(
        base_url=stack_settings.rasa_url, timeout=30, headers=auth_headers(token)
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
            f"\nfault test: {len(ids)} messages from {PEOPLE} people to 2 connector replicas"
            f" and 2 Rasa servers on PostgreSQL and Redis; {'; '.join(faults)};"
            f" {retried[0]} deliveries refused or unanswered and sent to the other replica;"
            f" chats held by {len(holders)} connector processes in turn."
            f"\n  tracker: {tracker_counts['answered']} messages answered,"
            f" {tracker_counts['duplicated']} answered twice, {tracker_counts['missing']}"
            f" missing, {tracker_counts['out_of_order']} people out of order;"
            f" {unanswered} attempts without answer while the action server was down"
            f"\n  replies: {sum(received_before.values()) - notices} messages, {notices}"
            f" 'message kept' notices, {len(mismatched)} people whose replies differ from"
            f" Rasa's; 50 replayed updates, twice each → {replayed} new messages"
        )
    assert len(holders) >= 2, "both replicas handled chats"
    assert tracker_counts == {"answered": 500, "duplicated": 0, "missing": 0, "out_of_order": 0}
    assert mismatched == [], mismatched[:3]
    assert replayed == 0
