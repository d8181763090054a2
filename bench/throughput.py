"""Throughput and latency of our Telegram connector next to Rasa's REST channel, same model.

Starts the real action server and Rasa server on the current model, then, in one run:
- REST: simulated people post straight to Rasa's REST channel;
- Telegram: the same people send the same messages through the fake Bot API → our connector
  (polling) → Rasa, and the time until the bot's reply reaches the fake Bot API is measured.
Each person waits for the answer before sending the next message, like a person would.
Prints messages per second, latency percentiles and the ratio. Not part of `make test`.

    .venv/bin/python bench/throughput.py [--people 20] [--messages 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import processes  # noqa: E402
from bot.services.setup import prepare_database  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.training import ensure_model  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from tests.integration.conftest import free_port, shifted_sample  # noqa: E402

# Short messages that each get exactly one reply (a greeting, a search, thanks).
MESSAGES = ["hi", "any jobs in malta?", "thanks", "IT courses in Zagreb", "bye"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(name: str, latencies: list[float], seconds: float) -> float:
    rate = len(latencies) / seconds
    print(
        f"{name:<22} {rate:8.1f} msg/s   p50 {percentile(latencies, 0.5) * 1000:7.1f} ms   "
        f"p95 {percentile(latencies, 0.95) * 1000:7.1f} ms   "
        f"p99 {percentile(latencies, 0.99) * 1000:7.1f} ms   "
        f"({len(latencies)} messages)"
    )
    return rate


async def rest_person(client: httpx.AsyncClient, sender: str, count: int) -> list[float]:
    latencies = []
    for index in range(count):
        started = time.monotonic()
        body = {"sender": sender, "message": MESSAGES[index % len(MESSAGES)]}
        response = await client.post("/webhooks/rest/webhook", json=body)
        response.raise_for_status()
        latencies.append(time.monotonic() - started)
    return latencies


async def run_rest(
    settings: Settings, people: int, count: int, tag: str
) -> tuple[list[float], float]:
    async with httpx.AsyncClient(base_url=settings.rasa_url, timeout=60) as client:
        started = time.monotonic()
        results = await asyncio.gather(
            *(rest_person(client, f"bench-rest-{tag}-{n}", count) for n in range(people))
        )
        return [value for result in results for value in result], time.monotonic() - started


class ReplyWatcher:
    """Follows the fake Bot API's calls incrementally (one reader for all people), so measuring
    costs next to no CPU: the machine's two cores are busy enough with Rasa."""

    def __init__(self, api: FakeTelegramAPI) -> None:
        self.api = api
        self.read = 0
        self.replies: dict[int, list[float]] = {}
        self.waiting: dict[int, tuple[int, asyncio.Future[float]]] = {}

    async def run(self) -> None:
        while True:
            calls = self.api.calls
            for call in calls[self.read :]:
                if call.method == "sendMessage" and call.ok:
                    chat = int(call.params["chat_id"])
                    self.replies.setdefault(chat, []).append(call.time)
                    wanted = self.waiting.get(chat)
                    if wanted and len(self.replies[chat]) >= wanted[0]:
                        del self.waiting[chat]
                        wanted[1].set_result(self.replies[chat][wanted[0] - 1])
            self.read = len(calls)
            await asyncio.sleep(0.002)

    def reply_number(self, chat: int, count: int) -> asyncio.Future[float]:
        """A future of the arrival time of the chat's `count`-th reply."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[chat] = (count, future)
        return future


async def telegram_person(watcher: ReplyWatcher, user_id: int, count: int) -> list[float]:
    api = watcher.api
    latencies = []
    for index in range(count):
        expected = len(watcher.replies.get(user_id, [])) + 1
        arrival = watcher.reply_number(user_id, expected)
        started = time.monotonic()
        api.push_update(api.make_text_update(user_id, MESSAGES[index % len(MESSAGES)]))
        latencies.append(await asyncio.wait_for(arrival, 60) - started)
    return latencies


async def run_telegram(
    api: FakeTelegramAPI, people: int, count: int, first_id: int
) -> tuple[list[float], float]:
    watcher = ReplyWatcher(api)
    watching = asyncio.create_task(watcher.run())
    started = time.monotonic()
    results = await asyncio.gather(
        *(telegram_person(watcher, first_id + n, count) for n in range(people))
    )
    elapsed = time.monotonic() - started
    watching.cancel()
    return [value for result in results for value in result], elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10, help="messages per person")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each path")
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="neetbot-bench-"))
    settings = Settings(
        _env_file=None, var_dir=var, database_url=f"sqlite:///{var / 'app.db'}",
        rasa_port=free_port(), actions_port=free_port(),
        rasa_token=SecretStr("bench-token"), secret_key=SecretStr("bench-key"),
    )  # fmt: skip
    model = ensure_model(settings)
    prepare_database(settings.database_url, sample=shifted_sample(var / "catalogue.csv"))
    logs = var / "logs"
    started = processes.start_backend(settings, model, logs)
    try:
        with FakeTelegramAPI() as api:
            env = {
                **processes.app_env(settings),
                "TELEGRAM_BOT_TOKEN": api.token,
                "TELEGRAM_API_BASE_URL": api.base_url,
                "TELEGRAM_RATE_LIMIT": "0",  # the fake has no limit to respect
                "LOG_LEVEL": "WARNING",
            }
            spec = processes.ProcessSpec(
                "telegram", [sys.executable, "-m", "connectors.telegram"], env
            )
            connector = processes.start(spec, logs / "telegram.log")
            started.append(connector)
            api.wait_for(lambda: api.calls_to("getUpdates"), timeout=60)

            print(f"Warming up… ({args.people} people × {args.messages} messages, 2 cores)")
            asyncio.run(run_rest(settings, args.people, 3, "warm"))
            asyncio.run(run_telegram(api, args.people, 3, 50_000_000))

            # Alternate the two paths so drift in the machine's load hits both alike.
            rest: list[float] = []
            telegram: list[float] = []
            rest_seconds = telegram_seconds = 0.0
            for round_ in range(args.rounds):
                latencies, seconds = asyncio.run(
                    run_rest(settings, args.people, args.messages, f"run{round_}")
                )
                rest += latencies
                rest_seconds += seconds
                latencies_tg, seconds_tg = asyncio.run(
                    run_telegram(api, args.people, args.messages, 60_000_000 + round_ * 1000)
                )
                telegram += latencies_tg
                telegram_seconds += seconds_tg
                ratio = (len(latencies_tg) / seconds_tg) / (len(latencies) / seconds)
                print(f"  round {round_ + 1}: connector/REST throughput {ratio:.2f}×")
            print()
            rest_rate = report("Rasa REST channel", rest, rest_seconds)
            telegram_rate = report("Our connector (poll)", telegram, telegram_seconds)
            added = statistics.median(telegram) - statistics.median(rest)
            ratio = telegram_rate / rest_rate
            print(f"\nthroughput ratio connector/REST: {ratio:.2f}× (target ≥ 0.90×)")
            print(f"added latency at p50 under load: {added * 1000:.1f} ms")

            print("\nOne person at a time (latency without queueing):")
            rest, rest_seconds = asyncio.run(run_rest(settings, 1, args.messages * 2, "solo"))
            telegram, telegram_seconds = asyncio.run(
                run_telegram(api, 1, args.messages * 2, 70_000_000)
            )
            report("Rasa REST channel", rest, rest_seconds)
            report("Our connector (poll)", telegram, telegram_seconds)
            added = statistics.median(telegram) - statistics.median(rest)
            print(f"added latency at p50, one person: {added * 1000:.1f} ms (target ≤ 5 ms)")
    finally:
        for process in reversed(started):
            processes.stop(process)


if __name__ == "__main__":
    main()
