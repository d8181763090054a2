"""Asking for a human coach: the bot hands the conversation over and falls silent."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, confirmed, db, language_of, payload
from bot.messages import text
from bot.services import handoff
from bot.settings import get_settings


class ActionRequestCoach(Action):
    """Open a request for a coach, tell the person, and pause the bot for this conversation.
    Asked in typed words, it first asks to confirm (a misunderstanding must not pause the bot).

    The channel learns of it (`{"neetbot": {"handoff": "waiting"}}`) so that it can keep the
    chat's address for the coach and stay silent while a coach has the conversation."""

    def name(self) -> str:
        return "action_request_coach"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        if not confirmed(dispatcher, tracker, "confirm_coach", payload("request_coach")):
            return []
        with db().begin() as session:
            handoff.request(session, tracker.sender_id, language)
        minutes = max(1, round(get_settings().handoff_timeout_seconds / 60))
        dispatcher.utter_message(
            text=text("handoff_requested", language, minutes=minutes),
            buttons=[button(text("handoff_back_button", language), payload("help"))],
        )
        dispatcher.utter_message(json_message={"neetbot": {"handoff": "waiting"}})
        return [ConversationPaused()]
