"""Handoff from the browser: a coach takes a waiting chat, writes into Telegram, hands back.

The coach's messages are queued in the outbox (`bot.services.outbox`), which the connector
sends to the person's Telegram chat in order with the bot's own messages, and are recorded in
Rasa's tracker, so the transcript shows everything the person saw. Handing back resumes the bot
in Rasa.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker

from bot.languages import mark_rtl
from bot.messages import text as message_text
from bot.services import followups, handoff, outbox
from bot.services.conversations import display_name
from bot.services.handoff import HandoffError
from bot.services.people import find
from connectors.rasa.client import RasaClient, RasaUnavailable
from dashboard.deps import Rasa, Sessions
from dashboard.pages import back, flash
from dashboard.security import SIGNED_IN_FORM, Viewer, user_row, viewer

logger = logging.getLogger(__name__)
router = APIRouter()
MAX_REPLY = 4000  # Telegram takes 4,096 characters in one message


def name_of(session: Session, sender_id: str) -> str:
    """The name a registered person gave, else their pseudonym."""
    person = find(session, sender_id)
    return display_name(sender_id, person.name if person else None)


class Undeliverable(Exception):
    """The message cannot reach the person; the text says why, for the coach."""


async def deliver(
    sessions: sessionmaker[Session],
    rasa: RasaClient,
    sender_id: str,
    chat_id: int | None,
    text: str,
    by: str | None,
) -> None:
    """Queue `text` for the person's Telegram chat, in the one outbox every message to a young
    person leaves through (the Telegram connector sends it: in order with the bot's messages,
    retried, paced, never twice), and record it in their transcript."""
    if chat_id is None:
        raise Undeliverable("This person is not reachable on Telegram (e.g. a console chat).")

    def queue() -> None:
        with sessions.begin() as session:
            outbox.enqueue(session, chat_id, [{"chat_id": chat_id, "text": mark_rtl(text)}], None)

    await asyncio.to_thread(queue)
    try:
        await rasa.record_bot_message(sender_id, text, {"coach": by} if by else {"source": "coach"})
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
        flash(request, str(error), "error")
        return back("/conversations")
    # Young people see the coach's display name, never the login name. The text is automatic:
    # the transcript shows it as the assistant's, not as typed by the coach.
    joined = message_text("handoff_coach_joined", language, name=shown)
    try:
        await deliver(sessions, rasa, sender, chat_id, joined, None)
    except Undeliverable as error:
        flash(request, f"You have the conversation, but: {error}", "error")
    return back(f"/conversations/{sender}")


@router.post("/handoffs/{handoff_id}/reply", dependencies=SIGNED_IN_FORM)
async def reply(
    handoff_id: int,
    request: Request,
    sessions: Sessions,
    rasa: Rasa,
    text: Annotated[str, Form(max_length=20000)] = "",
    user: Viewer = Depends(viewer),
) -> Response:
    """Write to the person, into their Telegram chat."""

    def work() -> tuple[str, int | None]:
        with sessions.begin() as session:
            current = handoff.held(session, handoff_id, user_row(session, user))
            return current.sender_id, current.telegram_chat_id

    try:
        sender, chat_id = await asyncio.to_thread(work)
    except HandoffError as error:
        flash(request, str(error), "error")
        return back("/conversations")
    message = text.strip()
    if not message:
        flash(request, "The message is empty.", "error")
    elif len(message) > MAX_REPLY:
        flash(request, f"A message has at most {MAX_REPLY:,} characters; split it.", "error")
    else:
        try:
            await deliver(sessions, rasa, sender, chat_id, message, user.username)
        except Undeliverable as error:
            flash(request, str(error), "error")
        else:  # back to the reply box, under the newest message, which says it was sent
            return back(f"/conversations/{sender}?sent=1#reply")
    return back(f"/conversations/{sender}#reply")


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
        flash(request, str(error), "error")
        return back("/conversations")
    try:
        await rasa.resume(sender)
    except RasaUnavailable:
        flash(request, "Handed back, but the bot could not be told (Rasa is down).", "error")
    try:
        await deliver(
            sessions, rasa, sender, chat_id, message_text("handoff_ended", language), None
        )
    except Undeliverable as error:
        flash(request, f"Handed back, but the person was not told: {error}", "error")
    else:
        await asyncio.to_thread(ask_rating, sessions, sender, chat_id, user.id, language)
    flash(request, "Handed back to the assistant.")
    return back(f"/conversations/{sender}")
