"""Routing requests for a coach: to an available coach who covers the person's language.

A coach sets their status (available or away) and the languages and countries they cover. A
new request goes to an available coach who covers the person's language (and their country,
where the coach named countries): the one with the fewest open conversations, and of those the
one who got a request longest ago (round robin). Urgent ones (safeguarding) are assigned to
nobody: every coach sees them first. Nobody who covers the language is available: the request
is unassigned, and any coach may take it. A coach who goes away hands their untaken requests
on. (A transfer to another coach, with a note: `bot.services.handoff.transfer`.)
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.models import HANDOFF_OPEN, Handoff, Person, User
from bot.languages import supported
from bot.refusal import Refusal
from bot.services import outbox
from bot.services.people import now
from bot.settings import get_settings

STATUSES = ("available", "away")


class CoverageError(Refusal):
    """A coach's status, languages or countries that cannot be saved, in plain words."""


@dataclass(frozen=True)
class Coverage:
    """What a coach covers, as they set it."""

    status: str
    languages: tuple[str, ...]
    countries: tuple[str, ...]


def set_coverage(
    session: Session, user: User, status: str, languages: list[str], countries: list[str]
) -> Coverage:
    """Save a coach's status, languages and countries (CoverageError, a ValueError in plain
    words, if one is not known). Going away hands their untaken requests on."""
    if status not in STATUSES:
        raise CoverageError("Choose available or away.")
    unknown = [code for code in languages if code not in supported()]
    if unknown:
        raise CoverageError("Not a language of the assistant: %(codes)s.", codes=", ".join(unknown))
    codes = [code.strip().upper() for code in countries if code.strip()]
    wrong = [code for code in codes if not (len(code) == 2 and code.isascii() and code.isalpha())]
    if wrong:
        raise CoverageError(
            "Countries are two-letter codes such as IT or HR, not: %(codes)s.",
            codes=", ".join(wrong),
        )
    user.status = status
    user.languages = ",".join(code for code in supported() if code in languages)
    user.countries = ",".join(dict.fromkeys(codes))
    session.flush()
    if status == "away":
        waiting = session.scalars(
            select(Handoff).where(Handoff.assigned_to == user.id, Handoff.status == "waiting")
        ).all()
        for handoff in waiting:
            route(session, handoff, leave_out=user.id)
    return Coverage(user.status, tuple(user.language_list), tuple(user.country_list))


def _open_counts(session: Session) -> dict[int, int]:
    """Coach id → open conversations they hold or have waiting for them."""
    holder = func.coalesce(Handoff.taken_by, Handoff.assigned_to)
    rows = session.execute(
        select(holder, func.count())
        .where(Handoff.status.in_(HANDOFF_OPEN), holder.is_not(None))
        .group_by(holder)
    )
    return {int(coach): int(count) for coach, count in rows}


def candidates(session: Session, language: str, country: str | None) -> list[User]:
    """Available coaches who cover `language` (and `country`), best first."""
    coaches = [
        user
        for user in session.scalars(
            select(User).where(User.status == "available", User.disabled_at.is_(None))
        )
        if language in user.language_list
        and (not user.country_list or (country is not None and country in user.country_list))
    ]
    counts = _open_counts(session)
    never = now().replace(year=1970)
    coaches.sort(key=lambda user: (counts.get(user.id, 0), user.last_routed_at or never, user.id))
    return coaches


def route(session: Session, handoff: Handoff, leave_out: int | None = None) -> User | None:
    """Assign a waiting request to the best available coach (None: to nobody; urgent ones are
    everyone's)."""
    if handoff.status != "waiting":
        return None  # a coach already has it
    if handoff.urgent:
        handoff.assignee = None
        session.flush()
        notify(session, handoff, [])
        return None
    country = session.scalar(select(Person.country).where(Person.sender_id == handoff.sender_id))
    chosen = next(
        (user for user in candidates(session, handoff.language, country) if user.id != leave_out),
        None,
    )
    handoff.assignee = chosen
    if chosen is not None:
        chosen.last_routed_at = now()
    session.flush()
    notify(session, handoff, [chosen] if chosen else [])
    return chosen


def notify(session: Session, handoff: Handoff, coaches: list[User]) -> None:
    """Tell coaches who linked their own Telegram chat that a request waits for them (urgent
    ones: every available coach), through the outbox: a link to the conversation, the language
    and nothing of what the young person wrote."""
    if handoff.urgent:
        coaches = list(
            session.scalars(
                select(User).where(
                    User.status == "available",
                    User.disabled_at.is_(None),
                    User.telegram_chat_id.is_not(None),
                )
            )
        )
    kind = "🚨 An URGENT request" if handoff.urgent else "🔔 A new request"
    for coach in coaches:
        tell(
            session,
            coach,
            f"{kind} for a coach is waiting for you (language: {handoff.language}).\n"
            + dashboard_url(f"/conversations/{handoff.sender_id}"),
        )


def dashboard_url(path: str) -> str:
    """The address of a dashboard page, for a link outside the dashboard."""
    settings = get_settings()
    base = settings.dashboard_public_url.rstrip("/") or (
        f"http://{settings.dashboard_host}:{settings.dashboard_port}"
    )
    return base + path


def tell(session: Session, coach: User, words: str) -> bool:
    """A short notice to a coach's own Telegram chat, if they linked one (through the outbox);
    whether it was queued. Never what a young person wrote: a link says where to look."""
    if coach.telegram_chat_id is None:
        return False
    chat = coach.telegram_chat_id
    message = {"chat_id": chat, "text": words, "disable_web_page_preview": True}
    outbox.enqueue(session, chat, [message], None)
    return True
