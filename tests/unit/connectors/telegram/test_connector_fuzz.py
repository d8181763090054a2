"""Property-based fuzzing of the connector's intake (hypothesis): malformed and unusual updates
(missing fields, huge texts, unknown update types, bad UTF-8, edited messages, channel posts,
replays) posted to the webhook. Whatever arrives: no crash, no update stored twice, nothing left
pending, and a person who wrote in a private chat gets an answer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.db.migrate import upgrade
from bot.db.models import InboundUpdate
from bot.db.session import session_factory
from connectors.telegram.app import build_application
from connectors.telegram.delivery import Dispatcher
from connectors.telegram.intake import SECRET_HEADER, webhook_app
from tests.conftest import connector_settings
from tests.fakes.rasa import StandInRasa
from tests.fakes.telegram_api import FakeTelegramAPI

SECRET = "fuzz-secret"  # noqa: S105 (a test value)
_ids = iter(range(10**12, 10**13))

texts = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=4_000, max_size=10_000),
    st.sampled_from(["/start", "/help x", "/unknown", "🙂🙂", "\u202e\u200f", "", " ", "\x00"]),
)
people = st.integers(min_value=1, max_value=2**40)
optional = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers()))


@st.composite
def updates(draw: st.DrawFn) -> dict[str, Any]:
    """A Telegram-like update, often broken on purpose."""
    user = draw(people)
    chat_type = draw(st.sampled_from(["private", "private", "group", "supergroup", "channel"]))
    message: dict[str, Any] = {
        "message_id": draw(st.integers(min_value=1, max_value=10**6)),
        "date": draw(st.integers(min_value=0, max_value=2**31)),
        "chat": {"id": user if chat_type == "private" else -user, "type": chat_type},
        "from": {"id": user, "is_bot": False, "first_name": draw(st.text(max_size=10))},
        "text": draw(texts),
    }
    for field in draw(st.sets(st.sampled_from(["date", "from", "text", "chat", "message_id"]))):
        if draw(st.booleans()):
            message.pop(field, None)  # missing
        else:
            message[field] = draw(optional)  # of the wrong type
    kind = draw(
        st.sampled_from(
            ["message", "message", "edited_message", "channel_post", "poll", "made_up_kind"]
        )
    )
    return {"update_id": next(_ids), kind: message}


def waiting_person(update: dict[str, Any]) -> int | None:
    """The chat of a well-formed private text message: someone waits for an answer there."""
    message = update.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return None
    chat, sender = message.get("chat"), message.get("from")
    well_formed = (
        isinstance(chat, dict)
        and chat.get("type") == "private"
        and isinstance(chat.get("id"), int)
        and isinstance(sender, dict)
        and isinstance(sender.get("id"), int)
        and isinstance(sender.get("first_name"), str)
        and isinstance(message.get("date"), int)
        and isinstance(message.get("message_id"), int)
        and sender.get("is_bot") is False
    )
    return chat["id"] if well_formed else None  # type: ignore[index]


@pytest.fixture(scope="module")
def api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as fake:
        yield fake


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    yield running
    running.close()


@pytest.fixture(scope="module")
def connector(
    api: FakeTelegramAPI,
    loop: asyncio.AbstractEventLoop,
    tmp_path_factory: pytest.TempPathFactory,
):
    var = tmp_path_factory.mktemp("fuzz")
    database_url = f"sqlite:///{var / 'app.db'}"
    upgrade(database_url)
    rasa = StandInRasa()
    application = build_application(connector_settings(api, database_url, var), rasa)  # type: ignore[arg-type]
    loop.run_until_complete(application.initialize())
    sessions = session_factory(database_url)
    dispatcher = Dispatcher(application)
    yield dispatcher, webhook_app(dispatcher, SECRET), sessions
    loop.run_until_complete(dispatcher.stop(grace=1))
    loop.run_until_complete(application.shutdown())


async def _post_all(app: Any, bodies: list[bytes], dispatcher: Dispatcher) -> list[int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hook") as client:
        statuses = [
            (
                await client.post("/telegram", content=body, headers={SECRET_HEADER: SECRET})
            ).status_code
            for body in bodies
        ]
    deadline = time.monotonic() + 20
    while not dispatcher.idle():
        assert time.monotonic() < deadline, "updates still being handled"
        await asyncio.sleep(0.01)
    return statuses


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    batch=st.lists(updates(), min_size=1, max_size=6),
    replays=st.lists(st.integers(min_value=0, max_value=5), max_size=3),
    garbage=st.lists(st.binary(max_size=40), max_size=2),
)
def test_any_update_is_stored_once_and_never_crashes_the_connector(
    connector, loop, api, batch, replays, garbage
) -> None:
    dispatcher, app, sessions = connector
    bodies = [json.dumps(update).encode() for update in batch]
    bodies += [bodies[index % len(bodies)] for index in replays]  # Telegram re-sending
    bodies += [b"\xff\xfe" + chunk for chunk in garbage]  # not UTF-8, not JSON
    before = {
        chat: len(api.sent_messages(chat)) for chat in filter(None, map(waiting_person, batch))
    }
    statuses = loop.run_until_complete(_post_all(app, bodies, dispatcher))

    assert statuses[: len(batch) + len(replays)] == [200] * (len(batch) + len(replays))
    assert all(status == 400 for status in statuses[len(batch) + len(replays) :])
    ids = [update["update_id"] for update in batch]
    with sessions.begin() as session:
        rows = session.execute(
            select(InboundUpdate.state, func.count())
            .where(InboundUpdate.update_id.in_(ids))
            .group_by(InboundUpdate.state)
        ).all()
    by_state = dict(rows)
    assert sum(by_state.values()) == len(ids), "each update stored exactly once"
    assert "pending" not in by_state, "everything was handled or dropped"
    for chat, count in before.items():
        assert len(api.sent_messages(chat)) > count, f"nobody answered chat {chat}"
