"""Registration: the profile form (ask, validate, save), stopping it, showing and changing it.

The form is Rasa's `registration_form`. Its slots are filled from the text of the answer (or
a button's `choice`), validated here with a clear re-ask; after two failed answers to one
question it explains what it needs and offers to skip it or stop. Nothing is written to the
database until the last answer: then the whole profile is saved (a new one or an update).
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    announce_language,
    button,
    db,
    entity,
    intent_of,
    language_of,
    latest_text,
    payload,
)
from actions.consent import ask_consent_first, has_consent
from bot import languages
from bot.choices import typed_choice
from bot.csvsafe import looks_like_formula
from bot.db.models import Person
from bot.messages import text
from bot.services.alerts import place_columns
from bot.services.catalogue import resolve_place
from bot.services.people import Profile, get_person, parse_age, policy, save_profile
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
    "reg_language": "language",
}
FIELD_SLOTS = {field: slot for slot, field in SLOTS.items()}
MAX_NAME = 40
_NAME_PREFIX = re.compile(
    r"^(my name is|my name's|name is|i am|i'm|im|call me|it's|its|this is)\s+", re.IGNORECASE
)


def _failures(tracker: Tracker) -> int:
    return int(tracker.get_slot("reg_failures") or 0)


def _fail(
    dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, key: str, **fields: Any
) -> dict[str, Any]:
    """Refuse an answer: say why; the form asks again (offering skip/stop after two)."""
    dispatcher.utter_message(text=text(key, language_of(tracker), **fields))
    return {slot: None, "reg_failures": float(_failures(tracker) + 1)}


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
        if _failures(tracker) >= 2:
            question = text(f"reg_help.{self.slot}", language)
            if self.slot != "reg_guardian":
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
        if not chosen or _failures(tracker) >= 2:
            return super().run(dispatcher, tracker, domain)
        language = language_of(tracker)
        labels = ", ".join(vocabulary().topics[key].label(language) for key in chosen)
        dispatcher.utter_message(
            text=text("reg_interests_so_far", language, topics=labels),
            buttons=self.buttons(tracker, language),
        )
        return []


class ActionAskRegLanguage(_AskAction, Action):
    """Preferred language: one button per language, each written in its own language."""

    slot = "reg_language"

    def buttons(self, tracker: Tracker, language: str) -> list[dict[str, str]]:
        return [
            button(languages.self_name(code), payload("inform", choice=code))
            for code in SUPPORTED_LANGUAGES
        ]


def _clear_form_slots() -> list[EventType]:
    return [
        *(SlotSet(slot, None) for slot in SLOTS),
        SlotSet("reg_topics_chosen", None),
        SlotSet("reg_failures", None),
        SlotSet("edit_field", None),
    ]


def _load_profile(person: Person) -> list[EventType]:
    """Slots holding the stored profile, so that changing one answer keeps the others."""
    place = (
        {
            "place": person.place,
            "city": person.city,
            "region": person.region,
            "country": person.country,
        }
        if person.place
        else SKIP
    )
    return [
        SlotSet("reg_name", person.name or SKIP),
        SlotSet("reg_age", float(person.age) if person.age is not None else SKIP),
        SlotSet("reg_place", place),
        SlotSet("reg_guardian", "yes" if person.guardian_consent_at else None),
        SlotSet("reg_education", person.education or SKIP),
        SlotSet("reg_situation", person.situation or SKIP),
        SlotSet("reg_interests", person.interest_keys or SKIP),
        SlotSet("reg_language", person.language or SKIP),
    ]


class ActionRegister(Action):
    """/register: consent first if needed, then the form from the first question."""

    def name(self) -> str:
        return "action_register"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if not has_consent(tracker):
            return ask_consent_first(dispatcher, tracker, "register")
        dispatcher.utter_message(text=text("reg_intro", language_of(tracker)))
        return [*_clear_form_slots(), FollowupAction(FORM)]


def _value(slot_value: Any) -> Any:
    return None if slot_value in (SKIP, None) else slot_value


def profile_from_slots(tracker: Tracker) -> Profile:
    """The form's answers as a profile ("skip" answers stay empty)."""
    place = _value(tracker.get_slot("reg_place")) or {}
    age = _value(tracker.get_slot("reg_age"))
    return Profile(
        name=_value(tracker.get_slot("reg_name")),
        age=int(age) if age is not None else None,
        place=place.get("place"),
        city=place.get("city"),
        region=place.get("region"),
        country=place.get("country"),
        education=_value(tracker.get_slot("reg_education")),
        situation=_value(tracker.get_slot("reg_situation")),
        interests=list(_value(tracker.get_slot("reg_interests")) or []),
        language=_value(tracker.get_slot("reg_language")),
        guardian_confirmed=tracker.get_slot("reg_guardian") == "yes",
    )


