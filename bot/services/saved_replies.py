"""Saved replies: texts a coach inserts into a reply with a few keystrokes (`/` and the start of
the shortcut, or the list under the reply box).

Shared ones (no owner) are kept by admins; every coach keeps their own. A reply is written in
one language, and the young person's language is offered first. Placeholders are filled for
the person it goes to: `{name}` (the name they gave, else nothing), `{coach}` (the coach's
display name) and `{opportunity:ID}` (a catalogue item's title, provider, place and link).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.db.models import Opportunity, SavedReply, User
from bot.languages import mark_rtl, supported
from bot.messages import text as message_text
from bot.refusal import Number, Refusal
from bot.render import details
from bot.services.catalogue import get_opportunity
from bot.services.people import now
from bot.services.vocabulary import vocabulary

MAX_TEXT = 2000
SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class SavedReplyError(Refusal):
    """What is wrong with a saved reply, in words for the coach."""


@dataclass(frozen=True)
class Shown:
    """A saved reply as the reply box offers it: filled in for one person."""

    id: int
    shortcut: str
    language: str
    shared: bool
    text: str  # as written, placeholders and all
    filled: str  # for the person


def _check(session: Session, language: str, shortcut: str, text: str) -> tuple[str, str]:
    shortcut = shortcut.strip().lower().lstrip("/")
    text = text.strip()
    if language not in supported():
        raise SavedReplyError("Choose one of the assistant's languages.")
    if not SHORTCUT.match(shortcut):
        raise SavedReplyError(
            "The shortcut is one word of letters, digits, - or _ (up to 40), such as welcome."
        )
    if not text:
        raise SavedReplyError("The reply is empty.")
    if len(text) > MAX_TEXT:
        raise SavedReplyError("A saved reply has at most %(max)s characters.", max=Number(MAX_TEXT))
    for name in PLACEHOLDER.findall(text):
        if name in ("name", "coach"):
            continue
        number = name.removeprefix("opportunity:")
        if name.startswith("opportunity:") and number.isdigit() and number.isascii():
            if session.get(Opportunity, int(number)) is None:
                raise SavedReplyError(
                    "There is no opportunity %(number)s in the catalogue.", number=number
                )
            continue
        raise SavedReplyError(
            "Unknown placeholder {%(name)s}: use {name}, {coach} or {opportunity:ID}.", name=name
        )
    return shortcut, text


def save(
    session: Session, owner: User | None, language: str, shortcut: str, text: str
) -> SavedReply:
    """Add a saved reply (`owner` None: shared), or replace the text of the one with the same
    shortcut and language."""
    shortcut, text = _check(session, language, shortcut, text)
    owner_id = owner.id if owner else None
    reply = session.scalar(
        select(SavedReply).where(
            SavedReply.language == language,
            SavedReply.shortcut == shortcut,
            SavedReply.owner_id.is_(None) if owner_id is None else SavedReply.owner_id == owner_id,
        )
    )
    if reply is None:
        reply = SavedReply(owner_id=owner_id, language=language, shortcut=shortcut, text=text)
        session.add(reply)
    reply.text, reply.updated_at = text, now()
    session.flush()
    return reply


def delete(session: Session, reply_id: int, user: User) -> None:
    """Delete a saved reply: one's own, or (admins) a shared one."""
    reply = session.get(SavedReply, reply_id)
    if reply is None:
        raise SavedReplyError("There is no such saved reply.")
    mine = reply.owner_id == user.id
    if not mine and not (reply.owner_id is None and user.role == "admin"):
        raise SavedReplyError("Only its owner (or an admin, for a shared one) may delete it.")
    session.delete(reply)


def fill(session: Session, text: str, name: str | None, coach: str) -> str:
    """The text with its placeholders filled in for one person."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "name":
            return name or ""
        if key == "coach":
            return coach
        number = key.removeprefix("opportunity:")
        item = session.get(Opportunity, int(number)) if number.isdigit() else None
        if item is None:
            return ""
        place = ", ".join(part for part in (item.city, item.country) if part)
        return f"{item.title} — {item.provider} ({place})" + (f": {item.url}" if item.url else "")

    filled = PLACEHOLDER.sub(value, text)
    return re.sub(r"[ \t]+([,.!?])", r"\1", filled).replace("  ", " ").strip()


def for_reply(session: Session, user: User, language: str, name: str | None) -> list[Shown]:
    """The saved replies a coach may insert: the person's language first, then the others;
    their own before the shared ones; filled in for the person."""
    rows = session.scalars(
        select(SavedReply)
        .where(or_(SavedReply.owner_id.is_(None), SavedReply.owner_id == user.id))
        .order_by(SavedReply.shortcut)
    ).all()
    rows = sorted(rows, key=lambda row: (row.language != language, row.owner_id is None))
    return [
        Shown(
            row.id,
            row.shortcut,
            row.language,
            row.owner_id is None,
            row.text,
            fill(session, row.text, name, user.display_name),
        )  # fmt: skip
        for row in rows
    ]


# --- what a coach's reply may carry besides its text ----------------------------------------

MAX_CHOICES = 4
MAX_CHOICE = 40  # characters of a button's title (Telegram's callback data holds 64 bytes)
# A coach's button carries its title after this mark: the channel passes a tap on it to the
# coach's conversation as the person's answer, where any other button means "back to the bot".
COACH_CHOICE = "="


def choices(typed: str) -> list[str]:
    """Buttons the young person can tap under a coach's reply ("Sì | No"): their titles. A tap
    comes back as the title, as if typed, into the coach's conversation."""
    found = [" ".join(part.split()) for part in typed.split("|")]
    found = [part for part in found if part]
    if len(found) > MAX_CHOICES:
        raise SavedReplyError("At most %(max)d buttons, separated by |.", max=MAX_CHOICES)
    for title in found:
        if len(title) > MAX_CHOICE or len((COACH_CHOICE + title).encode()) > 64:
            raise SavedReplyError(
                "A button has at most %(max)d characters: “%(title)s”.", max=MAX_CHOICE, title=title
            )
        if title.startswith(("/", "#")):
            raise SavedReplyError("A button cannot start with / or #: “%(title)s”.", title=title)
    return found


def choice_markup(titles: list[str]) -> dict[str, Any] | None:
    """The buttons as Telegram's inline keyboard, side by side (None without any)."""
    if not titles:
        return None
    return {
        "inline_keyboard": [
            [{"text": title, "callback_data": COACH_CHOICE + title} for title in titles]
        ]
    }


@dataclass(frozen=True)
class Card:
    """An opportunity of the catalogue as a message: everything about it, in the person's
    language, and a button to its page where it has one."""

    text: str
    buttons: list[dict[str, str]]

    def message(self) -> dict[str, Any]:
        """As sendMessage parameters."""
        found: dict[str, Any] = {"text": self.text, "disable_web_page_preview": True}
        if self.buttons:
            found["reply_markup"] = {
                "inline_keyboard": [
                    [{"text": b["title"], "url": b["payload"]}] for b in self.buttons
                ]
            }
        return found


def card(session: Session, opportunity_id: int, language: str) -> Card:
    """An opportunity card for a coach's reply."""
    item = get_opportunity(session, opportunity_id)
    if item is None:
        raise SavedReplyError("There is no such training or job in the catalogue.")
    words = mark_rtl(details(item, vocabulary(), language))
    link = item.url if item.url and item.url.startswith(("https://", "http://")) else None
    buttons = (
        [{"title": message_text("alert_details_button", language), "payload": link}] if link else []
    )
    return Card(words, buttons)
