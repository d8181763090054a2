"""The registration form's slots and how each answer is validated (and re-asked)."""

import re
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    db,
    entity,
    intent_of,
    language_of,
    latest_text,
)
from bot import languages
from bot.choices import typed_choice
from bot.csvsafe import looks_like_formula
from bot.messages import text
from bot.services.alerts import place_columns
from bot.services.catalogue import resolve_place
from bot.services.people import parse_age, policy
from bot.services.vocabulary import vocabulary
from bot.settings import SUPPORTED_LANGUAGES

FORM = "registration_form"
SKIP = "skip"
# Form slot → profile field, in the order the form asks.
SLOTS = {
    "reg_name": "name",
    "reg_age": "age",
    "reg_place": "place",
    "reg_guardian": "guardian",
    "reg_education": "education",
    "reg_situation": "situation",
    "reg_interests": "interests",
    "reg_gender": "gender",
    "reg_followup": "followup",
    "reg_language": "language",
}
FIELD_SLOTS = {field: slot for slot, field in SLOTS.items()}
MAX_NAME = 40
_NAME_PREFIX = re.compile(
    r"^(my name is|my name's|name is|i am|i'm|im|call me|it's|its|this is)\s+", re.IGNORECASE
)


def failures(tracker: Tracker) -> int:
    return int(tracker.get_slot("reg_failures") or 0)


def _fail(
    dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, key: str, **fields: Any
) -> dict[str, Any]:
    """Refuse an answer: say why; the form asks again (offering skip/stop after two)."""
    dispatcher.utter_message(text=text(key, language_of(tracker), **fields))
    return {slot: None, "reg_failures": float(failures(tracker) + 1)}


def _ok(slot: str, value: Any) -> dict[str, Any]:
    return {slot: value, "reg_failures": 0.0}


def _skipped(tracker: Tracker) -> bool:
    return entity(tracker, "choice") == SKIP


def _choice(tracker: Tracker, options: tuple[str, ...], key: str) -> str | None:
    """A button's choice, or typed words naming one option's label ("high school") or key."""
    chosen = entity(tracker, "choice")
    if chosen in options:
        return chosen
    typed = latest_text(tracker)
    if not typed or typed.startswith("/"):
        return None
    language = language_of(tracker)
    labels = [text(f"{key}.{option}", language) for option in options]
    index = typed_choice(typed, labels, language)
    if index is None:
        index = typed_choice(typed, [option.replace("_", " ") for option in options], language)
    return None if index is None else options[index]


def place_value(session: Any, typed: str) -> dict[str, Any] | None:
    """A typed place as the profile stores it, or None when unknown.

    A place the catalogue knows (city, region, country) is taken as is; "Zadar, Croatia"
    keeps the town as written and takes the country ("قليبية، تونس" too).
    """
    place = resolve_place(session, typed)
    if place is not None:
        return place_columns(session, place)
    typed = typed.replace("،", ",")  # the Arabic comma
    if "," in typed:
        town, _, rest = typed.rpartition(",")
        country = resolve_place(session, rest.strip())
        if country is not None and country.level == "country" and town.strip():
            name = town.strip()[:80]
            return {
                "place": f"{name}, {country.name}",
                "city": None,
                "region": None,
                "country": country.value,
            }
    return None


