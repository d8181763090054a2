"""`make eval`: how well the assistant understands, per language, written to eval/report.md.

    .venv/bin/python eval/report.py [--skip-nlu] [--skip-split]

1. The live model (trained on all the data, from the model cache) is served by a real Rasa
   server; every message of these labelled sets goes through `/model/parse`, timed:
   - `eval/intents/` (144 per language, never trained on): intent accuracy and macro F1, the
     project's targets (≥ 0.95 and ≥ 0.93 in every language), worst language first;
   - `eval/holdout/` (written after the model was tuned, never looked at while tuning): the
     same figures, an honest second opinion;
   - `tests/data/nonsense/` (never trained on): the share that comes out `out_of_scope` or a
     fallback (target ≥ 0.95 in every language);
   and the server's memory and parse latency (p50, p95).
2. `eval/nlu.py` (skipped with --skip-split): 20% of each intent's training examples held
   out, a model trained on the rest (`rasa test nlu`).
3. Language detection: langdetect alone, lingua alone, and the two combined as the connector
   uses them, on `eval/language_samples/` by message length; and the conversation's language
   after each message of `tests/data/language_switch/` (wrong switches: target 0).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import langdetect
import yaml
from langdetect import DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import languages  # noqa: E402
from bot.services.vocabulary import known_names  # noqa: E402
from bot.settings import ROOT, Settings  # noqa: E402
from connectors.processes import rasa_server, start, stop, wait_for_http  # noqa: E402
from connectors.rasa.client import auth_headers  # noqa: E402
from connectors.rasa.studio.evaluation import held_out, scores  # noqa: E402
from connectors.rasa.training import ensure_model, rasa_env  # noqa: E402

SAMPLES = ROOT / "eval" / "language_samples"
SWITCHES = ROOT / "tests" / "data" / "language_switch"
NONSENSE = ROOT / "tests" / "data" / "nonsense"
SETS = {"intents": ROOT / "eval" / "intents", "holdout": ROOT / "eval" / "holdout"}
OUT = ROOT / "var" / "eval"
REPORT = ROOT / "eval" / "report.md"
BUCKETS = {"short": "under 20 characters", "medium": "20–60", "long": "over 60"}
AIM_ACCURACY, AIM_F1, AIM_NONSENSE = 0.95, 0.93, 0.95
NOT_UNDERSTOOD = {"out_of_scope", "nlu_fallback"}


# --- the live model, through a real Rasa server -------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (Rasa's `rasa run` is one process)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def nonsense_sets() -> dict[str, list[tuple[str, str]]]:
    """Language → (message, kind) of the robustness set."""
    found: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(NONSENSE.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        found[path.stem] = [(str(m), kind) for kind, messages in document.items() for m in messages]
    return found


def served(model: Path) -> dict[str, Any]:
    """Parse every labelled message with the model, served by a real Rasa server."""
    with tempfile.TemporaryDirectory() as var:
        settings = Settings(var_dir=Path(var), rasa_port=_free_port())
        assert settings.rasa_token is not None
        token = settings.rasa_token.get_secret_value()
        process = start(rasa_server(settings, model), Path(var) / "rasa.log")
        try:
            wait_for_http(f"{settings.rasa_url}/", 600, process)
            with httpx.Client(
                base_url=settings.rasa_url, timeout=60, headers=auth_headers(token)
            ) as client:

                def parse(message: str) -> tuple[dict[str, Any], float]:
                    began = time.perf_counter()
                    response = client.post("/model/parse", json={"text": message})
                    response.raise_for_status()
                    return response.json(), time.perf_counter() - began

                parse("warm up")
                memory_loaded = _rss_mib(process.pid)
                latencies: list[float] = []
                result: dict[str, Any] = {"sets": {}, "nonsense": {}}
                for name, folder in SETS.items():
                    if not folder.is_dir():
                        continue
                    result["sets"][name] = {}
                    for language, items in held_out(folder).items():
                        predicted, errors = [], []
                        for message, intent in items:
                            parsed, took = parse(message)
                            latencies.append(took)
                            guess = str(parsed["intent"]["name"]).split("/")[0]
                            predicted.append(guess)
                            if guess != intent:
                                errors.append((intent, guess))
                        row = scores([intent for _, intent in items], predicted)
                        row["errors"] = [
                            f"{gold} → {guess} ({count})"
                            for (gold, guess), count in Counter(errors).most_common(6)
                        ]
                        result["sets"][name][language] = row
                for language, messages in nonsense_sets().items():
                    missed = []
                    for message, kind in messages:
                        parsed, took = parse(message)
                        latencies.append(took)
                        if parsed["intent"]["name"] not in NOT_UNDERSTOOD:
                            missed.append(f"{kind}: {message[:40]} → {parsed['intent']['name']}")
                    result["nonsense"][language] = {
                        "n": len(messages),
                        "rate": 1 - len(missed) / len(messages),
                        "missed": missed,
                    }
                result["memory_mib"] = {"loaded": memory_loaded, "after": _rss_mib(process.pid)}
                cuts = statistics.quantiles(latencies, n=20)
                result["latency_ms"] = {
                    "p50": statistics.median(latencies) * 1000,
                    "p95": cuts[18] * 1000,
                    "n": len(latencies),
                }
        finally:
            stop(process)
    return result


# --- language detection -------------------------------------------------------------------


def plain_langdetect(message: str) -> str | None:
    """langdetect as shipped: all its 55 languages, seeded."""
    DetectorFactory.seed = 0
    try:
        return str(langdetect.detect(message))
    except LangDetectException:
        return None


def detection_report() -> dict[str, Any]:
    """Per detector: accuracy per language and length bucket on the samples, and the
    conversation's language after each message of the switch set."""
    names = known_names()
    detectors: dict[str, Any] = {
        "langdetect": languages.Detector(names, use_lingua=False),
        "lingua": languages.Detector(names, use_lingua=True, lingua_weight=1.0),
        "combined": languages.detector(),
    }
    report: dict[str, Any] = {"samples": {}, "switches": {}}
    for name, detector in detectors.items():
        by_language: dict[str, dict[str, float]] = {}
        for language in languages.supported():
            samples = yaml.safe_load((SAMPLES / f"{language}.yml").read_text(encoding="utf-8"))
            by_language[language] = {}
            for bucket in BUCKETS:
                found = [detector.detect(message) for message in samples[bucket]]
                right = sum(d is not None and d.code == language for d in found)
                by_language[language][bucket] = right / len(found)
                by_language[language][f"{bucket}_n"] = len(found)
        report["samples"][name] = by_language
        switches: dict[str, dict[str, Any]] = {}
        for language in languages.supported():
            entries = yaml.safe_load((SWITCHES / f"{language}.yml").read_text(encoding="utf-8"))
            wrong, missed = [], []
            for entry in entries:
                after = detector.follow(
                    entry["current"], entry["text"], telegram=entry.get("telegram")
                )
                if after == entry["expect"]:
                    continue
                if after == entry["current"]:
                    missed.append(entry["text"])
                else:
                    wrong.append(f"{entry['text']} → {after}")
            switches[language] = {
                "n": len(entries),
                "switches": sum(e["current"] != e["expect"] for e in entries),
                "wrong": wrong,
                "missed": missed,
            }
        report["switches"][name] = switches
    report["plain_langdetect"] = {
        language: {
            bucket: sum(
                plain_langdetect(message) == language
                for message in yaml.safe_load(
                    (SAMPLES / f"{language}.yml").read_text(encoding="utf-8")
                )[bucket]
            )
            for bucket in BUCKETS
        }
        for language in languages.supported()
    }
    return report