def profile_lines(person: Person, language: str) -> str:
    """A person's profile as lines of text."""
    missing = text("profile_not_given", language)
    vocab = vocabulary()
    interests = ", ".join(vocab.topics[key].label(language) for key in person.interest_keys)
    rows = [
        ("name", person.name or missing),
        ("age", str(person.age) if person.age is not None else missing),
        ("place", person.place or missing),
        (
            "education",
            text(f"education.{person.education}", language) if person.education else missing,
        ),
        (
            "situation",
            text(f"situation.{person.situation}", language) if person.situation else missing,
        ),
        ("interests", interests or missing),
        ("language", languages.self_name(person.language) if person.language else missing),
    ]
    return "\n".join(f"• {text(f'profile_field.{key}', language)}: {value}" for key, value in rows)


def profile_buttons(language: str) -> list[dict[str, str]]:
    """One "change" button per field, then alerts and data control."""
    buttons = [
        button(
            text("profile_change_button", language, field=text(f"profile_field.{field}", language)),
            payload("update_profile", field=field),
        )
        for field in ("name", "age", "place", "education", "situation", "interests", "language")
    ]
    buttons.append(button(text("alerts_button", language), payload("subscribe_alerts")))
    buttons.append(button(text("mydata_button", language), payload("export_data")))
    buttons.append(button(text("delete_button", language), payload("delete_data")))
    return buttons


class ActionSaveProfile(Action):
    """The form is complete: save the profile and say what happens next."""

    def name(self) -> str:
        return "action_save_profile"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile = profile_from_slots(tracker)
        language = profile.language or language_of(tracker)
        rules = policy()
        with db().begin() as session:
            try:
                person = save_profile(session, tracker.sender_id, profile)
            except LookupError:  # consent withdrawn in another chat meanwhile
                dispatcher.utter_message(text=text("consent_needed_register", language))
                return _clear_form_slots()
            updated = tracker.get_slot("edit_field") is not None
            summary = profile_lines(person, language)
        key = "profile_updated" if updated else "profile_saved"
        dispatcher.utter_message(text=f"{text(key, language)}\n\n{summary}")
        if not rules.eligible(profile.age):
            dispatcher.utter_message(
                text=text(
                    "not_eligible_age", language, min=rules.eligible_min, max=rules.eligible_max
                )
            )
        if not updated:
            dispatcher.utter_message(
                text=text("profile_next", language),
                buttons=[
                    button(text("alerts_for_me_button", language),
                           payload("subscribe_alerts", alert="profile")),
                    button(text("find_training_button", language), payload("ask_trainings")),
                    button(text("find_job_button", language), payload("ask_jobs")),
                ],
            )  # fmt: skip
        events = _clear_form_slots()
        if profile.language:
            events.append(SlotSet("language", profile.language))
            announce_language(dispatcher, profile.language)
        return events


class ActionStopRegistration(Action):
    """ "Stop" (or no) in the middle of the form: nothing new is saved."""

    def name(self) -> str:
        return "action_stop_registration"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        age = _value(tracker.get_slot("reg_age"))
        place = _value(tracker.get_slot("reg_place")) or {}
        guardian_missing = (
            age is not None
            and policy().needs_guardian(int(age), place.get("country"))
            and tracker.get_slot("reg_guardian") != "yes"
        )
        key = "reg_stopped_guardian" if guardian_missing else "reg_stopped"
        dispatcher.utter_message(
            text=text(key, language),
            buttons=[
                button(text("find_training_button", language), payload("ask_trainings")),
                button(text("find_job_button", language), payload("ask_jobs")),
            ],
        )
        return _clear_form_slots()


def offer_registration(dispatcher: CollectingDispatcher, language: str) -> None:
    """Say there is no profile yet, with a button to make one."""
    dispatcher.utter_message(
        text=text("no_profile", language),
        buttons=[button(text("register_button", language), payload("register"))],
    )


class ActionShowProfile(Action):
    """/profile: the stored profile with a button to change each answer."""

    def name(self) -> str:
        return "action_show_profile"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        with db().begin() as session:
            person = get_person(session, tracker.sender_id)
            if person is None or person.registered_at is None:
                offer_registration(dispatcher, language)
                return []
            summary = profile_lines(person, language)
        dispatcher.utter_message(
            text=f"{text('profile_header', language)}\n\n{summary}",
            buttons=profile_buttons(language),
        )
        return []


class ActionUpdateProfile(Action):
    """Change one answer: the form asks just that question, then saves the whole profile."""

    def name(self) -> str:
        return "action_update_profile"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        field = entity(tracker, "field")
        with db().begin() as session:
            person = get_person(session, tracker.sender_id)
            registered = person is not None and person.registered_at is not None
            loaded = _load_profile(person) if person is not None and registered else []
        if not registered:
            offer_registration(dispatcher, language)
            return []
        if field not in FIELD_SLOTS or field == "guardian":
            dispatcher.utter_message(
                text=text("profile_which_field", language), buttons=profile_buttons(language)[:7]
            )
            return []
        return [
            *loaded,
            SlotSet("reg_failures", 0.0),
            SlotSet("reg_topics_chosen", None),
            SlotSet("edit_field", field),
            SlotSet(FIELD_SLOTS[field], None),
            FollowupAction(FORM),
        ]
