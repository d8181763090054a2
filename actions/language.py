"""Choosing the conversation's language: /language, "change_language", or "in Italian please"."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    announce_language,
    button,
    confirmed,
    db,
    entity,
    language_of,
    latest_text,
    payload,
)
from bot import languages
from bot.messages import text
from bot.services.people import set_language


def language_buttons() -> list[dict[str, str]]:
    """One button per supported language, each written in its own language."""
    return [
        button(languages.self_name(code), payload("change_language", language=code))
        for code in languages.supported()
    ]


class ActionChangeLanguage(Action):
    """Switch to the language chosen (button) or named ("parla italiano", asked to confirm
    first); else offer them."""

    def name(self) -> str:
        return "action_change_language"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        chosen = entity(tracker, "language")
        code = languages.supported_code(chosen) if chosen else None
        if code is None and not latest_text(tracker).startswith("/"):
            code = languages.named_in(latest_text(tracker))
        if code is None:
            current = language_of(tracker)
            key = "language_unsupported" if chosen else "language_pick"
            dispatcher.utter_message(text=text(key, current), buttons=language_buttons())
            return []
        if not confirmed(
            dispatcher, tracker, "confirm_language", payload("change_language", language=code),
            language=languages.self_name(code),
        ):  # fmt: skip
            return []
        with db().begin() as session:
            set_language(session, tracker.sender_id, code)  # registered people keep it
        announce_language(dispatcher, code)
        dispatcher.utter_message(
            text=text("language_changed", code),
            buttons=[
                button(text("find_training_button", code), payload("ask_trainings")),
                button(text("find_job_button", code), payload("ask_jobs")),
            ],
        )
        return [SlotSet("language", code)]
