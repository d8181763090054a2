"""Every text a young person can see exists in every supported language.

Adding a response, a message, a button, an intent or a language without all its translations
makes one of these tests fail and name what is missing.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import languages
from bot.messages import FALLBACK_LANGUAGE, catalogues
from bot.services.vocabulary import vocabulary
from bot.settings import ROOT
from tests.conftest import domain_responses, variation_language

NLU_DIR = ROOT / "rasa_project" / "data" / "nlu"
SAMPLES_DIR = ROOT / "eval" / "language_samples"
MIN_EXAMPLES = 12  # per intent and language
OTHERS = [code for code in languages.supported() if code != FALLBACK_LANGUAGE]


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix.removesuffix("."): node}
    found: dict[str, Any] = {}
    for key, value in node.items():
        found.update(_leaves(value, f"{prefix}{key}."))
    return found


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _examples(directory: Path) -> dict[str, list[str]]:
    by_intent: dict[str, list[str]] = {}
    for path in sorted(directory.glob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" in block:
                lines = block["examples"].splitlines()
                examples = [line.strip()[2:] for line in lines if line.strip().startswith("- ")]
                by_intent.setdefault(block["intent"], []).extend(examples)
    return by_intent


def test_the_supported_languages_come_from_config() -> None:
    assert languages.supported()[0] == FALLBACK_LANGUAGE
    assert set(languages.supported()) == {
        "en",
        "it",
        "fr",
        "es",
        "de",
        "ro",
        "hr",
        "sl",
        "lt",
        "ar",
    }
    assert languages.get("ar").rtl and not languages.get("it").rtl


@pytest.mark.parametrize("language", OTHERS)
def test_every_message_has_a_text_with_the_same_fields(language: str) -> None:
    english = _leaves(catalogues()[FALLBACK_LANGUAGE])
    translated = _leaves(catalogues().get(language, {}))
    missing = sorted(set(english) - set(translated))
    assert not missing, f"config/messages/{language}.yml lacks {missing}"
    assert not sorted(set(translated) - set(english)), "keys English does not have"
    for key, template in english.items():
        text = translated[key]
        assert isinstance(text, str) and text.strip(), f"{language}: {key} is empty"
        assert _fields(text) == _fields(template), f"{language}: {key} fields differ"


@pytest.mark.parametrize("language", OTHERS)
def test_every_response_has_a_variation_with_the_same_buttons(language: str) -> None:
    for name, variations in domain_responses().items():
        default = [v for v in variations if variation_language(v) is None]
        assert default, f"{name} has no default (English) variation"
        mine = [v for v in variations if variation_language(v) == language]
        assert len(mine) == 1, f"{name} has {len(mine)} variations in {language}"
        english_buttons = default[0].get("buttons") or []
        buttons = mine[0].get("buttons") or []
        assert len(buttons) == len(english_buttons), f"{name}: buttons in {language}"
        for theirs, ours in zip(english_buttons, buttons, strict=True):
            assert ours["title"].strip(), f"{name}: an empty button title in {language}"
            if theirs["payload"].startswith("/"):
                assert ours["payload"] == theirs["payload"], f"{name}: payload in {language}"


def test_commands_and_topic_labels_exist_in_every_language() -> None:
    for topic in vocabulary().topics.values():
        assert set(topic.labels) >= set(languages.supported()), f"topic {topic.key} labels"
    commands = catalogues()[FALLBACK_LANGUAGE]["commands"]
    for language in languages.supported():
        assert set(catalogues()[language]["commands"]) == set(commands), language


@pytest.mark.parametrize("language", OTHERS)
def test_every_intent_has_training_examples_in_every_language(language: str) -> None:
    english = _examples(NLU_DIR / FALLBACK_LANGUAGE)
    mine = _examples(NLU_DIR / language)
    for intent in english:
        count = len(set(mine.get(intent, [])))
        assert count >= MIN_EXAMPLES, f"{language}: {intent} has {count} examples"
    assert set(mine) <= set(english), "intents English does not have"


def test_no_example_means_two_intents() -> None:
    seen: dict[str, str] = {}
    for directory in sorted(NLU_DIR.iterdir()):
        if not directory.is_dir():
            continue
        for intent, examples in _examples(directory).items():
            for example in examples:
                plain = re.sub(r"\[([^\]]+)\](\{[^}]*\}|\([^)]*\))", r"\1", example).lower()
                assert seen.setdefault(plain, intent) == intent, (
                    f"{example!r} is under {seen[plain]} and {intent}"
                )


@pytest.mark.parametrize("language", languages.supported())
def test_every_language_has_labelled_detection_samples(language: str) -> None:
    samples = yaml.safe_load((SAMPLES_DIR / f"{language}.yml").read_text(encoding="utf-8"))
    for bucket, shortest, longest in (("short", 1, 19), ("medium", 20, 60), ("long", 61, 10**4)):
        assert len(samples[bucket]) >= 10, f"{language} {bucket}"
        for message in samples[bucket]:
            assert shortest <= len(message) <= longest, f"{language} {bucket}: {message!r}"


def test_annotated_topic_words_agree_with_the_topic_vocabulary() -> None:
    """An example that tags a known topic word with another topic would make Rasa's synonyms
    contradict config/topics.yml."""
    vocab = vocabulary()
    tagged = re.compile(r'\[([^\]]+)\]\{"entity": "topic", "value": "(\w+)"\}')
    for path in sorted(NLU_DIR.glob("*/*.yml")):
        for word, key in tagged.findall(path.read_text(encoding="utf-8")):
            known = vocab.topic_for(word)
            assert known in (None, key), f"{path.parent.name}: {word!r} is {known}, tagged {key}"
