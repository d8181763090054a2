"""The load test (Locust, as Rasa's own load-testing guide uses): simulated young people write
to the bot as Telegram would deliver their messages, to our connector's webhook, and wait for
the answer, which the connector sends to a stand-in for Telegram's Bot API served by this
same process. Each person waits for the answer, reads and types for a few seconds, and writes
again, as a person would.

What Locust reports, per request name:
- "turn": from the update's POST until the first message of the answer reaches the stand-in
  (what a young person waits for); a turn with no answer within `ANSWER_TIMEOUT` fails;
- "webhook": the POST alone (until the connector has stored the update and said 200).

`bench/load.py` runs it against a started system at 100, 500 and 1,000 people and prints the
figures. By hand, with the connector started against the stand-in's port:

    NEETBOT_LOAD_BOT_API_PORT=8081 NEETBOT_LOAD_SECRET=... .venv/bin/locust \\
        -f bench/locustfile.py --headless -u 100 -r 10 -t 2m --host http://127.0.0.1:8443
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from typing import Any

import gevent
from gevent.event import Event
from gevent.pywsgi import WSGIServer
from locust import FastHttpUser, between, events, task

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
TOKEN = "123456:load-test-token"  # noqa: S105 - the stand-in's own
ANSWER_TIMEOUT = 60.0  # seconds a person waits for an answer before the turn counts as failed
# What people write: questions the bot answers (jobs, trainings, the programme), small talk, in
# a few of the ten languages, with a place name now and then.
MESSAGES = [
    "hi", "any jobs in malta?", "IT courses in Zagreb", "what can you do?", "thanks",
    "ciao, cerco lavoro a Napoli", "bonjour", "corsi di informatica", "bok, tražim posao",
    "cursos de cocina en Valencia", "what is the youth guarantee?", "bye",
]  # fmt: skip
BOT = {"id": 999001, "is_bot": True, "first_name": "NEET bot", "username": "neet_load_bot"}


class Replies:
    """The stand-in's record: for each chat, the times its messages arrived, and who waits."""

    def __init__(self) -> None:
        self.arrived: dict[int, list[float]] = {}
        self.waiting: dict[int, Event] = {}
        self.message_ids = itertools.count(1)

    def sent(self, chat: int) -> None:
        self.arrived.setdefault(chat, []).append(time.monotonic())
        waiter = self.waiting.get(chat)
        if waiter is not None:
            waiter.set()

    def wait(self, chat: int, count: int, timeout: float) -> float | None:
        """When the chat's `count`-th message arrived; None if not within `timeout`."""
        deadline = time.monotonic() + timeout
        while len(self.arrived.get(chat, [])) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            waiter = self.waiting[chat] = Event()
            if len(self.arrived.get(chat, [])) >= count:
                break
            waiter.wait(left)
        return self.arrived[chat][count - 1]


REPLIES = Replies()


def bot_api(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Enough of Telegram's Bot API for the connector: every call succeeds; sendMessage is
    recorded (getUpdates is never called: the connector is in webhook mode)."""
    method = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    params: dict[str, Any] = {}
    if body and environ.get("CONTENT_TYPE", "").startswith("application/json"):
        params = json.loads(body)
    elif body:
        from urllib.parse import parse_qsl

        params = dict(parse_qsl(body.decode()))
    result: Any = True
    if method == "getMe":
        result = {**BOT, "can_join_groups": False}
    elif method == "sendMessage":
        chat = int(params["chat_id"])
        REPLIES.sent(chat)
        result = {
            "message_id": next(REPLIES.message_ids),
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private"},
            "from": BOT,
            "text": params.get("text", ""),
        }
    elif method == "getWebhookInfo":
        result = {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
    payload = json.dumps({"ok": True, "result": result}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [payload]


def serve_bot_api(port: int) -> WSGIServer:
    """Start the stand-in on 127.0.0.1:`port` (in this process's gevent loop)."""
    server = WSGIServer(("127.0.0.1", port), bot_api, log=None, error_log=None)
    server.start()
    return server


@events.init.add_listener
def _standin(environment: Any, **_: Any) -> None:
    port = os.environ.get("NEETBOT_LOAD_BOT_API_PORT")
    if port and not getattr(environment, "bot_api", None):
        environment.bot_api = serve_bot_api(int(port))


CHATS = itertools.count(70_000_001)
UPDATES = itertools.count(500_000_001)


class YoungPerson(FastHttpUser):
    """One young person writing to the bot."""

    wait_time = between(5, 15)  # reading the answer and typing the next message
    secret = os.environ.get("NEETBOT_LOAD_SECRET", "")

    def on_start(self) -> None:
        self.chat = next(CHATS)
        self.turns = 0

    @task
    def write(self) -> None:
        text = random.choice(MESSAGES)  # noqa: S311 - not security
        self.turns += 1
        already = len(REPLIES.arrived.get(self.chat, []))
        update = {
            "update_id": next(UPDATES),
            "message": {
                "message_id": self.turns,
                "date": int(time.time()),
                "chat": {"id": self.chat, "type": "private", "first_name": "Load"},
                "from": {"id": self.chat, "is_bot": False, "first_name": "Load",
                         "language_code": "en"},
                "text": text,
            },
        }  # fmt: skip
        started = time.monotonic()
        with self.client.post(
            "/telegram", json=update, headers={SECRET_HEADER: self.secret}, name="webhook",
            catch_response=True,
        ) as response:  # fmt: skip
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
                return
        answered = REPLIES.wait(self.chat, already + 1, ANSWER_TIMEOUT)
        events.request.fire(
            request_type="telegram",
            name="turn",
            response_time=((answered or time.monotonic()) - started) * 1000,
            response_length=0,
            exception=None if answered else TimeoutError("no answer"),
            context={},
        )
        if answered is None:
            gevent.sleep(ANSWER_TIMEOUT)  # let the late answer arrive before writing again
        else:
            gevent.sleep(0.5)  # the rest of a several-message answer
