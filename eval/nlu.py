"""Intent accuracy and macro F1 per language on held-out training data (`rasa test nlu`).

Runs in the Rasa environment (`.venv-rasa/bin/python eval/nlu.py OUT_DIR`); `make eval` calls
it. For every language and intent, a fixed 20% of the examples (at least 2) is held out; an
NLU model is trained on the rest with the project's config; `rasa test nlu` predicts the
held-out examples; the predictions are scored per language. Writes OUT_DIR/nlu.json.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml
from sklearn.metrics import accuracy_score, f1_score

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "rasa_project"
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
HELD_OUT = 0.2


def _literal(examples: list[str]) -> str:
    return "".join(f"- {example}\n" for example in examples)


def split(train_dir: Path, test_dir: Path) -> dict[str, str]:
    """Write train and test NLU data; return each held-out example's language."""
    language_of: dict[str, str] = {}
    for language_dir in sorted((PROJECT / "data" / "nlu").iterdir()):
        if not language_dir.is_dir():
            continue
        language = language_dir.name
        train_blocks, test_blocks = [], []
        for path in sorted(language_dir.glob("*.yml")):
            for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
                if "intent" not in block:
                    train_blocks.append(block)
                    continue
                lines = block["examples"].splitlines()
                examples = [line.strip()[2:] for line in lines if line.strip().startswith("- ")]
                random.Random(f"{language}/{block['intent']}").shuffle(examples)
                cut = max(2, round(len(examples) * HELD_OUT))
                held, kept = examples[:cut], examples[cut:]
                train_blocks.append({"intent": block["intent"], "examples": _literal(kept)})
                test_blocks.append({"intent": block["intent"], "examples": _literal(held)})
                for example in held:
                    language_of.setdefault(_plain(example), language)
        for directory, blocks in ((train_dir, train_blocks), (test_dir, test_blocks)):
            document = {"version": "3.1", "nlu": blocks}
            (directory / f"{language}.yml").write_text(
                yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=1000),
                encoding="utf-8",
            )
    generated = PROJECT / "data" / "nlu" / "topic_synonyms.yml"
    (train_dir / generated.name).write_text(generated.read_text(encoding="utf-8"), "utf-8")
    return language_of


def _plain(example: str) -> str:
    """An example as `rasa test` reports it: entity annotations removed."""
    return re.sub(r"\[([^\]]+)\](\{[^}]*\}|\([^)]*\))", r"\1", example).strip()


def main(out: Path) -> None:
    work = out / "nlu-work"
    train_dir, test_dir, results = work / "train", work / "test", work / "results"
    for directory in (train_dir, test_dir, results):
        directory.mkdir(parents=True, exist_ok=True)
    language_of = split(train_dir, test_dir)
    started = time.monotonic()
    train = [str(RASA), "train", "nlu", "--config", str(PROJECT / "config.yml"),
             "--nlu", str(train_dir), "--out", str(work), "--fixed-model-name", "eval"]  # fmt: skip
    subprocess.run(train, check=True, cwd=PROJECT)
    training_seconds = time.monotonic() - started
    test = [str(RASA), "test", "nlu", "--model", str(work / "eval.tar.gz"),
            "--nlu", str(test_dir), "--out", str(results), "--successes", "--no-plot"]  # fmt: skip
    subprocess.run(test, check=True, cwd=PROJECT)

    predictions: dict[str, list[tuple[str, str]]] = {}
    for name in ("intent_successes.json", "intent_errors.json"):
        path = results / name
        for row in json.loads(path.read_text(encoding="utf-8")) if path.exists() else []:
            language = language_of.get(row["text"].strip(), "?")
            predicted = (row.get("intent_prediction") or {}).get("name") or "None"
            predictions.setdefault(language, []).append((row["intent"], predicted))
    report = {"training_seconds": round(training_seconds, 1), "languages": {}}
    for language, pairs in sorted(predictions.items()):
        gold = [pair[0] for pair in pairs]
        guess = [pair[1] for pair in pairs]
        report["languages"][language] = {
            "examples": len(pairs),
            "accuracy": round(float(accuracy_score(gold, guess)), 4),
            "macro_f1": round(float(f1_score(gold, guess, average="macro", zero_division=0)), 4),
            "errors": [
                f"{gold} → {guess} ({count})"
                for (gold, guess), count in Counter(p for p in pairs if p[0] != p[1]).most_common(8)
            ],
        }
    (out / "nlu.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
