"""The bridge between one Telegram chat and the Rasa server: pseudonymise, forward, render."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from cachetools import TTLCache
from telegram import Bot, Chat, InputFile, User
from telegram.constants import ChatAction, ParseMode

from bot.languages import mark_rtl
from bot.messages import text as message_text
from bot.pseudonym import pseudonym
from connectors.choices import OfferedChoices
from connectors.language import LanguageKeeper
from connectors.rasa.client import RasaClient, RasaUnavailable
from connectors.records import Records, channel_payload
from connectors.telegram.callbacks import PayloadStore
from connectors.telegram.coaching import FORWARD, Coaching
from connectors.telegram.render import render_replies, say
from connectors.telegram.turn import Sink, current_sink

logger = logging.getLogger(__name__)
MAX_INPUT = 1000  # characters of one message passed to the NLU
TYPING_AFTER = 1.0  # seconds: show "typing…" only when Rasa is not answering at once
TYPING_EVERY = 4.5  # Telegram shows the indicator for about 5 seconds
TOUCH_EVERY = 60  # seconds: a registered person's last activity is written at most this often


class Bridge:
    """Forwards a person's messages to Rasa and sends Rasa's replies back."""

    def __init__(
        self,
        rasa: RasaClient,
        payloads: PayloadStore,
        pseudonym_key: str,
        records: Records | None = None,
        default_language: str = "en",
        coaching: Coaching | None = None,
    ) -> None:
        self.rasa = rasa
        self.coaching = coaching
        # The buttons each person was last offered (shared with the coaching side's notices).
        self.choices = coaching.choices if coaching is not None else OfferedChoices()
        self.payloads = payloads
        self._pseudonym_key = pseudonym_key
        self.records = records
        # (sender, chat) of registered people whose activity and chat were written lately
        self._touched: TTLCache[tuple[str, int], bool] = TTLCache(100_000, TOUCH_EVERY)
        self.languages = LanguageKeeper(
            rasa, default_language, records.stored_language if records else None
        )

    def sender_id(self, user: User) -> str:
        """The pseudonym Rasa knows this person by."""
        return pseudonym(self._pseudonym_key, "tg", user.id)

    def language_of(self, user: User | None) -> str:
        """The language to write our own messages to this person in."""
        if user is None:
            return self.languages.fallback
        return self.languages.known(self.sender_id(user), user.language_code)

    async def forward(
        self, bot: Bot, chat: Chat, user: User, text: str, *, words: str | None = None, **meta: Any
    ) -> None:
        """Send `text` to Rasa as this person and deliver the replies to the chat. `words`: what
        the person typed themselves, screened for a crisis (by default `text`; a command passes
        its arguments, a button "")."""
        sender = self.sender_id(user)
        words = text if words is None else words  # all of it: a cry for help at the end counts
        too_long = len(text) > MAX_INPUT
        text = text[:MAX_INPUT]
        language = await self.languages.before_turn(sender, text, user.language_code)
        if too_long:
            await self.say(bot, chat.id, message_text("too_long", language, limit=MAX_INPUT))
        # Typed words that name one of the buttons just offered tap it ("in English").
        choice = None if meta else self.choices.resolve(sender, text, language)
        if choice is not None:
            meta = {"via": "button", "typed": True}
        answer = self.records is not None and channel_payload(choice or text)
        if answer and self.coaching is not None and self.coaching.signals_crisis(words):
            # "Still looking and I want to die": words that get help below, never an answer.
            answer, choice, meta = False, None, ({} if choice is not None else meta)
        if answer and self.records is not None:
            # A check-in's or a rating's answer, or the plan: the channel's, not a turn of Rasa's.
            replies = await asyncio.to_thread(
                self.records.reach_answer, sender, choice or text, language
            )
            await self.deliver(bot, chat.id, replies)
            self.choices.remember(sender, replies)
            return
        verdict = FORWARD
        if self.coaching is not None:
            verdict = await self.coaching.before_turn(
                bot, chat.id, sender, text, language, meta, choice, words=words
            )
        text = choice or text
        if verdict.record is not None and words:
            # A crisis: the coaches' transcript shows the person's words, not a command's payload.
            text = words[:MAX_INPUT]
        metadata = {
            "language_code": user.language_code,
            "language": language,
            "chat_type": chat.type,
            **meta,
        }
        sink = current_sink()
        if sink is not None:
            metadata["update_id"] = sink.update_id  # lets a retry find a turn Rasa already had
        if not verdict.answer:
            await self._record_only(bot, chat.id, sender, text, language, metadata, verdict.record)
            return
        if verdict.meanwhile:
            # Waiting for a coach: the bot answers this one question and pauses again.
            await self._resume_meanwhile(sender)
        request = asyncio.ensure_future(self._turn(sender, text, metadata, sink))
        typing = asyncio.ensure_future(self._typing(bot, chat.id, request))
        try:
            replies = await request
        except RasaUnavailable as error:
            logger.warning("Rasa did not answer (%s) for sender %s", error, sender)
            if sink is not None:
                sink.retry_later("rasa")  # the update stays stored and is handled again
                return
            await self.say(bot, chat.id, message_text("rasa_down", language))
            return
        finally:
            typing.cancel()
            if verdict.meanwhile:
                await self._pause_again(sender, language)
        if not replies:
            # Rasa answers 200 with nothing when an action failed (e.g. the action server is
            # down): try again later (the failed attempt stays in the tracker, unanswered);
            # never leave the person in silence.
            logger.warning("Rasa sent no reply for sender %s", sender)
            if sink is not None:
                sink.retry_later("actions")
                return
            await self.say(bot, chat.id, message_text("rasa_down", language))
            return
        if verdict.meanwhile and self.coaching is not None:
            replies = [*replies, self.coaching.meanwhile_note(language)]
        await self.deliver(bot, chat.id, replies)
        self.choices.remember(sender, replies)
        await self.after_turn(bot, chat.id, sender, language, replies)

    async def link_staff(self, bot: Bot, chat: Chat, code: str) -> None:
        """Link a coach's or admin's account to this chat (their one-time link); say so."""
        name = (
            None
            if self.records is None or chat.type != "private"
            else await asyncio.to_thread(self.records.link_staff, code, chat.id)
        )
        if name is None:
            await self.say(bot, chat.id, "This link is not valid (any more): make a new one on "
                           "the dashboard's Broadcasts page.")  # fmt: skip
            return
        await self.say(bot, chat.id, f"✅ Linked to the dashboard account of {name}: requests "
                       "waiting for you and test broadcasts will arrive in this chat.")  # fmt: skip

    async def screen(self, bot: Bot, chat: Chat, user: User, words: str, **meta: Any) -> bool:
        """Words the bot does not otherwise answer (a caption, an edited message): when they
        signal a crisis, the person gets help and a coach is asked for, as for a text (True);
        else nothing is done (False)."""
        if self.coaching is None or not self.coaching.signals_crisis(words):
            return False
        await self.forward(bot, chat, user, words, **meta)
        return True

    async def _resume_meanwhile(self, sender: str) -> None:
        try:
            await self.rasa.resume(sender)
        except RasaUnavailable:
            logger.warning("Could not resume the bot for one answer of sender %s", sender)

    async def _pause_again(self, sender: str, language: str) -> None:
        try:
            await self.rasa.pause(sender, language)
        except RasaUnavailable:
            logger.warning("Could not pause the bot again for sender %s", sender)

    async def _turn(
        self, sender: str, text: str, metadata: dict[str, Any], sink: Sink | None
    ) -> list[dict[str, Any]]:
        """Rasa's replies to one message. An update handled again (after a crash or a failed
        attempt) first looks for its turn in the tracker: Rasa may have answered the first time
        while the answer was lost on the way."""
        if sink is not None and sink.recheck:
            earlier = await self.rasa.replies_for(sender, sink.update_id)
            if earlier:
                logger.info("Sender %s: the turn was already in the tracker", sender)
                return earlier
        return await self.rasa.send_message(sender, text, metadata)

    async def _record_only(
        self,
        bot: Bot,
        chat_id: int,
        sender: str,
        text: str,
        language: str,
        metadata: dict[str, Any],
        record: str | None,
    ) -> None:
        """While a coach is asked for or holds the conversation: Rasa records the message (the
        conversation is paused, so it predicts nothing) and whatever it might answer is dropped.
        """
        sink = current_sink()
        try:
            already = (
                sink is not None
                and sink.recheck
                and await self.rasa.replies_for(sender, sink.update_id) is not None
            )
            if not already:
                await self.rasa.send_message(sender, text, {**metadata, "handoff": True})
            if record:
                await self.rasa.record_bot_message(sender, record, {"source": "safeguarding"})
        except RasaUnavailable as error:
            # The coaches would not see this message: say so rather than lose it silently.
            logger.warning("Rasa did not record a message (%s) for sender %s", error, sender)
            if sink is not None and record is None:
                sink.retry_later("rasa")  # kept, and recorded once Rasa is back
                return
            await self.say(bot, chat_id, message_text("rasa_down", language))
            return
        await self.after_turn(bot, chat_id, sender, language, [])

    async def after_turn(
        self, bot: Bot, chat_id: int, sender: str, language: str, replies: list[dict[str, Any]]
    ) -> None:
        """Work that must wait until Rasa has saved the turn: language, activity, export,
        erasure."""
        requests = channel_requests(replies)
        self.languages.after_turn(sender, requests)
        language = requests.get("language") or language
        if self.records is None:
            return
        if requests.get("erase_conversation"):
            self._touched.pop((sender, chat_id), None)
            self.choices.forget(sender)
            if await asyncio.to_thread(self.finish_erasures, sender, chat_id):
                await self.say(bot, chat_id, message_text("delete_done", language))
            return
        if requests.get("handoff") and self.coaching is not None:
            await asyncio.to_thread(self.coaching.attach, sender, chat_id)
        try:
            # Once a registered person's chat is written (alerts need it), their activity is
            # written at most once a minute.
            if (sender, chat_id) not in self._touched and await asyncio.to_thread(
                self._touch, sender, chat_id
            ):
                self._touched[sender, chat_id] = True
        except Exception:  # bookkeeping only: the person already has their answer
            logger.warning("Could not record the activity of sender %s", sender, exc_info=True)
        if requests.get("send_my_data"):
            await self.send_export(bot, chat_id, sender, language)

    def finish_erasures(
        self, sender: str | None = None, chat_id: int | None = None
    ) -> list[tuple[int, str]]:
        """Finish the erasures asked for (of one person, or every one still due): the chats to
        confirm to, with their language."""
        assert self.records is not None
        done = self.records.finish_erasures(sender, chat_id)
        return [(item.chat_id, item.language) for item in done if item.chat_id is not None]

    def _touch(self, sender: str, chat_id: int) -> bool:
        assert self.records is not None
        return self.records.touch(sender, chat_id)

    def _export(self, sender: str) -> bytes:
        assert self.records is not None
        document = self.records.export(sender)
        return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")

    async def send_export(self, bot: Bot, chat_id: int, sender: str, language: str) -> None:
        """Send everything stored about the person as a JSON document (`sendDocument`)."""
        try:
            data = await asyncio.to_thread(self._export, sender)
            await bot.send_document(
                chat_id,
                InputFile(data, filename="my-data.json"),
                caption=mark_rtl(message_text("mydata_caption", language)),
            )
        except Exception:
            logger.exception("Could not send the data export of sender %s", sender)
            await self.say(bot, chat_id, message_text("mydata_failed", language))

    async def deliver(self, bot: Bot, chat_id: int, replies: list[dict[str, Any]]) -> None:
        """Send Rasa's replies to a chat, in order."""
        for message in render_replies(replies, self.payloads.encode):
            await bot.send_message(
                chat_id,
                message.text,
                parse_mode=ParseMode.HTML,
                reply_markup=message.keyboard,
                disable_web_page_preview=True,
            )

    async def say(self, bot: Bot, chat_id: int, text: str) -> None:
        """Send one plain message of ours (not from Rasa)."""
        await say(bot, chat_id, text)

    async def _typing(self, bot: Bot, chat_id: int, request: asyncio.Future[Any]) -> None:
        """Show "typing…" while Rasa works, unless it answers within TYPING_AFTER seconds."""
        await asyncio.wait({request}, timeout=TYPING_AFTER)
        while not request.done():
            with contextlib.suppress(Exception):
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.wait({request}, timeout=TYPING_EVERY)


def channel_requests(replies: list[dict[str, Any]]) -> dict[str, Any]:
    """What the actions asked the channel to do (`{"custom": {"neetbot": {...}}}` replies)."""
    requests: dict[str, Any] = {}
    for reply in replies:
        custom = reply.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("neetbot"), dict):
            requests.update(custom["neetbot"])
    return requests
