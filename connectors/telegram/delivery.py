"""Handling stored updates: in order per chat, retried until Rasa answers, replies through the
outbox (decision 18).

- `Dispatcher.accept` takes updates already stored (by the webhook or the polling loop). Each
  chat has one worker that handles its updates one after the other; chats run side by side, at
  most `concurrency` at a time.
- While an update is handled, the messages the handlers send are not sent at once: `ConnectorBot`
  collects them (`Sink`, in `turn.py`). When the handler is done, the update is marked handled
  and its messages are queued in the outbox, in one transaction, then sent (`sending.py`).
- When Rasa cannot answer (down, or its action server down), the bridge asks for a retry: the
  collected messages are dropped and the update is handled again later (backing off), with the
  person told once that their message is kept. An update handled again after a crash first looks
  in the tracker for the turn it may already have had (`Sink.recheck`), so Rasa never sees one
  message twice.
- Leaving a chat (a group) waits likewise until the update's messages are sent: the note
  saying why goes out first.
- Update ids are the bot's own: they are stored under the bot's id (a new token, a new bot,
  starts its own ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker
from telegram import Update
from telegram.error import TelegramError

from bot.db.session import in_transaction
from bot.languages import mark_rtl
from bot.messages import text as message_text
from bot.services import inbox, outbox
from connectors.telegram.context import ConnectorApplication
from connectors.telegram.sending import Outbox
from connectors.telegram.turn import SINK, Sink, bot_id_of
from connectors.telegram.updates import incoming

logger = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_FIRST, RETRY_MAX = 1.0, 15.0  # seconds between attempts: doubling, capped
GIVE_UP = {"rasa": 24 * 3600.0, "actions": 300.0}  # seconds of retrying, by reason
NOTICE_AFTER = 3.0  # seconds of retrying before the person is told their message is kept
PRUNE_EVERY = 3600.0
OUTBOX_WATCH_SECONDS = 1.0  # how often messages queued by other processes are looked for
ERASURE_RETRY_SECONDS = 30.0


class Dispatcher:
    """Handles stored updates: one worker per chat, in order, retried until Rasa answers."""

    def __init__(self, application: ConnectorApplication, concurrency: int = 256) -> None:
        """`application` is the connector's (`build_application`): its bridge and database."""
        self.application = application
        self.sessions: sessionmaker[Session] = application.bot_data.sessions
        self.outbox = Outbox(self.sessions, application.bot)
        self._bridge = application.bot_data.bridge
        self._limit = asyncio.Semaphore(concurrency)
        self._queues: dict[int, asyncio.Queue[tuple[inbox.Pending, bool]]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._told: set[int] = set()  # chats told that their message waits for Rasa
        self._stopping = asyncio.Event()

    @functools.cached_property
    def bot_id(self) -> int:
        """The id of the bot whose updates this dispatcher stores and handles."""
        return bot_id_of(self.application.bot)

    # --- intake ------------------------------------------------------------------------------

    def store(self, payloads: list[dict[str, Any]]) -> list[inbox.Pending]:
        """Store updates (in a thread: this blocks); the new ones, replays left out."""
        with self.sessions.begin() as session:
            return inbox.store(session, self.bot_id, [incoming(item) for item in payloads])

    def accept(self, updates: list[inbox.Pending], recovered: bool = False) -> None:
        """Hand stored updates to their chats' workers."""
        for item in updates:
            self._queue_for(item).put_nowait((item, recovered))

    def _queue_for(self, item: inbox.Pending) -> asyncio.Queue[tuple[inbox.Pending, bool]]:
        # An update without a chat (rare: e.g. an inline query) is a "chat" of its own.
        key = item.chat_id if item.chat_id is not None else -abs(item.update_id) - 1
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            self._spawn(self._work(key, queue))
        return queue

    async def recover(self) -> int:
        """After a (re)start: send what the outbox still holds, then handle pending updates."""
        with self.sessions.begin() as session:
            inbox.prune(session, self.bot_id)
            chats = outbox.chats_with_queued(session)
            waiting = inbox.pending(session, self.bot_id)
        self.outbox.unsure.update(chats)
        for chat_id in chats:
            if chat_id not in {item.chat_id for item in waiting}:
                self._spawn(self.outbox.flush(chat_id))
        self.accept(waiting, recovered=True)
        if waiting or chats:
            logger.info(
                "Recovered %d update(s) to handle and %d chat(s) with messages to send",
                len(waiting),
                len(chats),
            )
        return len(waiting)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    # --- handling ----------------------------------------------------------------------------

    async def _work(self, key: int, queue: asyncio.Queue[tuple[inbox.Pending, bool]]) -> None:
        """Handle one chat's updates in order; the worker ends when the chat is idle."""
        try:
            while not queue.empty() and not self._stopping.is_set():
                item, recovered = queue.get_nowait()
                if item.chat_id in self.outbox.unsure:
                    await self.outbox.flush(item.chat_id)  # what an earlier run left
                if not await self._handle(item, recovered):
                    return  # stopping: this update and the chat's next ones stay stored
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("A chat's worker failed; its updates stay stored for the next start")
        finally:
            if self._queues.get(key) is queue:
                del self._queues[key]
            while not queue.empty() and not self._stopping.is_set():
                item, recovered = queue.get_nowait()  # left over by a failure: a new worker
                self._queue_for(item).put_nowait((item, recovered))

    async def _handle(self, item: inbox.Pending, recovered: bool) -> bool:
        """Handle one update until it is done (True), or until the connector stops (False)."""
        started, delay, attempt = time.monotonic(), RETRY_FIRST, 0
        while True:
            sink = Sink(item.update_id, recheck=recovered or attempt > 0)
            token = SINK.set(sink)
            try:
                update = Update.de_json(item.payload, self.application.bot)
                async with self._limit:
                    await self.application.process_update(update)
            except Exception:
                SINK.reset(token)
                logger.exception("An update could not be read; it is dropped")
                await self._finish(item, self._unreadable(item), "dropped")
                return True
            SINK.reset(token)
            if sink.retry is None:
                self._told.discard(item.chat_id or 0)
                await self._finish(item, sink.messages)
                await self._leave(sink.leave)
                return True
            attempt += 1
            waited = time.monotonic() - started
            if waited > GIVE_UP.get(sink.retry, GIVE_UP["rasa"]):
                logger.error("Rasa did not answer one update for too long; the person is told")
                await self._finish(item, self._apology(update, "rasa_down"))
                return True
            if (
                waited >= NOTICE_AFTER
                and item.chat_id is not None
                and item.chat_id not in self._told
            ):
                self._told.add(item.chat_id)
                await asyncio.to_thread(
                    self._enqueue, item.chat_id, self._apology(update, "rasa_delayed")
                )
                await self.outbox.flush(item.chat_id)
            logger.warning(
                "Rasa could not answer (%s); trying again in %.0f s (attempt %d)",
                sink.retry,
                delay,
                attempt,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return False  # still pending: handled at the next start
            delay = min(delay * 2, RETRY_MAX)

    def _apology(self, update: Update, key: str) -> list[dict[str, Any]]:
        chat = update.effective_chat
        if chat is None:
            return []
        language = self._bridge.language_of(update.effective_user)
        return [{"chat_id": chat.id, "text": mark_rtl(message_text(key, language))}]

    @staticmethod
    def _unreadable(item: inbox.Pending) -> list[dict[str, Any]]:
        if item.chat_id is None:
            return []
        return [{"chat_id": item.chat_id, "text": message_text("unreadable", "en")}]

    async def _leave(self, chats: list[int]) -> None:
        """Leave chats (groups) now that the update's messages went out."""
        for chat_id in chats:
            try:
                await self.application.bot.leave_chat(chat_id)
            except TelegramError as error:  # already gone (removed, or left before)
                logger.info("Could not leave a group chat (%s)", type(error).__name__)

    def _enqueue(self, chat_id: int, messages: list[dict[str, Any]]) -> None:
        with self.sessions.begin() as session:
            outbox.enqueue(session, chat_id, messages, None)

    async def _finish(
        self, item: inbox.Pending, messages: list[dict[str, Any]], state: str = "done"
    ) -> None:
        """Mark the update handled and queue its messages (by chat), in one transaction."""
        by_chat: dict[int, list[dict[str, Any]]] = {}
        for message in messages:
            by_chat.setdefault(message["chat_id"], []).append(message)

        def write() -> dict[int, list[outbox.Outgoing]]:
            with self.sessions.begin() as session:
                inbox.finish(session, item.bot_id, item.update_id, state)
                return {
                    chat_id: outbox.enqueue(session, chat_id, chat_messages, item.update_id)
                    for chat_id, chat_messages in by_chat.items()
                }

        for chat_id, queued in (await asyncio.to_thread(write)).items():
            await self.outbox.flush(chat_id, queued)

    # --- upkeep ------------------------------------------------------------------------------

    async def prune_forever(self) -> None:
        """Forget handled updates older than two days, every hour."""
        while True:
            await asyncio.sleep(PRUNE_EVERY)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(in_transaction, self.sessions, inbox.prune, self.bot_id)

    async def watch_outbox_forever(self, every: float = OUTBOX_WATCH_SECONDS) -> None:
        """Send what other processes queued (a coach's messages, from the dashboard): the
        outbox is the one way out for every message to a young person."""
        while True:
            await asyncio.sleep(every)
            try:
                chats = await asyncio.to_thread(self._queued_chats)
            except Exception:
                logger.warning("Could not read the outbox; trying again", exc_info=True)
                continue
            for chat_id in chats:
                if not self.outbox.flushing(chat_id):
                    self.outbox.unsure.add(chat_id)
                    self._spawn(self.outbox.flush(chat_id))

    def _queued_chats(self) -> list[int]:
        with self.sessions.begin() as session:
            return list(outbox.chats_with_queued(session))

    async def erasures_forever(self, every: float = ERASURE_RETRY_SECONDS) -> None:
        """Finish erasures that failed the first time, and confirm each once it is done."""
        while True:
            await asyncio.sleep(every)
            try:
                chats = await asyncio.to_thread(self._bridge.finish_erasures)
            except Exception:
                logger.warning("Could not finish the erasures due; trying again", exc_info=True)
                continue
            for chat_id, language in chats:
                done = [
                    {"chat_id": chat_id, "text": mark_rtl(message_text("delete_done", language))}
                ]
                await asyncio.to_thread(self._enqueue, chat_id, done)
                self._spawn(self.outbox.flush(chat_id))

    async def stop(self, grace: float = 5.0) -> None:
        """Stop retrying; give updates being handled `grace` seconds, then cancel them (they
        stay stored and are handled at the next start)."""
        self._stopping.set()
        if self._workers:
            _, running = await asyncio.wait(set(self._workers), timeout=grace)
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running, timeout=grace)

    def idle(self) -> bool:
        """No update waiting or being handled."""
        return not self._queues and not self._workers
