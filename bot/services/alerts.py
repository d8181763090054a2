"""Alert subscriptions, matching new opportunities to them, and the delivery queue.

New items are matched when they are added (`queue_alerts`), which writes one queued delivery
per person and item (unique, so never twice). The Telegram connector sends the queue
(`connectors/telegram/alerts.py`), outside quiet hours in each person's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.db.models import AlertDelivery, Opportunity, Person, Subscription
from bot.services.catalogue import Place
from bot.services.people import get_person, now, policy

KINDS = ("training", "job", "both")


def place_columns(session: Session, place: Place | None) -> dict[str, str | None]:
    """The city/region/country columns that describe `place` (its country looked up)."""
    if place is None:
        return {"place": None, "city": None, "region": None, "country": None}
    columns: dict[str, str | None] = {"place": place.name, "city": None, "region": None}
    if place.level == "country":
        columns["country"] = place.value
        return columns
    column = Opportunity.city_norm if place.level == "city" else Opportunity.region_norm
    columns[place.level] = place.value
    columns["country"] = session.scalar(
        select(Opportunity.country).where(column == place.value).limit(1)
    )
    return columns


def subscribe(
    session: Session, person: Person, kind: str, topics: Iterable[str], place: Place | None
) -> tuple[Subscription, bool]:
    """Subscribe `person` (the same subscription twice is one). Returns it and whether new."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    topic_text = ";".join(sorted(set(topics)))
    columns = place_columns(session, place)
    for existing in person.subscriptions:
        if (
            existing.kind == kind
            and existing.topics == topic_text
            and (existing.city, existing.region, existing.country)
            == (columns["city"], columns["region"], columns["country"])
        ):
            return existing, False
    subscription = Subscription(kind=kind, topics=topic_text, created_at=now(), **columns)
    person.subscriptions.append(subscription)
    person.alerts_paused = False
    session.flush()
    return subscription, True


def unsubscribe(session: Session, person: Person, subscription_id: int | None) -> int:
    """Cancel one subscription (or all, with None). Returns how many were cancelled."""
    chosen = [
        item
        for item in list(person.subscriptions)
        if subscription_id is None or item.id == subscription_id
    ]
    for item in chosen:
        person.subscriptions.remove(item)
    # What was queued for them and not sent yet is dropped with the subscription.
    for delivery in list(person.deliveries):
        if delivery.status == "queued" and (
            subscription_id is None or delivery.subscription_id == subscription_id
        ):
            person.deliveries.remove(delivery)
    session.flush()
    return len(chosen)


@dataclass(frozen=True)
class Alert:
    """One of a person's alert subscriptions, as plain values."""

    id: int
    kind: str  # training, job or both
    topic_keys: list[str]
    place: str | None  # as shown; None = anywhere


@dataclass(frozen=True)
class Alerts:
    """A person's alerts, and whether they are paused (the person blocked the bot)."""

    items: list[Alert]
    paused: bool


def _alert(subscription: Subscription) -> Alert:
    return Alert(subscription.id, subscription.kind, subscription.topic_keys, subscription.place)


def alerts_of(session: Session, sender_id: str) -> Alerts:
    """A consenting person's alerts (none for someone unknown)."""
    person = get_person(session, sender_id)
    if person is None:
        return Alerts([], False)
    return Alerts([_alert(item) for item in person.subscriptions], person.alerts_paused)


def subscribe_to(
    session: Session, sender_id: str, kind: str, topics: Iterable[str], place: Place | None
) -> tuple[Alert, bool]:
    """`subscribe` for the person behind a pseudonym (LookupError without consent)."""
    person = get_person(session, sender_id)
    if person is None:
        raise LookupError("no consent recorded for this person")
    subscription, created = subscribe(session, person, kind, topics, place)
    return _alert(subscription), created


def cancel(session: Session, sender_id: str, subscription_id: int | None) -> int:
    """`unsubscribe` for the person behind a pseudonym (0 for someone unknown)."""
    person = get_person(session, sender_id)
    return 0 if person is None else unsubscribe(session, person, subscription_id)


def matches(subscription: Subscription, item: Opportunity, age: int | None = None) -> bool:
    """Whether a new `item` is one `subscription` asked for (and the person's age allows it)."""
    if subscription.kind != "both" and item.kind != subscription.kind:
        return False
    wanted = set(subscription.topic_keys)
    if wanted and not wanted & set(item.topic_keys):
        return False
    if subscription.city and item.city_norm != subscription.city:
        return False
    if subscription.region and item.region_norm != subscription.region:
        return False
    if subscription.country and item.country != subscription.country:
        return False
    too_young = age is not None and item.min_age is not None and age < item.min_age
    too_old = age is not None and item.max_age is not None and age > item.max_age
    return not (too_young or too_old)


def _is_open(item: Opportunity, today: dt.date) -> bool:
    return item.published and (item.deadline is None or item.deadline >= today)


