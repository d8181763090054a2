"""The first stage of the two-stage fallback: offer the two likeliest meanings as buttons."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, language_of, payload
from bot.messages import has, text

# Never offered as a guess: they are not something a person "meant".
NOT_OFFERED = {"nlu_fallback", "out_of_scope", "affirm", "deny", "inform", "show_details"}
CARRIED_ENTITIES = ("topic", "location")


def likeliest_intents(latest_message: dict[str, Any], count: int = 2) -> list[str]:
    """The `count` most confident intents of a message that are worth offering."""
    ranking = latest_message.get("intent_ranking") or []
    names = [str(item.get("name")) for item in ranking]
    offered = [name for name in names if name not in NOT_OFFERED and has(f"intent_label.{name}")]
    return offered[:count]


class ActionDefaultAskAffirmation(Action):
    """Replaces Rasa's default: two buttons with the likeliest intents, and "something else"."""

    def name(self) -> str:
        return "action_default_ask_affirmation"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        message = tracker.latest_message or {}
        # Keep what the message already said (a topic, a place), so a tap loses nothing.
        entities = {
            item["entity"]: item["value"]
            for item in message.get("entities") or []
            if item.get("entity") in CARRIED_ENTITIES
        }
        buttons = []
        for intent in likeliest_intents(message):
            if intent == "ask_programme":
                # A retrieval intent cannot be triggered by a payload: offer the question itself.
                question = _likeliest_question(message, language)
                if question:
                    buttons.append(button(f"ℹ️ {question}", question))
                continue
            carried = entities if intent in ("ask_trainings", "ask_jobs") else {}
            buttons.append(
                button(text(f"intent_label.{intent}", language), payload(intent, **carried))
            )
        # Rasa's two-stage fallback reads `out_of_scope` as "none of these": it asks to rephrase.
        buttons.append(button(text("something_else", language), payload("out_of_scope")))
        dispatcher.utter_message(text=text("fallback_question", language), buttons=buttons)
        return []


def _likeliest_question(message: dict[str, Any], language: str) -> str | None:
    """The canonical question of the likeliest programme answer, e.g. "Is it free?"."""
    selector = (message.get("response_selector") or {}).get("ask_programme") or {}
    ranking = selector.get("ranking") or []
    for item in ranking:
        key = str(item.get("intent_response_key") or "")
        sub_intent = key.partition("/")[2]
        if sub_intent and has(f"faq_question.{sub_intent}"):
            return text(f"faq_question.{sub_intent}", language)
    return None
