"""Training time of the full model (ten languages' NLU, rules and stories), from scratch, and
again once the sentence embeddings of the examples are cached.

Trains into a temporary directory with an empty Rasa cache and an empty embedding cache (the
model cache and the machine's embedding cache are not touched), then prints the total and the
time of each component, from Rasa's own log lines; then trains again with the embeddings
cached. The aim is under 5 minutes from scratch on a 2-core machine. Not part of `make test`.

    .venv/bin/python bench/training.py
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.rasa.training import (  # noqa: E402
    RASA_PROJECT,
    rasa_env,
    train_command,
    write_generated_data,
)

AIM_SECONDS = 300
LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) INFO\s+rasa\.engine\.training\.hooks\s+-\s+"
    r"(Starting to train|Finished training) component '(\w+)'"
)


def component_times(log: str) -> list[tuple[str, float]]:
    """(component, seconds) in training order, from Rasa's "Starting/Finished" log lines."""
    started: dict[str, dt.datetime] = {}
    times: list[tuple[str, float]] = []
    for line in log.splitlines():
        match = LINE.search(line)
        if not match:
            continue
        moment, what, name = dt.datetime.fromisoformat(match[1]), match[2], match[3]
        if what.startswith("Starting"):
            started.setdefault(name, moment)
        elif name in started:
            times.append((name, (moment - started.pop(name)).total_seconds()))
    return times


def train_once(cache: str, embeddings: Path) -> tuple[float, str]:
    """One `rasa train` into a temporary directory: seconds and Rasa's output."""
    with tempfile.TemporaryDirectory() as out:
        env = {**rasa_env(), "RASA_CACHE_DIRECTORY": cache,
               "NEETBOT_EMBEDDING_CACHE": str(embeddings)}  # fmt: skip
        command = train_command(Path(out), "bench")  # exactly what `neetbot train` runs
        started = time.monotonic()
        result = subprocess.run(
            command, cwd=RASA_PROJECT, env=env, capture_output=True, text=True, check=False
        )
        seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"rasa train failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


def main() -> None:
    write_generated_data()
    examples = sum(
        1
        for path in (RASA_PROJECT / "data" / "nlu").rglob("*.yml")
        if path.parent.name != "nlu"
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("- ")
    )
    with tempfile.TemporaryDirectory() as scratch:
        embeddings = Path(scratch) / "embeddings.sqlite3"
        # From scratch: no Rasa cache, no embeddings; then again with the embeddings only, as
        # a retraining after a few edits finds them (Rasa's own cache emptied too).
        cold, log = train_once(str(Path(scratch) / "rasa-cold"), embeddings)
        warm, _ = train_once(str(Path(scratch) / "rasa-warm"), embeddings)
    print(f"Training examples (NLU, all languages): {examples}")
    print(f"CPUs: {os.cpu_count()}")
    print(f"\n{'component (from scratch)':<40}{'seconds':>10}")
    for name, took in component_times(log):
        if took >= 0.5:
            print(f"{name:<40}{took:>10.1f}")
    verdict = "within" if cold <= AIM_SECONDS else "OVER"
    print(f"\nFull training from scratch: {cold:.0f} s ({verdict} the {AIM_SECONDS} s aim)")
    print(f"Again with the embeddings cached (a retraining after edits): {warm:.0f} s")


if __name__ == "__main__":
    main()