def queue_alerts(session: Session, opportunity_ids: Iterable[int]) -> int:
    """Queue one delivery per matching subscriber and new item. Returns how many were queued.

    Items already queued or sent to a person are skipped, so calling it twice is harmless.
    """
    ids = list(opportunity_ids)
    if not ids:
        return 0
    today = now().date()
    items = [
        item
        for item in session.scalars(select(Opportunity).where(Opportunity.id.in_(ids)))
        if _is_open(item, today)
    ]
    if not items:
        return 0
    rows: list[dict[str, object]] = []
    people = session.scalars(
        select(Person).where(Person.subscriptions.any(), Person.alerts_paused.is_(False))
    )
    moment = now()
    for person in people:
        for item in items:
            if item.women_only and person.gender == "man":
                continue  # reserved to women (the optional answer says he is a man)
            subscription = next(
                (sub for sub in person.subscriptions if matches(sub, item, person.age)), None
            )
            if subscription is not None:
                rows.append(
                    {
                        "person_id": person.id,
                        "opportunity_id": item.id,
                        "subscription_id": subscription.id,
                        "status": "queued",
                        "attempts": 0,
                        "queued_at": moment,
                    }
                )
    if not rows:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(AlertDelivery).on_conflict_do_nothing(
        index_elements=["person_id", "opportunity_id"]
    )
    counted = (
        select(func.count()).select_from(AlertDelivery).where(AlertDelivery.opportunity_id.in_(ids))
    )
    before = session.scalar(counted) or 0
    session.execute(statement, rows)
    return (session.scalar(counted) or 0) - before


def is_quiet(local: dt.datetime, start_hour: int, end_hour: int) -> bool:
    """Whether `local` falls in the quiet hours [start, end) (which may span midnight)."""
    hour = local.hour
    if start_hour == end_hour:
        return False
    if start_hour < end_hour:
        return start_hour <= hour < end_hour
    return hour >= start_hour or hour < end_hour


@dataclass(frozen=True)
class DueAlert:
    """A queued alert whose person may be written to now."""

    delivery_id: int
    person_id: int
    chat_id: int
    language: str
    opportunity_id: int


def due_alerts(
    session: Session,
    moment: dt.datetime,
    quiet: tuple[int, int],
    limit: int = 500,
    after: int = 0,
) -> list[DueAlert]:
    """Queued alerts of reachable people for whom it is not night now, oldest first; only
    deliveries numbered above `after` (so a sender can read on where its last batch ended)."""
    # Streamed, so many people in their night at the head of the queue cannot hide the rest.
    rows = session.execute(
        select(AlertDelivery, Person)
        .join(Person, AlertDelivery.person_id == Person.id)
        .where(
            AlertDelivery.status == "queued",
            AlertDelivery.id > after,
            Person.alerts_paused.is_(False),
            Person.telegram_chat_id.is_not(None),
        )
        .order_by(AlertDelivery.id)
        .execution_options(yield_per=500)
    )
    rules = policy()
    due: list[DueAlert] = []
    for delivery, person in rows:
        local = moment.astimezone(rules.timezone(person.country))
        if is_quiet(local, *quiet):
            continue
        assert person.telegram_chat_id is not None
        due.append(
            DueAlert(
                delivery.id,
                person.id,
                person.telegram_chat_id,
                person.language or "en",
                delivery.opportunity_id,
            )
        )
        if len(due) >= limit:
            break
    return due


def subscriptions_of(session: Session, delivery_ids: list[int]) -> dict[int, int | None]:
    """The subscription each delivery came from (None if it was cancelled since)."""
    rows = session.execute(
        select(AlertDelivery.id, AlertDelivery.subscription_id).where(
            AlertDelivery.id.in_(delivery_ids)
        )
    )
    return {delivery_id: subscription_id for delivery_id, subscription_id in rows}


def mark_sent(session: Session, delivery_id: int) -> None:
    """Record a delivered alert."""
    delivery = session.get(AlertDelivery, delivery_id)
    if delivery is not None:
        delivery.status, delivery.sent_at, delivery.error = "sent", now(), None
        delivery.attempts += 1


def mark_blocked(session: Session, person_id: int) -> None:
    """The person blocked the bot: pause their alerts and stop what is queued for them (check-ins
    and broadcasts skip them too, until they write again: `people.touch`)."""
    person = session.get(Person, person_id)
    if person is None:
        return
    person.alerts_paused = True
    person.blocked_at = person.blocked_at or now()
    for delivery in person.deliveries:
        if delivery.status == "queued":
            delivery.status, delivery.error = "blocked", "blocked by the person (403)"


def mark_failed(session: Session, delivery_id: int, reason: str, give_up_after: int = 5) -> None:
    """A failed attempt: retried later, until `give_up_after` attempts."""
    delivery = session.get(AlertDelivery, delivery_id)
    if delivery is None:
        return
    delivery.attempts += 1
    delivery.error = reason[:200]
    if delivery.attempts >= give_up_after:
        delivery.status = "failed"
