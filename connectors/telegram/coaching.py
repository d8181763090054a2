"""The connector's side of coach handoffs and safeguarding.

Before each message reaches Rasa, the connector decides:
- a message that signals a crisis gets the help contacts at once, and opens an urgent request
  for a coach (the bot pauses, the conversation tops the coaches' list). Whatever the person
  typed is screened (a text, a command's arguments, a caption, an edit); a button's payload is
  not;
- while a coach is asked for or holds the conversation, messages are recorded in Rasa (paused,
  so it predicts nothing) and any reply is dropped: the bot never answers then. A command or a
  button (other than /coach) means the person went back to the bot.
A loop closes the requests nobody took in time and offers to carry on with the bot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot
from telegram.error import TelegramError

from bot.languages import mark_rtl
from bot.messages import text as message_text
from bot.services import handoff, outbox
from bot.services.people import find
from bot.services.safeguarding import Signal, safeguarding
from connectors.choices import OfferedChoices
from connectors.rasa.client import RasaClient, RasaUnavailable
from connectors.telegram.callbacks import PayloadStore
from connectors.telegram.render import keyboard, say

logger = logging.getLogger(__name__)
ASK_AGAIN = "/request_coach"


@dataclass(frozen=True)
class Verdict:
    """What to do with a message: forward it as usual, or record it without any bot reply
    (then `record` is a message of ours to add to the transcript after it)."""

    answer: bool
    record: str | None = None  # (set for a crisis only: the help message)
    meanwhile: bool = False  # answered while the person waits for a coach


FORWARD = Verdict(answer=True)
SILENT = Verdict(answer=False)
MEANWHILE = Verdict(answer=True, meanwhile=True)
# Questions the bot answers while a person waits for a coach (they keep their place): nobody
# is left in silence because a coach was asked for, or because of a misunderstanding.
ORDINARY_QUESTIONS = frozenset(
    {"ask_trainings", "ask_jobs", "ask_programme", "help", "bot_challenge", "show_more",
     "show_details"}
)  # fmt: skip
ORDINARY_MIN_CONFIDENCE = 0.5


class Coaching:
    """Handoffs and safeguarding for one connector."""

    def __init__(
        self,
        rasa: RasaClient,
        sessions: sessionmaker[Session],
        payloads: PayloadStore,
        timeout_seconds: float,
        poll_seconds: float,
        choices: OfferedChoices | None = None,
    ) -> None:
        self.rasa = rasa
        self.sessions = sessions
        self.payloads = payloads
        self.choices = choices or OfferedChoices()
        self.timeout = dt.timedelta(seconds=timeout_seconds)
        self.poll_seconds = poll_seconds

    def _state(self, sender: str) -> handoff.State | None:
        with self.sessions.begin() as session:
            return handoff.state(session, sender)

    async def before_turn(
        self,
        bot: Bot,
        chat_id: int,
        sender: str,
        text: str,
        language: str,
        meta: dict[str, Any],
        choice: str | None = None,
        *,
        words: str,
    ) -> Verdict:
        """Decide what happens to a message before Rasa sees it (`choice`: the payload of the
        button that typed words named, if any; `words`: what the person typed themselves, all
        of it, screened for a crisis; empty for a button)."""
        signal = safeguarding().detect(words) if words else None
        if signal is not None:
            return await self._crisis(bot, chat_id, sender, language, signal)
        state = await asyncio.to_thread(self._state, sender)
        if state is None:
            return FORWARD
        sent = choice or text
        explicit = meta.get("command") or meta.get("via") == "button" or choice is not None
        if explicit and sent != ASK_AGAIN:
            await self.back_to_bot(sender)
            return FORWARD
        if state.status != "waiting":
            return SILENT  # a coach has the conversation: they read it
        if sent == ASK_AGAIN:  # "Keep waiting", or asking again
            await say(bot, chat_id, message_text("handoff_still_waiting", language))
            return SILENT
        if not state.urgent and await self._ordinary_question(text):
            return MEANWHILE  # (after a crisis, a coach answers: no trainings and jobs)
        if not state.acknowledged:
            await asyncio.to_thread(self._acknowledge, state.id)
            await say(bot, chat_id, message_text("handoff_received", language))
        return SILENT

    async def _ordinary_question(self, text: str) -> bool:
        """Whether the NLU reads `text` as a question the bot can answer meanwhile."""
        try:
            parsed = await self.rasa.parse(text)
        except RasaUnavailable:
            return False
        intent = parsed.get("intent") or {}
        name = str(intent.get("name") or "").split("/")[0]
        confidence = float(intent.get("confidence") or 0.0)
        return name in ORDINARY_QUESTIONS and confidence >= ORDINARY_MIN_CONFIDENCE

    @staticmethod
    def meanwhile_note(language: str) -> dict[str, Any]:
        """The note under an answer given while waiting (a reply in Rasa's shape), with "Keep
        waiting" and "Back to the assistant" buttons."""
        buttons = [
            {"title": message_text("handoff_keep_waiting_button", language), "payload": ASK_AGAIN},
            {"title": message_text("handoff_back_button", language), "payload": "/help"},
        ]
        return {"text": message_text("handoff_meanwhile", language), "buttons": buttons}

    def _acknowledge(self, handoff_id: int) -> None:
        with self.sessions.begin() as session:
            handoff.acknowledge(session, handoff_id)

    @staticmethod
    def signals_crisis(words: str) -> bool:
        """Whether `words` signal a crisis (what `before_turn` answers with the help contacts)."""
        return bool(words) and safeguarding().detect(words) is not None

    def _open_crisis(self, sender: str, chat_id: int, language: str, signal: Signal) -> str:
        """Open (or escalate) the urgent request; returns the help message for the person."""
        with self.sessions.begin() as session:
            handoff.request(session, sender, language, "crisis", signal.category)
            handoff.attach_chat(session, sender, chat_id)
            person = find(session, sender)
            country = person.country if person is not None else None
        contacts = safeguarding().contacts(country, language)
        lines = "\n".join(f"• {name}: {number}" for name, number in contacts.lines)
        return message_text("crisis_help", language, emergency=contacts.emergency, contacts=lines)

    async def _crisis(
        self, bot: Bot, chat_id: int, sender: str, language: str, signal: Signal
    ) -> Verdict:
        help_text = await asyncio.to_thread(self._open_crisis, sender, chat_id, language, signal)
        # The person gets help first, whatever happens to the rest.
        await say(bot, chat_id, help_text)
        logger.warning("Safeguarding: a %s signal from sender %s", signal.category, sender)
        try:
            await self.rasa.pause(sender, language)
        except RasaUnavailable:
            logger.warning("Could not pause the bot for sender %s", sender)
        return Verdict(answer=False, record=help_text)

    async def back_to_bot(self, sender: str) -> None:
        """The person went back to the bot: close their request and let the bot answer."""
        await asyncio.to_thread(self._close_for, sender)
        try:
            await self.rasa.resume(sender)
        except RasaUnavailable:
            logger.warning("Could not resume the bot for sender %s", sender)

    def _close_for(self, sender: str) -> None:
        with self.sessions.begin() as session:
            handoff.close_for(session, sender)

    def attach(self, sender: str, chat_id: int) -> None:
        """Keep the chat's address on a new request, so that a coach can write to it."""
        with self.sessions.begin() as session:
            handoff.attach_chat(session, sender, chat_id)

    # --- requests nobody took ---------------------------------------------------------------

    def _queue(self, chat_id: int, message: dict[str, Any]) -> None:
        with self.sessions.begin() as session:
            outbox.enqueue(session, chat_id, [message], None)

    def _expire(self) -> list[handoff.Expired]:
        with self.sessions.begin() as session:
            return handoff.expire_waiting(session, self.timeout)

    async def expire_once(self) -> int:
        """Close the requests that waited too long; tell each person and offer the bot."""
        expired = await asyncio.to_thread(self._expire)
        for item in expired:
            language = item.language
            buttons = [
                {"title": message_text(f"handoff_timeout_{name}_button", language), "payload": to}
                for name, to in (("bot", "/help"), ("again", ASK_AGAIN))
            ]
            notice = message_text("handoff_timeout", language)
            try:
                await self.rasa.resume(item.sender_id)
                self.choices.remember(item.sender_id, [{"buttons": buttons}])
                if item.chat_id is not None:
                    # Through the outbox, like every message to a young person: the connector
                    # sends it within a second, in order with the rest (`watch_outbox_forever`).
                    markup = keyboard(buttons, self.payloads.encode)
                    message = {"chat_id": item.chat_id, "text": mark_rtl(notice)}
                    if markup is not None:
                        message["reply_markup"] = markup.to_dict()
                    await asyncio.to_thread(self._queue, item.chat_id, message)
                await self.rasa.record_bot_message(
                    item.sender_id, notice, {"source": "handoff_timeout"}, buttons
                )
            except (RasaUnavailable, TelegramError) as error:
                logger.warning(
                    "Could not tell sender %s that no coach was free (%s)",
                    item.sender_id,
                    type(error).__name__,
                )
        return len(expired)

    async def run_forever(self, gate: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Check for requests nobody took, every `poll_seconds`, until cancelled; `gate`:
        whether this replica does the round (one replica does: decision 26)."""
        while True:
            try:
                if gate is None or await gate():
                    await self.expire_once()
            except Exception:
                logger.exception("Checking for unanswered coach requests failed")
            await asyncio.sleep(self.poll_seconds)
