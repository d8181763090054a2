"""This checkout against an older commit (by default main as it stood when the speed work of
issue 20 began), side by side in one run: the machine's absolute speed changes from run to
run, the ratios do not.

Checks the old commit out in a git worktree, and starts one whole bot from each tree
(`bench/stack.py`: its own action server, Rasa server and our connector in webhook mode, on
its own fresh database, each talking to its own fake Bot API). Both stay up; the load goes to
one at a time, the order swapped every round, so the machine's drift hits both alike:
- under load: `--people` people at once, each sending `--messages` messages and waiting for
  the whole answer before the next (as in `bench/throughput.py`): messages a second, latency,
  and the CPU per message of Rasa, the action server and the connector (with their workers);
- one person at a time: the latency without queueing.
Prints the ratios against the issue's targets (messages a second per core ≥ 2×, CPU per
message ≤ 0.5×), each met or not and, where not, what the figures say stands in the way.

    .venv/bin/python bench/versus.py [--baseline REV] [--people 20] [--messages 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import family_cpu_seconds, latency_line  # noqa: E402
from bench.throughput import WEBHOOK_SECRET, Bench, Result, listening  # noqa: E402
from bot.config import ROOT  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from tests.integration.conftest import shifted_sample  # noqa: E402

# main before the speed work of issue 20 (its first commit was the profile, 4393a3a), with the
# same model as today: the data and the pipeline have not changed since.
BASELINE = "4213f9f"
STACK = Path(__file__).resolve().parent / "stack.py"
PROCESSES = ("rasa", "actions", "connector")


@dataclass
class Tree:
    """One running bot and what was measured on it."""

    name: str
    root: Path
    api: FakeTelegramAPI
    process: subprocess.Popen[str] | None = None
    pids: dict[str, int] = field(default_factory=dict)
    bench: Bench | None = None
    loaded: Result = field(default_factory=Result)
    solo: Result = field(default_factory=Result)
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PROCESSES, 0.0))
    logs: str = ""

    def start(self, var: Path, catalogue: Path, messages: int) -> None:
        """Start the tree's bot; return once its connector has set its webhook and listens."""
        var.mkdir(parents=True)
        command = [
            sys.executable, str(STACK), "--root", str(self.root), "--var", str(var),
            "--api", self.api.base_url, "--token", self.api.token, "--secret", WEBHOOK_SECRET,
            "--catalogue", str(catalogue),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(self.root)}
        with (var / "stack.log").open("w") as stderr:  # the child keeps its own copy
            self.process = subprocess.Popen(
                command, cwd=self.root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=stderr, text=True,
            )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until ready; training may take minutes
        if not line:
            raise RuntimeError(f"{self.name}: the bot did not start; see {var / 'stack.log'}")
        ready = json.loads(line)
        self.pids, self.logs = ready["pids"], ready["logs"]
        deadline = time.monotonic() + 120
        while not (self.api.webhook.get("url") and listening(ready["webhook_port"])):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: the connector did not set its webhook; see "
                                   f"{self.logs}")  # fmt: skip
            time.sleep(0.2)
        self.bench = Bench(ready["rasa_url"], {"webhook": self.api})
        asyncio.run(self.bench.calibrate(messages))
        print(f"  {self.name}: model {ready['model']}, logs in {self.logs}", flush=True)

    def stop(self) -> None:
        """Stop the bot (its helper stops its processes when its input closes)."""
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.api.stop()

    def cpu_now(self) -> dict[str, float]:
        """CPU seconds each process (with its workers) has used so far."""
        return {name: family_cpu_seconds(pid) for name, pid in self.pids.items()}

    def run(self, people: int, count: int, tag: str) -> Result:
        """`people` people each sending `count` messages through this tree's connector."""
        assert self.bench is not None
        return asyncio.run(self.bench.run("webhook", people, count, tag))

    def measure(self, people: int, count: int, tag: str) -> float:
        """A run under load, its CPU counted; returns its messages a second."""
        before = self.cpu_now()
        result = self.run(people, count, tag)
        after = self.cpu_now()
        for name in PROCESSES:
            self.cpu[name] += after[name] - before[name]
        self.loaded.add(result)
        return result.rate

    def cpu_ms(self) -> dict[str, float]:
        """CPU milliseconds per message under load, by process, and their total."""
        per = {name: used / len(self.loaded.latencies) * 1000 for name, used in self.cpu.items()}
        return {**per, "total": sum(per.values())}


