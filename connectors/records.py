"""What every channel writes and reads in the core around a turn, the Telegram connector and
the console alike: the language a person chose, their activity, their data export, and the
erasures to finish once Rasa has saved the turn. Sending or printing stays with the channel."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.services import broadcasts, followups, people, plans, privacy
from bot.services.events import EventLog
from bot.services.people import now


def channel_payload(message: str) -> bool:
    """Whether a payload is the channel's to answer, not Rasa's: a check-in's or a rating's
    answer, `/plan` and its buttons."""
    return followups.is_reach_payload(message) or plans.is_plan_payload(message)


class Records:
    """A channel's access to the people's records (`sessions`) and the conversation log."""

    def __init__(
        self, sessions: sessionmaker[Session], events: EventLog, link_secret: str | None = None
    ) -> None:
        self.sessions = sessions
        self.events = events
        self.link_secret = link_secret  # checks the links of coaches' and admins' own chats

    def stored_language(self, sender: str) -> str | None:
        """The language the person chose in their profile, if any."""
        with self.sessions.begin() as session:
            return people.preferred_language(session, sender)

    def touch(self, sender: str, chat_id: int | None = None) -> bool:
        """Note the person's activity (and their chat, for alerts); True for a known person."""
        with self.sessions.begin() as session:
            return people.touch(session, sender, chat_id)

    def reach_answer(self, sender: str, answer: str, language: str) -> list[dict[str, Any]]:
        """Record an answer to a check-in or a rating, show the plan or record a tap on it (a
        button's payload, or `/plan`); the replies."""
        with self.sessions.begin() as session:
            if plans.is_plan_payload(answer):
                return [plans.answer(session, sender, answer, language).as_rasa()]
            return [followups.answer(session, sender, answer, language).as_rasa()]

    def link_staff(self, code: str, chat_id: int) -> str | None:
        """A coach or admin opened their one-time link: their chat is linked to their account
        (test broadcasts arrive there). Their display name, or None for a bad link."""
        if self.link_secret is None:
            return None
        with self.sessions.begin() as session:
            return broadcasts.link_chat(session, self.link_secret, code, chat_id, now().date())

    def export(self, sender: str) -> dict[str, Any]:
        """Everything stored about the person (`/mydata`)."""
        with self.sessions.begin() as session:
            return privacy.export_person(session, self.events, sender)

    def finish_erasures(
        self, sender: str | None = None, chat_id: int | None = None
    ) -> list[privacy.DueErasure]:
        """Finish the erasures due (of one person, whose chat is `chat_id`, or all); the ones
        now done, to confirm."""
        return privacy.finish_due(self.sessions, self.events, sender, chat_id)