# --- the report -----------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def _intent_table(rows: dict[str, dict[str, Any]], nonsense: dict[str, Any] | None) -> list[str]:
    lines = [
        "| language | messages | accuracy | macro F1 | nonsense caught | targets met |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for language, row in sorted(rows.items(), key=lambda item: item[1]["accuracy"]):
        caught = (nonsense or {}).get(language)
        met = row["accuracy"] >= AIM_ACCURACY and row["f1"] >= AIM_F1
        cell = "–"
        if caught is not None:
            cell = f"{caught['rate']:.3f} ({caught['n']})"
            met = met and caught["rate"] >= AIM_NONSENSE
        lines.append(
            f"| {language} | {row['n']} | {row['accuracy']:.3f} | {row['f1']:.3f} | {cell} | "
            f"{_mark(met)} |"
        )
    return lines


def _detection_tables(detection: dict[str, Any]) -> list[str]:
    lines = [
        "| detector | " + " | ".join(BUCKETS.values()) + " | wrong switches | missed switches |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, by_language in detection["samples"].items():
        cells = []
        for bucket in BUCKETS:
            right = sum(row[bucket] * row[f"{bucket}_n"] for row in by_language.values())
            total = sum(row[f"{bucket}_n"] for row in by_language.values())
            cells.append(f"{right / total:.3f}")
        switches = detection["switches"][name].values()
        wrong = sum(len(row["wrong"]) for row in switches)
        missed = sum(len(row["missed"]) for row in switches)
        stays = sum(row["n"] for row in switches)
        clear = sum(row["switches"] for row in switches)
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {wrong} of {stays} messages | {missed} of {clear} |"
        )
    plain = detection["plain_langdetect"]
    cells = []
    for bucket in BUCKETS:
        total = sum(row[f"{bucket}_n"] for row in detection["samples"]["combined"].values())
        cells.append(f"{sum(row[bucket] for row in plain.values()) / total:.3f}")
    lines.append("| langdetect as shipped (55 languages, no names left out) | "
                 + " | ".join(cells) + " | – | – |")  # fmt: skip
    lines += ["", "Per language, combined (under 20 / 20–60 / over 60 characters; wrong and "
              "missed switches):", ""]  # fmt: skip
    lines += ["| language | accuracy by length | wrong | missed |", "|---|---|---:|---:|"]
    for language, row in detection["samples"]["combined"].items():
        switch = detection["switches"]["combined"][language]
        accuracy = " / ".join(f"{row[bucket]:.2f}" for bucket in BUCKETS)
        lines.append(
            f"| {language} | {accuracy} | {len(switch['wrong'])} | {len(switch['missed'])} |"
        )
    wrongs = [
        f"- {language}: " + "; ".join(row["wrong"])
        for language, row in detection["switches"]["combined"].items()
        if row["wrong"]
    ]
    if wrongs:
        lines += ["", "Wrong switches (combined):", "", *wrongs]
    return lines


def markdown(
    live: dict[str, Any] | None, split: dict[str, Any] | None, detection: dict[str, Any]
) -> str:
    lines = ["# Evaluation: understanding and language detection, per language", ""]
    lines += ["Written by `make eval` (eval/report.py); do not edit by hand.", ""]
    if live:
        lines += [
            "## Intents and nonsense, through the live model",
            "",
            f"The model trained on all the data, served by a real Rasa server; every message "
            f"through `/model/parse`. Targets: accuracy ≥ {AIM_ACCURACY} and macro F1 ≥ "
            f"{AIM_F1} in every language (macro F1 over the intents of the set); nonsense "
            f"`out_of_scope` or a fallback ≥ {AIM_NONSENSE}. Worst language first.",
            "",
        ]
        for name, title in (
            ("intents", "`eval/intents/` (never trained on)"),
            ("holdout", "`eval/holdout/` (never trained on, never looked at while tuning)"),
        ):
            rows = live["sets"].get(name)
            if not rows:
                continue
            lines += [f"### {title}", ""]
            lines += _intent_table(rows, live["nonsense"] if name == "intents" else None)
            lines += ["", "Most frequent confusions (gold → predicted, count):", ""]
            lines += [
                f"- **{language}**: " + "; ".join(row["errors"])
                for language, row in sorted(rows.items(), key=lambda item: item[1]["accuracy"])
                if row["errors"]
            ]
            lines.append("")
        missed = [
            f"- **{language}**: " + "; ".join(row["missed"])
            for language, row in live["nonsense"].items()
            if row["missed"]
        ]
        if missed:
            lines += ["Nonsense the model acted on (`tests/data/nonsense/`):", "", *missed, ""]
        latency, memory = live["latency_ms"], live["memory_mib"]
        lines += [
            f"Parse latency over {latency['n']} messages: p50 {latency['p50']:.1f} ms, p95 "
            f"{latency['p95']:.1f} ms (HTTP included). Rasa server resident memory: "
            f"{memory['loaded']:.0f} MiB with the model loaded, {memory['after']:.0f} MiB after.",
            "",
        ]
    if split:
        lines += [
            "## Held-out training examples (`rasa test nlu`, 20% of each intent held out)",
            "",
            f"NLU model trained on the other 80% in {split['training_seconds']:.0f} s.",
            "",
            "| language | held-out examples | accuracy | macro F1 |",
            "|---|---:|---:|---:|",
        ]
        for language, row in sorted(split["languages"].items(), key=lambda i: i[1]["accuracy"]):
            lines.append(
                f"| {language} | {row['examples']} | {row['accuracy']:.3f} | "
                f"{row['macro_f1']:.3f} |"
            )
        lines.append("")
    lines += [
        "## Language detection",
        "",
        "Accuracy on `eval/language_samples/` by message length, and the conversation's "
        "language after each message of `tests/data/language_switch/` (a person writing their "
        "own language around foreign names, code-switching, fillers; and clear switches). "
        "Every detector here leaves place names and topic words out and counts repeats once; "
        "`combined` is what the connector uses (decision 20). Target: 0 wrong switches.",
        "",
        *_detection_tables(detection),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-nlu", action="store_true", help="language detection only")
    parser.add_argument("--skip-split", action="store_true", help="no 80/20 retraining")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    live = split = None
    if not args.skip_nlu:
        live = served(ensure_model(Settings()))
        (OUT / "live.json").write_text(json.dumps(live, ensure_ascii=False, indent=2), "utf-8")
        if not args.skip_split:
            python = ROOT / ".venv-rasa" / "bin" / "python"
            subprocess.run(
                [str(python), str(ROOT / "eval" / "nlu.py"), str(OUT)], check=True, env=rasa_env()
            )
            split = json.loads((OUT / "nlu.json").read_text(encoding="utf-8"))
    detection = detection_report()
    (OUT / "detection.json").write_text(json.dumps(detection, indent=2), encoding="utf-8")
    report = markdown(live, split, detection)
    REPORT.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