def worktree(revision: str, place: Path) -> Path:
    """`revision` checked out (detached) at `place`, sharing this checkout's environments."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(place), revision],
        check=True,
    )
    for environment in (".venv", ".venv-rasa"):  # installed by `make install`, not in git
        (place / environment).symlink_to(ROOT / environment)
    return place


def describe(revision: str) -> str:
    """`abc1234 subject` of a commit."""
    return subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s", revision],
        check=True, capture_output=True, text=True,
    ).stdout.strip()[:100]  # fmt: skip


def changed() -> bool:
    """Whether this checkout has changes not committed (measured too, and said so)."""
    status = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return bool(status.stdout.strip())


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(old: Tree, new: Tree, people: int) -> None:
    """The table, the ratios and the verdicts."""
    print(f"\nUnder load ({people} people at once) and one person at a time:")
    header = "".join(f"{name:>11}" for name in (*PROCESSES, "total"))
    print(f"  {'':<10}{'msg/s':>7}   {'latency under load':<44}{header}   one person p50")
    for tree in (old, new):
        cells = "".join(f"{value:8.1f} ms" for value in tree.cpu_ms().values())
        print(
            f"  {tree.name:<10}{tree.loaded.rate:7.1f}   {latency_line(tree.loaded.latencies):<44}"
            f"{cells}   {tree.solo.p50 * 1000:8.1f} ms"
        )
    rate = new.loaded.rate / old.loaded.rate
    cpu_old, cpu_new = old.cpu_ms(), new.cpu_ms()
    cpu = cpu_new["total"] / cpu_old["total"]
    solo = new.solo.p50 / old.solo.p50
    print("\nRatios, this checkout / the baseline:")
    print(f"  messages a second per core: {rate:.3f}× (target ≥ 2×: {verdict(rate >= 2)})")
    print(f"  CPU per message, Rasa, actions and connector: {cpu:.3f}× "
          f"(target ≤ 0.5×: {verdict(cpu <= 0.5)})")  # fmt: skip
    print(f"  one person at a time, p50: {solo:.2f}×")
    for name in PROCESSES:
        ratio = f" ({cpu_new[name] / cpu_old[name]:.2f}×)" if cpu_old[name] else ""
        print(f"    {name}: {cpu_new[name]:.1f} ms against {cpu_old[name]:.1f}{ratio}")
    if cpu > 0.5:
        # What stands in the way, from the figures: Rasa's own CPU per message, and ours.
        floor = (cpu_new["rasa"] + cpu_new["actions"]) / cpu_old["total"]
        wanted = cpu_old["total"] / 2 - cpu_new["rasa"] - cpu_new["actions"]
        print(
            f"  Why not: of the {cpu_new['total']:.1f} ms a message costs now, Rasa and the "
            f"actions take {cpu_new['rasa'] + cpu_new['actions']:.1f} ms ({floor:.3f}× of the "
            f"baseline's total on their own) and our connector {cpu_new['connector']:.1f} ms; "
            + (
                f"the target needs the connector at {wanted:.1f} ms or less."
                if wanted > 0
                else "the target cannot be met without cutting Rasa's part."
            )
            + " Where each process's time goes: bench/profile.py."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare with")
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10, help="messages per person")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both, in turn")
    args = parser.parse_args()

    place = Path(tempfile.mkdtemp(prefix="neetbot-versus-"))
    catalogue = shifted_sample(place / "catalogue.csv")
    source = worktree(args.baseline, place / "source")
    head = describe("HEAD") + (" + changes not committed" if changed() else "")
    print(f"Baseline: {describe(args.baseline)}\nThis checkout: {head}")
    old = Tree("baseline", source, FakeTelegramAPI().start())
    new = Tree("now", ROOT, FakeTelegramAPI().start())
    try:
        for tree in (old, new):
            tree.start(place / f"var-{tree.name}", catalogue, args.messages * 2)
        for tree in (old, new):
            tree.run(args.people, 3, "warm")
        for round_ in range(args.rounds):
            order = (old, new) if round_ % 2 == 0 else (new, old)
            rates = {t.name: t.measure(args.people, args.messages, f"r{round_}") for t in order}
            print(
                f"  round {round_ + 1}: "
                + ", ".join(f"{n} {r:.1f} msg/s" for n, r in rates.items())
            )
        for round_ in range(args.rounds):
            order = (old, new) if round_ % 2 == 0 else (new, old)
            for tree in order:
                tree.solo.add(tree.run(1, args.messages * 2, f"solo{round_}"))
        report(old, new, args.people)
    finally:
        for tree in (old, new):
            tree.stop()
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(source)], check=False
        )
        shutil.rmtree(place, ignore_errors=True)


if __name__ == "__main__":
    main()
