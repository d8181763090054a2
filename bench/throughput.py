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


async def telegram_person(api: FakeTelegramAPI, user_id: int, count: int) -> list[float]:
    latencies = []
    for index in range(count):
        before = len(api.sent_messages(user_id))
        started = time.monotonic()
        api.push_update(api.make_text_update(user_id, MESSAGES[index % len(MESSAGES)]))
        await api.async_wait_for_messages(user_id, before + 1, timeout=60)
        arrived = [
            call.time
            for call in api.calls_to("sendMessage")
            if call.params.get("chat_id") == user_id
        ]
        latencies.append(arrived[before] - started)
    return latencies


async def run_telegram(
    api: FakeTelegramAPI, people: int, count: int, first_id: int
) -> tuple[list[float], float]:
    started = time.monotonic()
    results = await asyncio.gather(
        *(telegram_person(api, first_id + n, count) for n in range(people))
    )
    return [value for result in results for value in result], time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10, help="messages per person")
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
    logs.mkdir()
    started = []
    try:
        actions = processes.start(processes.action_server(settings), logs / "actions.log")
        rasa = processes.start(processes.rasa_server(settings, model), logs / "rasa.log")
        started += [actions, rasa]
        processes.wait_for_http(f"http://127.0.0.1:{settings.actions_port}/health", 60, actions)
        processes.wait_for_http(f"{settings.rasa_url}/", 300, rasa)
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

            rest, rest_seconds = asyncio.run(run_rest(settings, args.people, args.messages, "run"))
            telegram, telegram_seconds = asyncio.run(
                run_telegram(api, args.people, args.messages, 60_000_000)
            )
            print()
            rest_rate = report("Rasa REST channel", rest, rest_seconds)
            telegram_rate = report("Our connector (poll)", telegram, telegram_seconds)
            added = statistics.median(telegram) - statistics.median(rest)
            ratio = telegram_rate / rest_rate
            print(f"\nthroughput ratio connector/REST: {ratio:.2f}× (target ≥ 0.90×)")
            print(f"added latency at p50: {added * 1000:.1f} ms")
    finally:
        for process in reversed(started):
            processes.stop(process)


if __name__ == "__main__":
    main()
