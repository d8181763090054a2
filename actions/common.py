"""Helpers every action uses: the database session, the language, entities and payloads."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session, sessionmaker

from bot.db.session import session_factory
from bot.messages import text
from bot.payloads import button as button
from bot.payloads import payload as payload
from bot.settings import get_settings


def db() -> sessionmaker[Session]:
    """The session factory of the action server (created on first use, not at import)."""
    return session_factory(get_settings().database_url)


def language_of(tracker: Tracker) -> str:
    """The language to answer in (the `language` slot once it exists; English until then)."""
    slots = tracker.slots or {}
    return str(slots.get("language") or get_settings().default_language)


def announce_language(dispatcher: CollectingDispatcher, code: str) -> None:
    """Tell the channel that the conversation's language is now `code` (it keeps track)."""
    dispatcher.utter_message(json_message={"neetbot": {"language": code}})


def entity_values(tracker: Tracker, name: str) -> list[str]:
    """The values of entity `name` in the latest message, in order."""
    entities = (tracker.latest_message or {}).get("entities") or []
    return [str(item["value"]) for item in entities if item.get("entity") == name]


def latest_text(tracker: Tracker) -> str:
    """The text of the latest user message ("" when none)."""
    return str((tracker.latest_message or {}).get("text") or "")


def intent_of(tracker: Tracker) -> str:
    """The intent of the latest user message ("" when none)."""
    return str(((tracker.latest_message or {}).get("intent") or {}).get("name") or "")


def entity(tracker: Tracker, name: str) -> str | None:
    """The first value of entity `name` in the latest message, if any."""
    values = entity_values(tracker, name)
    return values[0] if values else None


def last_bot_text(tracker: Tracker) -> str:
    """The text of the assistant's last message in this conversation ("" when none)."""
    for event in reversed(tracker.events):
        if event.get("event") == "bot":
            return str(event.get("text") or "")
    return ""


def explicit(tracker: Tracker) -> bool:
    """The latest message was a command or a button (a payload), not typed words."""
    return latest_text(tracker).startswith("/")


def confirmed(
    dispatcher: CollectingDispatcher, tracker: Tracker, key: str, yes: str, **fields: Any
) -> bool:
    """Whether a consequential request may go ahead. Asked in typed words ("I want a coach"),
    it is first put as a question with two buttons ("Shall I ask a coach to join? [Yes,
    please] [No, carry on]"), so that a misunderstanding never starts it; a command, a button
    (`yes` is the payload of the one that goes ahead) or a typed yes right after the question
    lets it go ahead (True)."""
    language = language_of(tracker)
    question = text(key, language, **fields)
    if explicit(tracker) or (intent_of(tracker) == "affirm" and last_bot_text(tracker) == question):
        return True
    dispatcher.utter_message(
        text=question,
        buttons=[
            button(text("confirm_yes_button", language), yes),
            button(text("confirm_no_button", language), payload("deny")),
        ],
    )
    return False


def channel_of(tracker: Tracker) -> str:
    """Where the person writes from: "console" for `make chat`, else "telegram"."""
    return "console" if tracker.sender_id.startswith("console-") else "telegram"
