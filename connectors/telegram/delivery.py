"""Handling stored updates: in order per chat, retried until Rasa answers, replies through the
outbox (decision 18).

- `Dispatcher.accept` takes updates already stored (by the webhook or the polling loop). Each
  chat has one worker that handles its updates one after the other; chats run side by side, at
  most `MAX_TURNS_AT_ONCE` turns at a time. Several replicas may share the database (decision
  26): a worker first claims its chat (`claims.py`), then reads the chat's work from the
  database, oldest first, whichever replica stored it; a chat another replica holds is left to
  it. A sweep every second takes chats with work and no live claim (a replica died; a coach's
  message).
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
from bot.services import claims, inbox, outbox
from bot.services.claims import Taken
from connectors.telegram.claims import Claims
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
SWEEP_SECONDS = 1.0  # how often chats with work and no claim (other processes' messages) are sought
ERASURE_RETRY_SECONDS = 30.0
# Turns handled at once (each waits on Rasa). More only queue in Rasa's one process and cost
# CPU in both: at 500 people past saturation (bench/load.py, back to back), 256 at once gave
# 12.5 answers a second for 121 ms of CPU a message (Rasa and connector), 32 gave 18.0 for 76 ms,
# 8 gave 16.8 for 81 ms (docs/scaling.md, "Turns at once").
MAX_TURNS_AT_ONCE = 32


class Dispatcher:
    """Handles stored updates: one worker per chat, in order, retried until Rasa answers."""

    def __init__(
        self, application: ConnectorApplication, concurrency: int = MAX_TURNS_AT_ONCE
    ) -> None:
        """`application` is the connector's (`build_application`): its bridge and database."""
        self.application = application
        self.sessions: sessionmaker[Session] = application.bot_data.sessions
        self.claims: Claims = application.bot_data.claims
        self.outbox = Outbox(self.sessions, application.bot)
        self._bridge = application.bot_data.bridge
        self._limit = asyncio.Semaphore(concurrency)
        self._running: dict[int, asyncio.Task[None]] = {}  # claim key → its worker
        self._again: set[int] = set()  # keys given more work while their worker was finishing
        self._recheck: set[int] = set()  # update ids pending when this process started
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

    def accept(self, updates: list[inbox.Pending]) -> None:
        """Hand stored updates to their chats' workers (the updates are read again from the
        database, in order, by whichever replica holds the chat)."""
        for item in updates:
            self.start(claims.key_of(item.chat_id, item.update_id))

    def start(self, key: int) -> None:
        """See that a worker takes care of the chat (or update) `key`, if no replica does."""
        if self._stopping.is_set():
            return
        if key in self._running:
            self._again.add(key)  # its worker looks again before it lets the chat go
            return
        task = asyncio.create_task(self._work(key))
        self._running[key] = task
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def recover(self) -> int:
        """After a (re)start: forget old updates, then take the chats with work that no replica
        holds (this process's earlier run, a replica that died); how many updates were pending."""
        with self.sessions.begin() as session:
            inbox.prune(session, self.bot_id)
            # Pending at a start: their turn may have begun before (a crash); looked for first
            waiting = [item.update_id for item in inbox.pending(session, self.bot_id)]
        self._recheck.update(waiting)
        keys = await self.claims.unclaimed(self.bot_id)
        for key in keys:
            self.start(key)
        if keys:
            logger.info("Recovered %d chat(s) with updates or messages waiting", len(keys))
        return len(waiting)

    # --- handling ----------------------------------------------------------------------------

    async def _work(self, key: int) -> None:
        """Claim the chat `key`, then send its queued messages and handle its updates in order
        until it has none; the worker ends when the chat is idle or another replica has it."""
        try:
            while not self._stopping.is_set():
                self._again.discard(key)
                taken, work = await self.claims.take_with_work(key, self.bot_id)
                if taken is None:
                    return  # another replica holds the chat: it reads this chat's work too
                recheck = taken is Taken.TAKEN_OVER  # a turn may have begun elsewhere
                while work is not None and not self._stopping.is_set():  # None: claim dropped
                    if work.queued:
                        await self.outbox.flush(key, work.queued)
                    if work.update is not None:
                        update_id = work.update.update_id
                        if not await self._handle(
                            work.update, recheck or update_id in self._recheck
                        ):
                            return  # stopping: the update stays stored
                        self._recheck.discard(update_id)
                        recheck = False
                    work = await self.claims.next_work(key, self.bot_id)
                if key not in self._again:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("A chat's worker failed; its updates stay stored for another try")
            await self.claims.expire(key)  # the sweep takes it again, looking in the tracker
        finally:
            if self._running.get(key) is asyncio.current_task():
                del self._running[key]

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
                if not inbox.finish(session, item.bot_id, item.update_id, state):
                    return {}  # handled already, by a replica that took the chat over
                return {
                    chat_id: outbox.enqueue(session, chat_id, chat_messages, item.update_id)
                    for chat_id, chat_messages in by_chat.items()
                }

        for chat_id, queued in (await asyncio.to_thread(write)).items():
            if chat_id == item.chat_id:
                await self.outbox.flush(chat_id, queued)  # the chat this worker holds
            else:
                self.start(chat_id)  # another chat: sent by whoever holds it

    # --- upkeep ------------------------------------------------------------------------------

    async def prune_forever(self) -> None:
        """Forget handled updates older than two days, every hour."""
        while True:
            await asyncio.sleep(PRUNE_EVERY)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(in_transaction, self.sessions, inbox.prune, self.bot_id)

    async def sweep_forever(self, every: float = SWEEP_SECONDS) -> None:
        """Take chats with work and no live claim: messages other processes queued (a coach's,
        from the dashboard; the outbox is the one way out for every message to a young
        person), and the chats of a replica that died."""
        while True:
            await asyncio.sleep(every)
            try:
                keys = await self.claims.unclaimed(self.bot_id)
            except Exception:
                logger.warning("Could not look for unclaimed work; trying again", exc_info=True)
                continue
            for key in keys:
                if key not in self._running:
                    self.start(key)

    async def erasures_forever(self, every: float = ERASURE_RETRY_SECONDS) -> None:
        """Finish erasures that failed the first time, and confirm each once it is done."""
        while True:
            await asyncio.sleep(every)
            if not await self.claims.leading():
                continue  # another replica does the scheduled rounds
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
                self.start(chat_id)

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
        await self.claims.expire()  # another replica (or the next start) takes them now

    def idle(self) -> bool:
        """No update waiting or being handled."""
        return not self._running and not self._workers
