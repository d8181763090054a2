"""Resident memory of each process of a running deployment, after a warm-up.

Starts what `neetbot run` starts, with the same commands (connectors/processes.py): the Rasa server
on the current model, the action server, the Telegram connector (polling the fake Bot API) and
the dashboard, on a temporary SQLite database with the sample catalogue. Prints each one's
resident set size (VmRSS from /proc, its child processes included) once it is ready, then after
a warm-up: people chatting through Telegram (greeting, searches, details, thanks) and a coach
reading the dashboard (conversation list, transcripts, people, figures). Not part of
`make test`.

    .venv/bin/python bench/memory.py [--people 20] [--messages 10]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import family  # noqa: E402
from bot.db.session import session_factory  # noqa: E402
from bot.services.setup import prepare_database  # noqa: E402
from bot.services.users import create_user  # noqa: E402
from bot.settings import Settings  # noqa: E402
from connectors import processes  # noqa: E402
from connectors.rasa.training import ensure_model  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from tests.integration.conftest import free_port, shifted_sample  # noqa: E402

MESSAGES = [
    "hi", "any jobs in malta?", "IT courses in Zagreb", "show more", "free courses online",
    "lavoro nel turismo a Palermo", "thanks", "what is the youth guarantee?", "bye",
]  # fmt: skip
COACH, PASSWORD = "bench-coach", "a long bench password 1"


def memory_kib(pid: int) -> tuple[int, int]:
    """Resident memory (VmRSS) and its peak (VmHWM) of a process and all its descendants, in
    KiB (0 for a process that is gone)."""
    rss = peak = 0
    for member in family(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
            rss += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)[1])  # type: ignore[index]
            peak += int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)[1])  # type: ignore[index]
        except (OSError, TypeError):
            pass
    return rss, peak


def show(title: str, started: dict[str, subprocess.Popen[bytes]]) -> None:
    """Print each process's resident memory and peak (MiB), and the totals."""
    sizes = {name: memory_kib(process.pid) for name, process in started.items()}
    print(f"\n{title}\n  {'process':<12} {'RSS':>8} {'peak':>8}")
    for name, (rss, peak) in sizes.items():
        print(f"  {name:<12} {rss / 1024:4.0f} MiB {peak / 1024:4.0f} MiB")
    total, top = (sum(values) / 1024 for values in zip(*sizes.values(), strict=True))
    print(f"  {'total':<12} {total:4.0f} MiB {top:4.0f} MiB")


async def chat(api: FakeTelegramAPI, people: int, count: int) -> int:
    """`people` people each send `count` messages, waiting for an answer each time; returns
    how many messages the bot sent."""

    async def person(user: int) -> None:
        for index in range(count):
            before = len(api.sent_messages(user))
            api.send_text(user, MESSAGES[index % len(MESSAGES)])
            await api.async_wait_for(lambda u=user, b=before: len(api.sent_messages(u)) > b, 60)
            await asyncio.sleep(0.3)  # let a reply of several messages finish

    await asyncio.gather(*(person(5_000 + number) for number in range(people)))
    return len(api.sent_messages())


def browse(settings: Settings) -> int:
    """A coach signs in and reads the dashboard; returns how many pages were opened."""
    base = f"http://127.0.0.1:{settings.dashboard_port}"
    pages = 0
    with httpx.Client(base_url=base, timeout=60, trust_env=False, follow_redirects=True) as client:
        form = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token, "no CSRF token on the login page"
        data = {"username": COACH, "password": PASSWORD, "csrf_token": token[1]}
        client.post("/login", data=data).raise_for_status()
        listing = client.get("/conversations")
        listing.raise_for_status()
        senders = re.findall(r'href="/conversations/([^"/?]+)"', listing.text)
        for path in ["/conversations", "/people", "/figures"] + [
            f"/conversations/{sender}" for sender in dict.fromkeys(senders)
        ][:10]:
            client.get(path).raise_for_status()
            pages += 1
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10, help="messages per person")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="neetbot-memory-"))
    with FakeTelegramAPI() as api:
        settings = Settings(
            _env_file=None, var_dir=var, database_url=f"sqlite:///{var / 'app.db'}",
            rasa_port=free_port(), actions_port=free_port(), dashboard_port=free_port(),
            rasa_token=SecretStr("bench-token-0123456789abcdefghijklmno"),
            secret_key=SecretStr("bench-key-0123456789abcdefghijklmnopq"),
            telegram_bot_token=SecretStr(api.token), telegram_api_base_url=api.base_url,
        )  # fmt: skip
        model = ensure_model(settings)
        prepare_database(settings.database_url, sample=shifted_sample(var / "catalogue.csv"))
        with session_factory(settings.database_url).begin() as session:
            create_user(session, COACH, "coach", PASSWORD)
        logs = var / "logs"
        started: dict[str, subprocess.Popen[bytes]] = {}
        try:
            actions, rasa = processes.start_backend(settings, model, logs)
            started |= {"rasa": rasa, "actions": actions}
            env = {
                **processes.app_env(settings),
                "TELEGRAM_BOT_TOKEN": api.token,
                "TELEGRAM_API_BASE_URL": api.base_url,
                "LOG_LEVEL": "WARNING",
            }
            spec = processes.ProcessSpec(
                "telegram", processes.telegram_connector(settings).command, env
            )
            started["telegram"] = processes.start(spec, logs / "telegram.log")
            started["dashboard"] = processes.start(
                processes.dashboard(settings), logs / "dashboard.log"
            )
            processes.wait_for_http(
                f"http://127.0.0.1:{settings.dashboard_port}/health", 60, started["dashboard"]
            )
            api.wait_for(lambda: api.calls_to("getUpdates"), timeout=60)
            time.sleep(2)
            show("Started, idle:", started)
            took = time.monotonic()
            sent = asyncio.run(chat(api, args.people, args.messages))
            pages = browse(settings)
            print(
                f"\nWarm-up: {args.people} people × {args.messages} messages through Telegram "
                f"({sent} replies), {pages} dashboard pages, {time.monotonic() - took:.0f} s"
            )
            time.sleep(2)
            show("After the warm-up:", started)
        finally:
            for process in reversed(started.values()):
                processes.stop(process)


if __name__ == "__main__":
    main()
