"""Registering, saving the profile once the form is complete, stopping the form, showing
and changing the profile."""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    announce_language,
    button,
    db,
    entity,
    language_of,
    payload,
)
from actions.consent import ask_consent_first, has_consent
from actions.registration.form import FIELD_SLOTS, FORM, SKIP, SLOTS
from bot import languages
from bot.messages import text
from bot.services.people import PersonView, Profile, find, policy, save_profile
from bot.services.vocabulary import vocabulary


def _clear_form_slots() -> list[EventType]:
    return [
        *(SlotSet(slot, None) for slot in SLOTS),
        SlotSet("reg_topics_chosen", None),
        SlotSet("reg_failures", None),
        SlotSet("edit_field", None),
    ]


def _load_profile(person: PersonView) -> list[EventType]:
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
        SlotSet("reg_guardian", "yes" if person.guardian_confirmed else None),
        SlotSet("reg_education", person.education or SKIP),
        SlotSet("reg_situation", person.situation or SKIP),
        SlotSet("reg_interests", person.interest_keys or SKIP),
        SlotSet("reg_gender", person.gender or SKIP),
        SlotSet("reg_language", person.language or SKIP),
        SlotSet("reg_followup", _yes_no(person.followup)),
    ]


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


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
        gender=_value(tracker.get_slot("reg_gender")),
        followup={"yes": True, "no": False}.get(str(tracker.get_slot("reg_followup"))),
    )


def profile_lines(person: PersonView, language: str) -> str:
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
        ("gender", text(f"gender.{person.gender}", language) if person.gender else missing),
        ("language", languages.self_name(person.language) if person.language else missing),
        (
            "followup",
            missing
            if person.followup is None
            else text(f"followup_answer.{_yes_no(person.followup)}", language),
        ),
    ]
    return "\n".join(f"• {text(f'profile_field.{key}', language)}: {value}" for key, value in rows)


EDITABLE = (
    "name", "age", "place", "education", "situation", "interests", "gender", "followup",
    "language",
)  # fmt: skip


def profile_buttons(language: str) -> list[dict[str, str]]:
    """One "change" button per field, then alerts and data control."""
    buttons = [
        button(
            text("profile_change_button", language, field=text(f"profile_field.{field}", language)),
            payload("update_profile", field=field),
        )
        for field in EDITABLE
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
                save_profile(session, tracker.sender_id, profile)
            except LookupError:  # consent withdrawn in another chat meanwhile
                dispatcher.utter_message(text=text("consent_needed_register", language))
                return _clear_form_slots()
            updated = tracker.get_slot("edit_field") is not None
            person = find(session, tracker.sender_id)
            assert person is not None  # just saved
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
            person = find(session, tracker.sender_id)
            if person is None or not person.registered:
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
            person = find(session, tracker.sender_id)
            registered = person is not None and person.registered
            loaded = _load_profile(person) if person is not None and registered else []
        if not registered:
            offer_registration(dispatcher, language)
            return []
        if field not in FIELD_SLOTS or field == "guardian":
            buttons = profile_buttons(language)[: len(EDITABLE)]
            dispatcher.utter_message(text=text("profile_which_field", language), buttons=buttons)
            return []
        return [
            *loaded,
            SlotSet("reg_failures", 0.0),
            SlotSet("reg_topics_chosen", None),
            SlotSet("edit_field", field),
            SlotSet(FIELD_SLOTS[field], None),
            FollowupAction(FORM),
        ]
