"""`make chat`: talk to the assistant in the terminal, through the same Rasa server and actions
as Telegram. Buttons are numbered: type the number to tap one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import subprocess
import sys
from typing import Any

from bot.db.session import session_factory
from bot.messages import text as message_text
from bot.services import handoff
from bot.services.setup import prepare_database
from bot.settings import Settings
from connectors import processes
from connectors.choices import OfferedChoices
from connectors.language import LanguageKeeper
from connectors.rasa.client import RasaClient, RasaUnavailable
from connectors.rasa.events import RasaEvents
from connectors.rasa.training import ensure_model
from connectors.records import Records, channel_payload
from connectors.telegram.bridge import channel_requests
from connectors.telegram.handlers import COMMAND_PAYLOADS


def format_replies(replies: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The replies as terminal text, and the payloads of their buttons in number order."""
    lines: list[str] = []
    payloads: list[str] = []
    for reply in replies:
        if reply.get("text"):
            lines.append(f"🤖 {reply['text']}")
        for button in reply.get("buttons") or []:
            payloads.append(str(button.get("payload") or button.get("title")))
            lines.append(f"   [{len(payloads)}] {button.get('title')}")
    return "\n".join(lines), payloads


def _start_servers(settings: Settings) -> list[subprocess.Popen[bytes]]:
    """Start the action server and Rasa (logs in var/logs) and wait until both answer."""
    prepare_database(settings.database_url)
    model = ensure_model(settings)
    print("Starting the assistant (about a minute)…", flush=True)
    return processes.start_backend(settings, model, settings.var_dir / "logs")


def records(settings: Settings) -> Records:
    """The console's access to the records and the conversation log."""
    return Records(session_factory(settings.database_url), RasaEvents(settings.tracker_store_url))


def after_turn(
    settings: Settings,
    sender: str,
    replies: list[dict[str, Any]],
    keeper: LanguageKeeper | None = None,
) -> None:
    """After a turn: note the language and activity; print the data export or erase the
    conversation if asked."""
    requests = channel_requests(replies)
    kept = records(settings)
    if keeper is not None:
        keeper.after_turn(sender, requests)
    if requests.get("erase_conversation"):
        for erasure in kept.finish_erasures(sender):
            print(f"🤖 {message_text('delete_done', erasure.language)}", flush=True)
        return
    kept.touch(sender)  # activity, for the inactivity purge
    if requests.get("send_my_data"):
        print(json.dumps(kept.export(sender), ensure_ascii=False, indent=2), flush=True)


async def _no_coach_here(settings: Settings, rasa: RasaClient, sender: str) -> None:
    """Coaches write into Telegram chats, not into this terminal: the request is closed at
    once and the bot answers again."""
    with session_factory(settings.database_url).begin() as session:
        handoff.close_for(session, sender)
    with contextlib.suppress(RasaUnavailable):
        await rasa.resume(sender)
    print("🤖 (No coach can join a console chat: they answer on Telegram. Back to the assistant.)")


async def run_console(settings: Settings) -> None:
    """Read lines, send them to Rasa, print the replies, until end of input or "/quit"."""
    assert settings.rasa_token is not None
    rasa = RasaClient(settings.rasa_url, settings.rasa_token.get_secret_value())
    started: list[subprocess.Popen[bytes]] = []
    if not await rasa.is_ready():
        started = await asyncio.to_thread(_start_servers, settings)
    sender = f"console-{secrets.token_hex(6)}"
    keeper = LanguageKeeper(rasa, settings.default_language, records(settings).stored_language)
    payloads: list[str] = []
    choices = OfferedChoices()
    print(
        "Chat with the assistant. Type a number to tap a button; the Telegram commands"
        " (/start, /language, /register, /profile, /alerts, /plan, /mydata, /delete, /stop) work;"
        " write in any of the ten languages; /quit leaves.\n"
    )
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "🧑 ")
            except EOFError:
                break
            line = line.strip()
            if line in ("/quit", "/exit"):
                break
            if not line:
                continue
            if line.isdigit() and 1 <= int(line) <= len(payloads):
                line = payloads[int(line) - 1]
            elif line.startswith("/"):
                # The Telegram commands work here too (/start, /register, /mydata, ...).
                command = line.split()[0].lstrip("/").lower()
                line = COMMAND_PAYLOADS.get(command, line)
            else:  # typed words that name a button tap it ("in English", "yes pls")
                line = choices.resolve(sender, line, keeper.known(sender)) or line
            if channel_payload(line):  # /plan and its buttons, a check-in's answer: ours
                answer = records(settings).reach_answer
                replies = await asyncio.to_thread(answer, sender, line, keeper.known(sender))
                choices.remember(sender, replies)
                shown, payloads = format_replies(replies)
                print(shown, flush=True)
                continue
            try:
                await keeper.before_turn(sender, line)
                replies = await rasa.send_message(sender, line, {"channel": "console"})
            except RasaUnavailable:
                print("🤖 (the assistant is not answering; is Rasa running?)")
                continue
            choices.remember(sender, replies)
            shown, payloads = format_replies(replies)
            print(shown or "🤖 …", flush=True)
            after_turn(settings, sender, replies, keeper)
            if channel_requests(replies).get("handoff"):
                await _no_coach_here(settings, rasa, sender)
    finally:
        await rasa.close()
        for process in started:
            with contextlib.suppress(Exception):
                processes.stop(process)
        sys.stdout.flush()