class ValidateRegistrationForm(FormValidationAction):
    """Checks every answer of the registration form; decides which questions to ask."""

    def name(self) -> str:
        return "validate_registration_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        editing = tracker.get_slot("edit_field")
        slots = [FIELD_SLOTS[editing]] if editing in FIELD_SLOTS else list(domain_slots)
        if editing in ("age", "place"):
            slots.append("reg_guardian")
        age = tracker.get_slot("reg_age")
        place = tracker.get_slot("reg_place") or {}
        needs_guardian = isinstance(age, (int, float)) and policy().needs_guardian(
            int(age), place.get("country") if isinstance(place, dict) else None
        )
        if not needs_guardian or tracker.get_slot("reg_guardian") == "yes":
            slots = [slot for slot in slots if slot != "reg_guardian"]
        elif "reg_guardian" not in slots:
            where = slots.index("reg_place") + 1 if "reg_place" in slots else 0
            slots.insert(where, "reg_guardian")
        return slots

    def validate_reg_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if _skipped(tracker):
            return _ok("reg_name", SKIP)
        name = _NAME_PREFIX.sub("", str(value or "").strip()).strip(" .!,")
        # A name that starts like a formula would run in a coach's spreadsheet (CSV exports).
        if name.startswith("/") or looks_like_formula(name) or not re.search(r"[^\W\d_]", name):
            return _fail(dispatcher, tracker, "reg_name", "reg_bad_name")
        if len(name) > MAX_NAME or re.search(r"https?://|@|\d{3,}", name, re.IGNORECASE):
            return _fail(dispatcher, tracker, "reg_name", "reg_bad_name", limit=MAX_NAME)
        return _ok("reg_name", name)

    def validate_reg_age(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if _skipped(tracker):
            return _ok("reg_age", SKIP)
        age = parse_age(str(value or ""))
        rules = policy()
        if age is None:
            return _fail(dispatcher, tracker, "reg_age", "reg_bad_age")
        if not rules.plausible_min <= age <= rules.plausible_max:
            return _fail(
                dispatcher, tracker, "reg_age", "reg_implausible_age",
                min=rules.plausible_min, max=rules.plausible_max,
            )  # fmt: skip
        return _ok("reg_age", float(age))

    def validate_reg_place(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if _skipped(tracker):
            return _ok("reg_place", SKIP)
        typed = str(value or "").strip()[:120]
        with db().begin() as session:
            place = place_value(session, typed) if typed and not typed.startswith("/") else None
        if place is None:
            return _fail(dispatcher, tracker, "reg_place", "reg_bad_place", place=typed[:40])
        return _ok("reg_place", place)

    def validate_reg_guardian(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if entity(tracker, "choice") == "yes" or intent_of(tracker) == "affirm":
            return _ok("reg_guardian", "yes")
        return _fail(dispatcher, tracker, "reg_guardian", "reg_bad_guardian")

    def validate_reg_education(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if _skipped(tracker):
            return _ok("reg_education", SKIP)
        chosen = _choice(tracker, policy().education_levels, "education")
        if chosen is None:
            return _fail(dispatcher, tracker, "reg_education", "reg_bad_choice")
        return _ok("reg_education", chosen)

    def validate_reg_situation(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if _skipped(tracker):
            return _ok("reg_situation", SKIP)
        chosen = _choice(tracker, policy().situations, "situation")
        # "I'm looking for a job" says which, in words no button has.
        chosen = chosen or {"ask_jobs": "work", "ask_trainings": "training"}.get(intent_of(tracker))
        if chosen is None:
            return _fail(dispatcher, tracker, "reg_situation", "reg_bad_choice")
        return _ok("reg_situation", chosen)

    def validate_reg_interests(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        chosen = list(tracker.get_slot("reg_topics_chosen") or [])
        picked = entity(tracker, "choice")
        vocab = vocabulary()
        if picked == SKIP:
            return {**_ok("reg_interests", SKIP), "reg_topics_chosen": []}
        if picked == "done":
            if not chosen:
                return _fail(dispatcher, tracker, "reg_interests", "reg_no_interests")
            return {**_ok("reg_interests", chosen), "reg_topics_chosen": []}
        if picked in vocab.topics:
            # A tap toggles a topic; the question stays open until "Done".
            chosen = [key for key in chosen if key != picked] if picked in chosen else [
                *chosen, picked,
            ]  # fmt: skip
            return {"reg_interests": None, "reg_topics_chosen": chosen, "reg_failures": 0.0}
        typed = vocab.find_topics(latest_text(tracker))
        if not typed:
            return _fail(dispatcher, tracker, "reg_interests", "reg_bad_interests")
        interests = list(dict.fromkeys([*chosen, *typed]))
        return {**_ok("reg_interests", interests), "reg_topics_chosen": []}

    def validate_reg_gender(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if _skipped(tracker):
            return _ok("reg_gender", SKIP)
        chosen = _choice(tracker, policy().genders, "gender")
        if chosen is None:
            return _fail(dispatcher, tracker, "reg_gender", "reg_bad_choice")
        return _ok("reg_gender", chosen)

    def validate_reg_followup(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        chosen = _choice(tracker, ("yes", "no"), "followup_answer")
        if chosen is None and intent_of(tracker) == "affirm":
            chosen = "yes"
        if chosen is None:
            return _fail(dispatcher, tracker, "reg_followup", "reg_bad_choice")
        return _ok("reg_followup", chosen)

    def validate_reg_language(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if _skipped(tracker):
            return _ok("reg_language", SKIP)
        chosen = entity(tracker, "choice")
        code = chosen if chosen in SUPPORTED_LANGUAGES else None
        typed = latest_text(tracker)
        code = code or languages.typed_language(typed) or languages.named_in(typed)
        if code is None:
            return _fail(dispatcher, tracker, "reg_language", "reg_bad_choice")
        return _ok("reg_language", code)
