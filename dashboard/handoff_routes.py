"""Handoff from the browser: a coach takes a waiting chat, writes into Telegram, hands back.

The coach's messages are queued in the outbox (`bot.services.outbox`), which the connector
sends to the person's Telegram chat in order with the bot's own messages, and are recorded in
Rasa's tracker, so the transcript shows everything the person saw. Handing back resumes the bot
in Rasa.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker

from bot.languages import mark_rtl
from bot.messages import text as message_text
from bot.refusal import Refusal
from bot.services import followups, handoff, outbox, saved_replies
from bot.services.conversations import display_name
from bot.services.handoff import HandoffError
from bot.services.people import find
from bot.services.saved_replies import SavedReplyError
from bot.text import parse_id
from connectors.rasa.client import RasaClient, RasaUnavailable
from dashboard.deps import Rasa, Sessions
from dashboard.i18n import _, number, say
from dashboard.pages import back, flash
from dashboard.security import SIGNED_IN_FORM, Viewer, user_row, viewer

logger = logging.getLogger(__name__)
router = APIRouter()
MAX_REPLY = 4000  # Telegram takes 4,096 characters in one message


def name_of(session: Session, sender_id: str) -> str:
    """The name a registered person gave, else their pseudonym."""
    person = find(session, sender_id)
    return display_name(sender_id, person.name if person else None)


class Undeliverable(Refusal):
    """The message cannot reach the person; the text says why, for the coach."""


async def deliver(
    sessions: sessionmaker[Session],
    rasa: RasaClient,
    sender_id: str,
    chat_id: int | None,
    text: str,
    by: str | None,
    messages: list[dict[str, Any]] | None = None,
) -> None:
    """Queue `text` (or `messages`: sendMessage parameters, buttons and all) for the person's
    Telegram chat, in the one outbox every message to a young person leaves through (the
    Telegram connector sends it: in order with the bot's messages, retried, paced, never
    twice), and record it in their transcript."""
    if chat_id is None:
        raise Undeliverable("This person is not reachable on Telegram (e.g. a console chat).")
    messages = messages or [{"text": mark_rtl(text)}]

    def queue() -> None:
        with sessions.begin() as session:
            outbox.enqueue(session, chat_id, [{"chat_id": chat_id, **m} for m in messages], None)

    await asyncio.to_thread(queue)
    metadata = {"coach": by} if by else {"source": "coach"}
    try:
        for message in messages:
            rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            buttons = [
                {"title": b["text"], "payload": b.get("url") or b.get("callback_data", "")}
                for row in rows
                for b in row
            ]
            await rasa.record_bot_message(sender_id, message["text"], metadata, buttons)
    except RasaUnavailable:
        logger.warning("Queued, but could not record a coach message for %s", sender_id)


def ask_rating(
    sessions: sessionmaker[Session], sender: str, chat_id: int | None, coach_id: int, language: str
) -> None:
    """After a hand-back, once: "How was talking to <coach>?" (1-5), through the outbox."""
    if chat_id is None:
        return
    with sessions.begin() as session:
        question = followups.ask_rating(session, sender, coach_id, language)
        outbox.enqueue(session, chat_id, [{"chat_id": chat_id, **question}], None)


@router.post("/handoffs/{handoff_id}/take", dependencies=SIGNED_IN_FORM)
async def take(
    handoff_id: int,
    request: Request,
    sessions: Sessions,
    rasa: Rasa,
    user: Viewer = Depends(viewer),
) -> Response:
    """Take a waiting conversation: the person is told a coach joined."""

    def work() -> tuple[str, int | None, str, str]:
        with sessions.begin() as session:
            coach = user_row(session, user)
            taken = handoff.take(session, handoff_id, coach)
            return taken.sender_id, taken.telegram_chat_id, taken.language, coach.display_name

    try:
        sender, chat_id, language, shown = await asyncio.to_thread(work)
    except HandoffError as error:
        flash(request, say(error), "error")
        return back("/conversations")
    # Young people see the coach's display name, never the login name. The text is automatic:
    # the transcript shows it as the assistant's, not as typed by the coach.
    joined = message_text("handoff_coach_joined", language, name=shown)
    try:
        await deliver(sessions, rasa, sender, chat_id, joined, None)
    except Undeliverable as error:
        flash(request, _("You have the conversation, but: %(reason)s", reason=say(error)), "error")
    return back(f"/conversations/{sender}")


@router.post("/handoffs/{handoff_id}/reply", dependencies=SIGNED_IN_FORM)
async def reply(
    handoff_id: int,
    request: Request,
    sessions: Sessions,
    rasa: Rasa,
    text: Annotated[str, Form(max_length=20000)] = "",
    choices: Annotated[str, Form(max_length=1000)] = "",
    opportunity: Annotated[str, Form(max_length=20)] = "",
    user: Viewer = Depends(viewer),
) -> Response:
    """Write to the person, into their Telegram chat: a text, perhaps with buttons to tap, and
    perhaps an opportunity card."""

    def work() -> tuple[str, int | None, str]:
        with sessions.begin() as session:
            current = handoff.held(session, handoff_id, user_row(session, user))
            return current.sender_id, current.telegram_chat_id, current.language

    try:
        sender, chat_id, language = await asyncio.to_thread(work)
    except HandoffError as error:
        flash(request, say(error), "error")
        return back("/conversations")
    message = text.strip()
    try:
        titles = saved_replies.choices(choices)
        item = parse_id(opportunity)
        if opportunity and item is None:
            raise SavedReplyError("There is no such training or job in the catalogue.")
        card = None if item is None else await asyncio.to_thread(_card, sessions, item, language)
    except SavedReplyError as error:
        flash(request, say(error), "error")
        return back(f"/conversations/{sender}#reply")
    if titles and not message:
        flash(request, _("Buttons go under a message: write one."), "error")
    elif not message and card is None:
        flash(request, _("The message is empty."), "error")
    elif len(message) > MAX_REPLY:
        most = number(MAX_REPLY)
        flash(
            request, _("A message has at most %(most)s characters; split it.", most=most), "error"
        )
    else:
        sent: list[dict[str, Any]] = []
        if message:
            markup = saved_replies.choice_markup(titles)
            sent.append({"text": mark_rtl(message), **({"reply_markup": markup} if markup else {})})
        if card is not None:
            sent.append(card.message())
        try:
            await deliver(sessions, rasa, sender, chat_id, message, user.username, sent)
        except Undeliverable as error:
            flash(request, say(error), "error")
        else:  # back to the reply box, under the newest message, which says it was sent
            return back(f"/conversations/{sender}?sent=1#reply")
    return back(f"/conversations/{sender}#reply")


def _card(sessions: sessionmaker[Session], item: int, language: str) -> saved_replies.Card:
    with sessions.begin() as session:
        return saved_replies.card(session, item, language)


@router.post("/handoffs/{handoff_id}/handback", dependencies=SIGNED_IN_FORM)
async def hand_back(
    handoff_id: int,
    request: Request,
    sessions: Sessions,
    rasa: Rasa,
    user: Viewer = Depends(viewer),
) -> Response:
    """Hand the conversation back to the bot, and tell the person."""

    def work() -> tuple[str, int | None, str]:
        with sessions.begin() as session:
            given = handoff.hand_back(session, handoff_id, user_row(session, user))
            return given.sender_id, given.telegram_chat_id, given.language

    try:
        sender, chat_id, language = await asyncio.to_thread(work)
    except HandoffError as error:
        flash(request, say(error), "error")
        return back("/conversations")
    try:
        await rasa.resume(sender)
    except RasaUnavailable:
        flash(request, _("Handed back, but the bot could not be told (Rasa is down)."), "error")
    try:
        await deliver(
            sessions, rasa, sender, chat_id, message_text("handoff_ended", language), None
        )
    except Undeliverable as error:
        flash(
            request,
            _("Handed back, but the person was not told: %(reason)s", reason=say(error)),
            "error",
        )
    else:
        await asyncio.to_thread(ask_rating, sessions, sender, chat_id, user.id, language)
    flash(request, _("Handed back to the assistant."))
    return back(f"/conversations/{sender}")
