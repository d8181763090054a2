"""Intent accuracy and macro F1 per language, on held-out messages (`eval/intents/<code>.yml`,
never trained on), for a model served by a Rasa server (`/model/parse`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

from bot.settings import ROOT
from connectors.rasa.client import auth_headers

EVAL_DIR = ROOT / "eval" / "intents"


def held_out(folder: Path = EVAL_DIR) -> dict[str, list[tuple[str, str]]]:
    """Language → (message, intent) pairs."""
    found: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(folder.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        found[path.stem] = [
            (str(message), str(intent))
            for intent, messages in document.items()
            for message in messages or []
        ]
    return found


def scores(gold: list[str], predicted: list[str]) -> dict[str, float]:
    """Accuracy and macro F1 (over the intents that occur in `gold`)."""
    if not gold:
        return {"accuracy": 0.0, "f1": 0.0, "n": 0}
    right = Counter(g for g, p in zip(gold, predicted, strict=True) if g == p)
    said = Counter(predicted)
    wanted = Counter(gold)
    f1s = []
    for intent in wanted:
        precision = right[intent] / said[intent] if said[intent] else 0.0
        recall = right[intent] / wanted[intent]
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {
        "accuracy": sum(right.values()) / len(gold),
        "f1": sum(f1s) / len(f1s),
        "n": len(gold),
    }


def _intent(parse: dict[str, Any]) -> str:
    name = str((parse.get("intent") or {}).get("name") or "")
    return name.split("/")[0]  # retrieval sub-intents count as their intent


def evaluate(base_url: str, token: str, sets: dict[str, list[tuple[str, str]]]) -> dict[str, Any]:
    """Scores per language of the model served at `base_url`."""
    results: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, timeout=30, headers=auth_headers(token)) as client:
        for language, items in sets.items():
            predicted = []
            for message, _ in items:
                response = client.post("/model/parse", json={"text": message})
                response.raise_for_status()
                predicted.append(_intent(response.json()))
            results[language] = scores([intent for _, intent in items], predicted)
    return results
