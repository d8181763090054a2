"""`make eval`: intent accuracy per language (eval/nlu.py, `rasa test nlu` on held-out data)
and language-detection accuracy on labelled short messages, next to plain langdetect.

    .venv/bin/python eval/report.py [--skip-nlu]

Writes eval/report.md (and var/eval/*.json) and prints the report.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import langdetect
import yaml
from langdetect import DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import languages  # noqa: E402
from bot.settings import ROOT  # noqa: E402

SAMPLES = ROOT / "eval" / "language_samples"
OUT = ROOT / "var" / "eval"
REPORT = ROOT / "eval" / "report.md"
BUCKETS = {"short": "under 20 characters", "medium": "20–60", "long": "over 60"}
AIM_INTENT = 0.92
AIM_DETECTION = 0.97


def plain_langdetect(message: str) -> str | None:
    """langdetect as shipped: all its 55 languages, seeded."""
    DetectorFactory.seed = 0
    try:
        return str(langdetect.detect(message))
    except LangDetectException:
        return None


def detection_report() -> dict[str, dict[str, dict[str, float]]]:
    """Per language and length bucket: our detector's and plain langdetect's accuracy, and how
    often a message of that bucket would switch the conversation's language."""
    report: dict[str, dict[str, dict[str, float]]] = {}
    for language in languages.supported():
        samples = yaml.safe_load((SAMPLES / f"{language}.yml").read_text(encoding="utf-8"))
        report[language] = {}
        for bucket in BUCKETS:
            messages = samples[bucket]
            ours = [languages.detect(message) for message in messages]
            report[language][bucket] = {
                "messages": len(messages),
                "ours": sum(d is not None and d.code == language for d in ours) / len(messages),
                "langdetect": sum(plain_langdetect(m) == language for m in messages)
                / len(messages),
                "switches": sum(d is not None and d.confident for d in ours) / len(messages),
                "wrong_switches": sum(
                    d is not None and d.confident and d.code != language for d in ours
                )
                / len(messages),
            }
    return report


def _total(report: dict[str, dict[str, dict[str, float]]], bucket: str, key: str) -> float:
    rows = [by_bucket[bucket] for by_bucket in report.values()]
    return sum(row[key] * row["messages"] for row in rows) / sum(row["messages"] for row in rows)


def markdown(nlu: dict | None, detection: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ["# Evaluation: understanding and language detection, per language", ""]
    lines += ["Written by `make eval` (eval/report.py); do not edit by hand.", ""]
    if nlu:
        lines += [
            "## Intent classification (`rasa test nlu`, 20% of each intent held out)",
            "",
            f"NLU model trained on the other 80% in {nlu['training_seconds']:.0f} s. "
            f"Aim: accuracy ≥ {AIM_INTENT} in every language.",
            "",
            "| language | held-out examples | accuracy | macro F1 | aim met |",
            "|---|---:|---:|---:|:---:|",
        ]
        for language, row in nlu["languages"].items():
            met = "✅" if row["accuracy"] >= AIM_INTENT else "❌"
            lines.append(
                f"| {language} | {row['examples']} | {row['accuracy']:.3f} | "
                f"{row['macro_f1']:.3f} | {met} |"
            )
        lines += ["", "Most frequent confusions (gold → predicted, count), per language:", ""]
        for language, row in nlu["languages"].items():
            if row["errors"]:
                lines.append(f"- **{language}**: " + "; ".join(row["errors"]))
        lines.append("")
    lines += [
        "## Language detection (eval/language_samples)",
        "",
        "“ours” is `bot.languages.detect` (langdetect restricted to the ten languages, seeded; "
        "Arabic by its script); “langdetect” is plain `langdetect.detect` with all its 55 "
        "languages. “switches” is the share of messages confident enough to change a "
        "conversation's language (`Detection.confident`); a short message never should. "
        f"Aim: ≥ {AIM_DETECTION} above 20 characters.",
        "",
        "| length | ours | langdetect | switches | wrong switches |",
        "|---|---:|---:|---:|---:|",
    ]
    for bucket, label in BUCKETS.items():
        lines.append(
            f"| {label} | {_total(detection, bucket, 'ours'):.3f} | "
            f"{_total(detection, bucket, 'langdetect'):.3f} | "
            f"{_total(detection, bucket, 'switches'):.3f} | "
            f"{_total(detection, bucket, 'wrong_switches'):.3f} |"
        )
    lines += ["", "Per language (ours / langdetect):", ""]
    lines += ["| language | " + " | ".join(BUCKETS.values()) + " |", "|---|---:|---:|---:|"]
    for language, by_bucket in detection.items():
        cells = [
            f"{by_bucket[bucket]['ours']:.2f} / {by_bucket[bucket]['langdetect']:.2f}"
            for bucket in BUCKETS
        ]
        lines.append(f"| {language} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-nlu", action="store_true", help="language detection only")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    nlu = None
    if not args.skip_nlu:
        python = ROOT / ".venv-rasa" / "bin" / "python"
        subprocess.run([str(python), str(ROOT / "eval" / "nlu.py"), str(OUT)], check=True)
        nlu = json.loads((OUT / "nlu.json").read_text(encoding="utf-8"))
    detection = detection_report()
    (OUT / "detection.json").write_text(json.dumps(detection, indent=2), encoding="utf-8")
    report = markdown(nlu, detection)
    REPORT.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
