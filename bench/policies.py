"""Which dialogue policy chose each action of the bot, over conversations of held-out messages.

Starts this checkout's bot (`bench/stack.py`: action server, Rasa on the current model, the
connector), then 40 people each send 15 messages of `eval/intents` (never trained on; ten
languages), drawn in shuffled order, so forms, fallbacks and odd sequences come up. Counts, from
Rasa's tracker store, the policy behind every action Rasa predicted. Decision 28 dropped
TEDPolicy on this count (the rules chose every action); run it again after a change to the
stories, rules or policies. Not part of `make test`.

    .venv/bin/python bench/policies.py [--people 40] [--messages 15]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.versus import Tree  # noqa: E402
from bot.config import ROOT  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from tests.integration.conftest import shifted_sample  # noqa: E402

EVAL = ROOT / "eval" / "intents"


def held_out() -> list[str]:
    """Every held-out message of every language, shuffled (the same order each run)."""
    texts = [
        text
        for path in sorted(EVAL.glob("*.yml"))
        for items in yaml.safe_load(path.read_text(encoding="utf-8")).values()
        for text in items
    ]
    random.Random(7).shuffle(texts)
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--messages", type=int, default=15, help="messages per person")
    args = parser.parse_args()

    place = Path(tempfile.mkdtemp(prefix="neetbot-policies-"))
    var = place / "var"
    tree = Tree("now", ROOT, FakeTelegramAPI().start())
    try:
        tree.start(var, shifted_sample(place / "catalogue.csv"), 1)
        assert tree.bench is not None
        texts = held_out()
        with httpx.Client(timeout=120, trust_env=False) as client:
            for person in range(args.people):
                start = person * args.messages
                for text in texts[start : start + args.messages]:
                    body = {"sender": f"policies-{person}", "message": text}
                    url = f"{tree.bench.rasa_url}/webhooks/rest/webhook"
                    client.post(url, json=body).raise_for_status()
        tracker = Settings(_env_file=None, var_dir=var).tracker_db_path
        chosen: collections.Counter[str] = collections.Counter()
        with sqlite3.connect(tracker) as database:
            rows = database.execute("SELECT data FROM events WHERE type_name = 'action'")
            for (data,) in rows:
                event = json.loads(data)
                if event.get("policy"):  # none: session starts and listens Rasa adds itself
                    chosen[event["policy"]] += 1
        total = sum(chosen.values())
        print(
            f"{args.people} people × {args.messages} held-out messages: "
            f"{total} actions predicted by a policy"
        )
        for policy, count in chosen.most_common():
            print(f"  {policy:<24} {count:6d}  {count / total:6.1%}")
    finally:
        tree.stop()
        shutil.rmtree(place, ignore_errors=True)


if __name__ == "__main__":
    main()
