"""Young people who gave consent: the consent record, the profile, activity, time zones."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.config import CONFIG_DIR, read
from bot.db.models import Person

# The profile fields of the registration form, in the order it asks them.
PROFILE_FIELDS = (
    "name", "age", "place", "education", "situation", "interests", "gender", "language",
    "followup",
)  # fmt: skip


@dataclass(frozen=True)
class Policy:
    """The rules of `config/privacy.yml`."""

    notice_version: str
    consent_age_default: int
    consent_age_by_country: dict[str, int]
    eligible_min: int
    eligible_max: int
    plausible_min: int
    plausible_max: int
    default_timezone: str
    timezones: dict[str, str]
    education_levels: tuple[str, ...]
    situations: tuple[str, ...]
    genders: tuple[str, ...]

    def consent_age(self, country: str | None) -> int:
        """The age of digital consent in `country` (the default when unknown)."""
        return self.consent_age_by_country.get(country or "", self.consent_age_default)

    def needs_guardian(self, age: int | None, country: str | None) -> bool:
        """Whether a person of `age` in `country` needs a parent's or guardian's agreement."""
        return age is not None and age < self.consent_age(country)

    def eligible(self, age: int | None) -> bool:
        """Whether `age` is inside the programmes' age range (unknown counts as eligible)."""
        return age is None or self.eligible_min <= age <= self.eligible_max

    def timezone(self, country: str | None) -> ZoneInfo:
        """The time zone used for a person in `country`."""
        return ZoneInfo(self.timezones.get(country or "", self.default_timezone))


@lru_cache
def policy() -> Policy:
    """The privacy and eligibility policy, read once."""
    raw: dict[str, Any] = read(CONFIG_DIR / "privacy.yml")
    return Policy(
        notice_version=str(raw["notice_version"]),
        consent_age_default=int(raw["digital_consent_age"]["default"]),
        consent_age_by_country={
            str(k): int(v) for k, v in raw["digital_consent_age"]["by_country"].items()
        },
        eligible_min=int(raw["eligible_age"]["min"]),
        eligible_max=int(raw["eligible_age"]["max"]),
        plausible_min=int(raw["plausible_age"]["min"]),
        plausible_max=int(raw["plausible_age"]["max"]),
        default_timezone=str(raw["default_timezone"]),
        timezones={str(k): str(v) for k, v in raw["timezones"].items()},
        education_levels=tuple(raw["education_levels"]),
        situations=tuple(raw["situations"]),
        genders=tuple(raw["genders"]),
    )


def now() -> dt.datetime:
    """The current time, timezone-aware (UTC)."""
    return dt.datetime.now(dt.UTC)


def get_person(session: Session, sender_id: str) -> Person | None:
    """The person behind a pseudonym, if they gave consent."""
    return session.scalar(select(Person).where(Person.sender_id == sender_id))


@dataclass(frozen=True)
class PersonView:
    """What the actions and the channels read of a person who gave consent (plain values)."""

    sender_id: str
    registered: bool
    name: str | None
    age: int | None
    place: str | None
    city: str | None
    region: str | None
    country: str | None
    education: str | None
    situation: str | None
    interest_keys: list[str]
    language: str | None
    guardian_confirmed: bool
    gender: str | None = None
    followup: bool | None = None


def find(session: Session, sender_id: str) -> PersonView | None:
    """The person behind a pseudonym, as plain values; None if they gave no consent."""
    person = get_person(session, sender_id)
    if person is None:
        return None
    return PersonView(
        person.sender_id, person.registered_at is not None, person.name, person.age,
        person.place, person.city, person.region, person.country, person.education,
        person.situation, list(person.interest_keys), person.language,
        person.guardian_consent_at is not None, person.gender, person.followup_consent,
    )  # fmt: skip


def preferred_language(session: Session, sender_id: str) -> str | None:
    """The language a person chose (profile or consent), if they are known."""
    return session.scalar(select(Person.language).where(Person.sender_id == sender_id))


def set_language(session: Session, sender_id: str, language: str) -> bool:
    """Store a person's chosen language; False if they have no record (no consent)."""
    person = get_person(session, sender_id)
    if person is None:
        return False
    person.language = language
    session.flush()
    return True


def give_consent(
    session: Session, sender_id: str, channel: str = "telegram", language: str | None = None
) -> Person:
    """Record consent to the current notice (a new person, or a renewed consent)."""
    person = get_person(session, sender_id)
    moment = now()
    if person is None:
        person = Person(sender_id=sender_id, channel=channel, interests="", last_active_at=moment)
        session.add(person)
    person.consent_at = moment
    person.consent_version = policy().notice_version
    person.language = person.language or language
    person.last_active_at = moment
    session.flush()
    return person


def erase_person(session: Session, sender_id: str) -> bool:
    """Erase a person's record: consent, profile, alerts and deliveries. True if there was one.

    What `/delete` does in our database, and what withdrawing consent (`/stop`) does.
    """
    person = get_person(session, sender_id)
    if person is None:
        return False
    session.delete(person)
    session.flush()
    return True


@dataclass
class Profile:
    """The answers of the registration form, as the actions hand them over."""

    name: str | None = None
    age: int | None = None
    place: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    education: str | None = None
    situation: str | None = None
    interests: list[str] = field(default_factory=list)
    language: str | None = None
    guardian_confirmed: bool = False
    gender: str | None = None
    followup: bool | None = None


def save_profile(session: Session, sender_id: str, profile: Profile) -> Person:
    """Write a completed registration (a new one or an update) to a consenting person's record."""
    person = get_person(session, sender_id)
    if person is None:
        raise LookupError("no consent recorded for this person")
    moment = now()
    person.name = profile.name
    person.age = profile.age
    person.place = profile.place
    person.city, person.region, person.country = profile.city, profile.region, profile.country
    person.education = profile.education
    person.situation = profile.situation
    person.interests = ";".join(profile.interests)
    person.language = profile.language or person.language
    person.gender = profile.gender
    person.followup_consent = profile.followup
    if profile.guardian_confirmed:
        person.guardian_consent_at = person.guardian_consent_at or moment
    elif not policy().needs_guardian(profile.age, profile.country):
        person.guardian_consent_at = None
    person.registered_at = person.registered_at or moment
    person.last_active_at = moment
    session.flush()
    return person


def touch(session: Session, sender_id: str, telegram_chat_id: int | None = None) -> bool:
    """Note activity (and the Telegram chat for alerts) of a consenting person. True if known."""
    # They wrote: the bot is not blocked (any more).
    values: dict[str, Any] = {"last_active_at": now(), "blocked_at": None}
    if telegram_chat_id is not None:
        values["telegram_chat_id"] = telegram_chat_id
    result = session.execute(update(Person).where(Person.sender_id == sender_id).values(**values))
    return bool(getattr(result, "rowcount", 0))


_AGE = re.compile(r"(?<!\d)(\d{1,3})(?!\d)")


def parse_age(text: str) -> int | None:
    """The age in a message ("17", "I'm 17", "17 years old"), if it holds exactly one number."""
    numbers = _AGE.findall(text)
    if len(numbers) != 1:
        return None
    return int(numbers[0])
