"""Rendering Rasa replies for Telegram: escaping, splitting, keyboards, callback data."""

from __future__ import annotations

import html

from sqlalchemy.orm import Session, sessionmaker

from connectors.telegram.callbacks import PayloadStore
from connectors.telegram.render import MAX_MESSAGE, render_replies, split_text


def test_text_is_escaped_for_html() -> None:
    (message,) = render_replies([{"text": "Tom & Jerry <3 a<b>"}], lambda p: p)
    assert message.text == "Tom &amp; Jerry &lt;3 a&lt;b&gt;"
    assert message.keyboard is None


def test_long_text_is_split_under_the_limit_without_losing_anything() -> None:
    paragraph = "Learn & earn <now> " * 40
    text = "\n\n".join([paragraph] * 30)
    chunks = split_text(text)
    assert len(chunks) > 1
    assert all(len(html.escape(chunk)) <= MAX_MESSAGE for chunk in chunks)
    assert "".join(chunks).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )


def test_a_word_longer_than_the_limit_is_cut() -> None:
    chunks = split_text("x" * 10_000)
    assert [len(chunk) for chunk in chunks] == [4096, 4096, 1808]


def test_buttons_go_under_the_last_chunk() -> None:
    replies = [{"text": "y " * 5000, "buttons": [{"title": "More", "payload": "/show_more"}]}]
    messages = render_replies(replies, lambda p: p)
    assert [m.keyboard is not None for m in messages] == [False, False, True]
    button = messages[-1].keyboard.inline_keyboard[0][0]
    assert (button.text, button.callback_data) == ("More", "/show_more")


def test_buttons_without_text_still_shown() -> None:
    (message,) = render_replies([{"buttons": [{"title": "A", "payload": "/a"}]}], lambda p: p)
    assert message.text and message.keyboard is not None


def test_long_payloads_get_short_keys_that_survive_a_restart(
    sessions: sessionmaker[Session],
) -> None:
    long_payload = '/ask_trainings{"topic":"tourism_hospitality","location":"Cluj-Napoca, Romania"}'
    store = PayloadStore(sessions)
    short = store.encode("/show_more")
    key = store.encode(long_payload)
    assert short == "/show_more"
    assert len(key.encode()) <= 64 and key != long_payload
    assert store.encode(long_payload) == key
    assert PayloadStore(sessions).decode(key) == long_payload  # a new process, same database
    assert PayloadStore(sessions).decode("#unknown") is None
    emoji = "🎓" * 20  # 80 bytes in UTF-8
    assert len(store.encode(emoji).encode()) <= 64
