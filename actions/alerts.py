"""/alerts: subscribe to new trainings and jobs, see the subscriptions, cancel them in one tap."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import (
    button,
    confirmed,
    db,
    entity,
    entity_values,
    intent_of,
    language_of,
    latest_text,
    payload,
)
from actions.consent import ask_consent_first, has_consent
from bot import render
from bot.messages import text
from bot.services.alerts import Alert, Alerts, alerts_of, cancel, subscribe_to
from bot.services.catalogue import Place, resolve_place
from bot.services.people import PersonView, find
from bot.services.query import understand
from bot.services.vocabulary import vocabulary
from bot.text import normalise, parse_id


def describe(subscription: Alert, language: str) -> str:
    """ "IT & digital trainings and jobs in Split", for a list of subscriptions."""
    kinds = text(f"alert_kind.{subscription.kind}", language)
    about = (
        text("about_topics", language,
             topics=render.topics_label(subscription.topic_keys, vocabulary(), language))
        if subscription.topic_keys else ""
    )  # fmt: skip
    where = (
        text(
            "in_place",
            language,
            place=render.place_label(subscription.place, vocabulary(), language),
        )
        if subscription.place
        else ""
    )
    return f"{kinds}{about}{where}"


def _kind_from(tracker: Tracker) -> str:
    words = normalise(latest_text(tracker)).split()
    vocab = vocabulary()
    wants_training = any(word.startswith(tuple(vocab.training_words)) for word in words)
    wants_job = any(word.startswith(tuple(vocab.job_words)) for word in words)
    if wants_training and not wants_job:
        return "training"
    if wants_job and not wants_training:
        return "job"
    return "both"


def _place(session: Session, name: str | None) -> Place | None:
    return resolve_place(session, name) if name else None


def _new_subscription(
    session: Session, tracker: Tracker, person: PersonView
) -> tuple[str, list[str], Place | None] | None:
    """What the person asks to be alerted about in this message, if anything."""
    source = entity(tracker, "alert")
    if source == "profile":
        if not person.interest_keys and not person.place:
            return None
        place = _place(session, person.place) or _place(session, person.country)
        return "both", person.interest_keys, place
    if source == "search":
        kind = tracker.get_slot("search_kind")
        if not kind:
            return None
        topics = [key for key in (tracker.get_slot("topic") or "").split(";") if key]
        return kind, topics, _place(session, tracker.get_slot("location"))
    if source in ("training", "job", "both"):
        return source, [], None
    criteria = understand(
        session, latest_text(tracker), entity_values(tracker, "topic"),
        entity_values(tracker, "location"), language=language_of(tracker),
    )  # fmt: skip
    if not (criteria.topics or criteria.location):
        return None
    return _kind_from(tracker), criteria.topics, _place(session, criteria.location)


def _offer_buttons(tracker: Tracker, person: PersonView, language: str) -> list[dict[str, str]]:
    buttons = []
    if person.interest_keys or person.place:
        buttons.append(
            button(text("alerts_for_me_button", language),
                   payload("subscribe_alerts", alert="profile"))
        )  # fmt: skip
    if tracker.get_slot("search_kind"):
        buttons.append(
            button(text("alerts_last_search_button", language),
                   payload("subscribe_alerts", alert="search"))
        )  # fmt: skip
    buttons += [
        button(text("alerts_all_trainings_button", language),
               payload("subscribe_alerts", alert="training")),
        button(text("alerts_all_jobs_button", language), payload("subscribe_alerts", alert="job")),
    ]  # fmt: skip
    return buttons


def show_subscriptions(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    person: PersonView,
    alerts: Alerts,
    language: str,
) -> None:
    """The person's alerts, each with a cancel button, and ways to add one."""
    if not alerts.items:
        dispatcher.utter_message(
            text=text("alerts_none", language), buttons=_offer_buttons(tracker, person, language)
        )
        return
    lines = [f"🔔 {describe(sub, language)}" for sub in alerts.items]
    buttons = [
        button(
            text("alerts_cancel_button", language, what=describe(sub, language)),
            payload("unsubscribe_alerts", subscription=str(sub.id)),
        )
        for sub in alerts.items
    ]
    if len(alerts.items) > 1:
        buttons.append(
            button(text("alerts_cancel_all_button", language),
                   payload("unsubscribe_alerts", subscription="all"))
        )  # fmt: skip
    paused = f"\n\n{text('alerts_paused_note', language)}" if alerts.paused else ""
    dispatcher.utter_message(
        text=text("alerts_list", language, alerts="\n".join(lines)) + paused, buttons=buttons
    )
    dispatcher.utter_message(
        text=text("alerts_add_more", language), buttons=_offer_buttons(tracker, person, language)
    )


class ActionAlerts(Action):
    """/alerts or "alert me about IT jobs in Split": subscribe, or show what they have."""

    def name(self) -> str:
        return "action_alerts"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        if not has_consent(tracker):
            return ask_consent_first(dispatcher, tracker, "alerts")
        with db().begin() as session:
            person = find(session, tracker.sender_id)
            assert person is not None
            wanted = (
                _new_subscription(session, tracker, person)
                if intent_of(tracker) == "subscribe_alerts"
                else None
            )
            if wanted is not None:
                subscription, created = subscribe_to(session, tracker.sender_id, *wanted)
                key = "alerts_subscribed" if created else "alerts_already"
                dispatcher.utter_message(
                    text=text(key, language, what=describe(subscription, language)),
                    buttons=[
                        button(text("alerts_cancel_button", language,
                                    what=describe(subscription, language)),
                               payload("unsubscribe_alerts", subscription=str(subscription.id))),
                    ],
                )  # fmt: skip
                return []
            show_subscriptions(
                dispatcher, tracker, person, alerts_of(session, tracker.sender_id), language
            )
        return []


class ActionUnsubscribeAlerts(Action):
    """Cancel one alert (a button), all of them, or show which to cancel."""

    def name(self) -> str:
        return "action_unsubscribe_alerts"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        chosen = entity(tracker, "subscription")
        with db().begin() as session:
            person = find(session, tracker.sender_id)
            alerts = alerts_of(session, tracker.sender_id)
            if person is None or not alerts.items:
                dispatcher.utter_message(text=text("alerts_nothing_to_cancel", language))
                return []
            if chosen is None and len(alerts.items) > 1:
                show_subscriptions(dispatcher, tracker, person, alerts, language)
                return []
            if chosen is None and not confirmed(
                dispatcher, tracker, "confirm_unsubscribe", payload("unsubscribe_alerts",
                                                                    subscription="all"),
            ):  # fmt: skip
                return []
            if chosen == "all" or chosen is None:
                count = cancel(session, tracker.sender_id, None)
            elif (subscription_id := parse_id(chosen)) is not None:
                count = cancel(session, tracker.sender_id, subscription_id)
            else:
                count = 0  # not an id: answered like an alert that is gone
        key = "alerts_cancelled" if count else "alerts_already_cancelled"
        dispatcher.utter_message(
            text=text(key, language, count=count),
            buttons=[button(text("alerts_button", language), payload("subscribe_alerts"))],
        )
        return []
