"""How each question of the registration form is asked: its text and its buttons."""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    button,
    language_of,
    payload,
)
from actions.registration.form import SKIP, failures
from bot import languages
from bot.messages import text
from bot.services.people import policy
from bot.services.vocabulary import vocabulary
from bot.settings import SUPPORTED_LANGUAGES


def _skip_stop_buttons(language: str) -> list[dict[str, str]]:
    return [
        button(text("reg_skip_button", language), payload("inform", choice=SKIP)),
        button(text("reg_stop_button", language), payload("deny")),
    ]


def _choice_buttons(key: str, options: tuple[str, ...], language: str) -> list[dict[str, str]]:
    """One button per option, labelled from messages.yml (`key.option`)."""
    return [
        button(text(f"{key}.{option}", language), payload("inform", choice=option))
        for option in options
    ]


class _AskAction:
    """Asks one question of the form; after two failed answers, explains and offers skip/stop.

    Not an `Action` itself (rasa-sdk registers every Action subclass).
    """

    slot = ""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    def buttons(self, tracker: Tracker, language: str) -> list[dict[str, str]]:
        return []

    def fields(self, tracker: Tracker) -> dict[str, Any]:
        return {}

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        question = text(f"reg_ask.{self.slot}", language, **self.fields(tracker))
        buttons = self.buttons(tracker, language)
        if failures(tracker) >= 2:
            question = text(f"reg_help.{self.slot}", language)
            if self.slot not in ("reg_guardian", "reg_followup"):
                buttons = [*buttons, *_skip_stop_buttons(language)]
        dispatcher.utter_message(text=question, buttons=buttons)
        return []


class ActionAskRegName(_AskAction, Action):
    """Name or nickname."""

    slot = "reg_name"


class ActionAskRegAge(_AskAction, Action):
    """Age."""

    slot = "reg_age"


class ActionAskRegPlace(_AskAction, Action):
    """Where they live."""

    slot = "reg_place"


class ActionAskRegGuardian(_AskAction, Action):
    """Under the age of digital consent: a parent or guardian must agree."""

    slot = "reg_guardian"

    def fields(self, tracker: Tracker) -> dict[str, Any]:
        place = tracker.get_slot("reg_place")
        country = place.get("country") if isinstance(place, dict) else None
        return {"min_age": policy().consent_age(country)}

    def buttons(self, tracker: Tracker, language: str) -> list[dict[str, str]]:
        return [
            button(text("reg_guardian_yes", language), payload("inform", choice="yes")),
            button(text("reg_guardian_no", language), payload("deny")),
        ]


class ActionAskRegEducation(_AskAction, Action):
    """Education level, as buttons."""

    slot = "reg_education"

    def buttons(self, tracker: Tracker, language: str) -> list[dict[str, str]]:
        return _choice_buttons("education", policy().education_levels, language)


class ActionAskRegSituation(_AskAction, Action):
    """Current situation, as buttons."""

    slot = "reg_situation"

    def buttons(self, tracker: Tracker, language: str) -> list[dict[str, str]]:
        return _choice_buttons("situation", policy().situations, language)


class ActionAskRegInterests(_AskAction, Action):
    """Interests: topic buttons that toggle (✅ marks the chosen ones), then "Done"."""

    slot = "reg_interests"

    def buttons(self, tracker: Tracker, language: str) -> list[dict[str, str]]:
        chosen = set(tracker.get_slot("reg_topics_chosen") or [])
        buttons = [
            button(
                f"{'✅' if key in chosen else info.emoji} {info.label(language)}".strip(),
                payload("inform", choice=key),
            )
            for key, info in vocabulary().topics.items()
        ]
        buttons.append(button(text("reg_done_button", language), payload("inform", choice="done")))
        return buttons

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        chosen = tracker.get_slot("reg_topics_chosen") or []
        if not chosen or failures(tracker) >= 2:
            return super().run(dispatcher, tracker, domain)
        language = language_of(tracker)
        labels = ", ".join(vocabulary().topics[key].label(language) for key in chosen)
        dispatcher.utter_message(
            text=text("reg_interests_so_far", language, topics=labels),
            buttons=self.buttons(tracker, language),
        )
        return []


class ActionAskRegGender(_AskAction, Action):
    """Gender, optional: asked only for the funders' figures and offers reserved to women."""

    slot = "reg_gender"

    def buttons(self, tracker: Tracker, language: str) -> list[dict[str, str]]:
        return _choice_buttons("gender", policy().genders, language)


class ActionAskRegFollowup(_AskAction, Action):
    """May the assistant check in with them later (a question in 1, 3 and 6 months)?"""

    slot = "reg_followup"

    def buttons(self, tracker: Tracker, language: str) -> list[dict[str, str]]:
        return _choice_buttons("followup_answer", ("yes", "no"), language)


class ActionAskRegLanguage(_AskAction, Action):
    """Preferred language: one button per language, each written in its own language."""

    slot = "reg_language"

    def buttons(self, tracker: Tracker, language: str) -> list[dict[str, str]]:
        return [
            button(languages.self_name(code), payload("inform", choice=code))
            for code in SUPPORTED_LANGUAGES
        ]
