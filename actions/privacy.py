"""/mydata and /delete: a person sees everything stored about them, or erases it.

The conversation itself lives in Rasa's tracker store, which Rasa rewrites at the end of each
turn; so these actions only *ask* the channel (a custom message `{"neetbot": ...}`) to send the
export, or to erase the conversation once the turn is over. See bot/services/privacy.py.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import AllSlotsReset, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, db, entity, intent_of, language_of, last_bot_text, payload
from bot.messages import text
from bot.services.people import erase_person
from bot.services.privacy import request_erasure

SEND_EXPORT = {"neetbot": {"send_my_data": True}}
ERASE_CONVERSATION = {"neetbot": {"erase_conversation": True}}


class ActionExportData(Action):
    """/mydata: the channel sends a JSON file of everything stored about the person."""

    def name(self) -> str:
        return "action_export_data"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text=text("mydata_sending", language_of(tracker)))
        dispatcher.utter_message(json_message=SEND_EXPORT)
        return []


class ActionDeleteData(Action):
    """/delete: ask to confirm; on "yes", erase the database rows at once and ask the channel
    to finish (it confirms once everything is erased)."""

    def name(self) -> str:
        return "action_delete_data"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        question = text("delete_confirm", language)
        confirmed = entity(tracker, "confirm") == "yes" or (
            intent_of(tracker) == "affirm" and last_bot_text(tracker) == question
        )
        if not confirmed:
            dispatcher.utter_message(
                text=question,
                buttons=[
                    button(text("delete_yes_button", language),
                           payload("delete_data", confirm="yes")),
                    button(text("delete_no_button", language), payload("deny")),
                ],
            )  # fmt: skip
            return []
        with db().begin() as session:
            erase_person(session, tracker.sender_id)
            # The rest (the conversation itself) once the turn is over, by the channel, which
            # says "erased" only when it is; retried until then.
            request_erasure(session, tracker.sender_id, language)
        dispatcher.utter_message(text=text("delete_erasing", language))
        dispatcher.utter_message(json_message=ERASE_CONVERSATION)
        return [AllSlotsReset()]
