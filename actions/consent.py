"""Consent: the privacy notice on /start, recording yes or no, and withdrawing it (/stop)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, AllSlotsReset, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    button,
    channel_of,
    confirmed,
    db,
    intent_of,
    language_of,
    last_bot_text,
    payload,
)
from bot.messages import text
from bot.services import campaigns
from bot.services.people import erase_person, find, give_consent, now
from bot.settings import get_settings

# What a person wanted to do when the notice interrupted them, and what resumes it.
RESUME = {"register": "action_register", "alerts": "action_alerts"}


def notice_text(language: str) -> str:
    """The plain-language privacy notice."""
    return text("consent_notice", language, days=get_settings().privacy_inactive_days)


def show_notice(dispatcher: CollectingDispatcher, language: str) -> None:
    """Ask for consent: the notice with "I agree" and "No thanks" buttons."""
    dispatcher.utter_message(
        text=notice_text(language),
        buttons=[
            button(text("consent_accept_button", language), payload("consent_accept")),
            button(text("consent_decline_button", language), payload("consent_decline")),
        ],
    )


def start_code(tracker: Tracker) -> str | None:
    """The campaign code of this message, if it is a `/start <code>` (the connector passes the
    code as the message's metadata)."""
    code = ((tracker.latest_message or {}).get("metadata") or {}).get("start_payload")
    return str(code) if code else None


def arrival(tracker: Tracker) -> tuple[str, dt.date] | None:
    """The code of the latest `/start <code>` of the conversation and the day it came."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            code = (event.get("metadata") or {}).get("start_payload")
            if code:
                when = event.get("timestamp")
                day = (
                    dt.datetime.fromtimestamp(float(when), dt.UTC).date()
                    if isinstance(when, (int, float))
                    else now().date()
                )
                return str(code), day
    return None


def has_consent(tracker: Tracker) -> bool:
    """Whether this person's consent is on record (the database is the truth, not a slot)."""
    with db().begin() as session:
        return find(session, tracker.sender_id) is not None


def ask_consent_first(
    dispatcher: CollectingDispatcher, tracker: Tracker, then: str
) -> list[EventType]:
    """Show the notice; once accepted, `then` ("register", "alerts") continues."""
    language = language_of(tracker)
    dispatcher.utter_message(text=text(f"consent_needed_{then}", language))
    show_notice(dispatcher, language)
    return [SlotSet("after_consent", then)]


class ActionOfferConsent(Action):
    """After the greeting (and /start): the privacy notice, if they have not decided yet."""

    def name(self) -> str:
        return "action_offer_consent"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        code = start_code(tracker)
        if code is not None:
            # A campaign's link: counted, nobody's identity kept (before consent).
            with db().begin() as session:
                campaigns.arrive(session, tracker.sender_id, code, now().date())
        if tracker.get_slot("consent") is None and not has_consent(tracker):
            show_notice(dispatcher, language)
        return []


class ActionRecordConsent(Action):
    """ "I agree" or "No thanks" (a button, or yes/no typed right after the notice)."""

    def name(self) -> str:
        return "action_record_consent"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        intent = intent_of(tracker)
        if intent in ("affirm", "deny") and last_bot_text(tracker) != notice_text(language):
            # A yes or no that does not answer the notice: treat it as the plain word.
            dispatcher.utter_message(
                response="utter_help" if intent == "affirm" else "utter_anything_else"
            )
            return []
        then = tracker.get_slot("after_consent")
        if intent in ("consent_accept", "affirm"):
            with db().begin() as session:
                give_consent(session, tracker.sender_id, channel_of(tracker), language)
                # The campaign they arrived by is kept with the profile from now on.
                came = arrival(tracker)
                if came is not None:
                    campaigns.attach(session, tracker.sender_id, *came)
            dispatcher.utter_message(text=text("consent_thanks", language))
            events: list[EventType] = [
                SlotSet("consent", "accepted"),
                SlotSet("after_consent", None),
            ]
            if then in RESUME:
                return [*events, FollowupAction(RESUME[then])]
            dispatcher.utter_message(
                text=text("consent_next", language),
                buttons=[
                    button(text("register_button", language), payload("register")),
                    button(text("find_training_button", language), payload("ask_trainings")),
                    button(text("find_job_button", language), payload("ask_jobs")),
                ],
            )
            return events
        with db().begin() as session:
            withdrawn = erase_person(session, tracker.sender_id)
        key = "consent_withdrawn" if withdrawn else "consent_declined"
        dispatcher.utter_message(
            text=text(key, language),
            buttons=[
                button(text("find_training_button", language), payload("ask_trainings")),
                button(text("find_job_button", language), payload("ask_jobs")),
            ],
        )
        return [SlotSet("consent", "declined"), SlotSet("after_consent", None)]


class ActionWithdrawConsent(Action):
    """/stop: withdraw consent in one step; profile, alerts and deliveries are erased. Asked in
    typed words, it asks to confirm first."""

    def name(self) -> str:
        return "action_withdraw_consent"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        if has_consent(tracker) and not confirmed(
            dispatcher, tracker, "confirm_withdraw", payload("withdraw_consent")
        ):
            return []
        with db().begin() as session:
            withdrawn = erase_person(session, tracker.sender_id)
        dispatcher.utter_message(
            text=text("consent_withdrawn" if withdrawn else "stop_nothing_stored", language)
        )
        return [ActiveLoop(None), AllSlotsReset(), SlotSet("consent", "declined")]
