"""Our NLU components as Rasa serves them: the intent classifier's weights are laid out so
that scoring a message copies nothing (decision 28), with the same scores."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from connectors.processes import RASA_PYTHON
from connectors.rasa.training import RASA_PROJECT, rasa_env

pytestmark = pytest.mark.integration

# Run in Rasa's environment: load the model, score messages with the served classifier and
# with a row-major copy of its weights (scikit-learn's own layout), report both.
SCRIPT = r"""
import asyncio, json, sys, time
import numpy as np
from rasa.core.agent import Agent
from scipy.sparse import csr_matrix

agent = Agent.load(sys.argv[1])
nodes = agent.processor.graph_runner._instantiated_nodes
clf = next(n._component for k, n in nodes.items() if "IntentClassifier" in k).clf
texts = ["hi", "any jobs in malta?", "cerco corsi di informatica a Napoli", "مرحبا", "qsdqsd"]

async def intents():
    return [(await agent.parse_message(text))["intent_ranking"][0]["name"] for text in texts]

def cpu_ms():
    started = time.process_time()
    for _ in range(20):
        clf.predict_proba(X[:1])
    return (time.process_time() - started) / 20 * 1000

served = asyncio.run(intents())
served_weights = clf.coef_
X = np.random.default_rng(0).random((5, clf.coef_.shape[1]))
X = csr_matrix(X * (X > 0.999))
fast, fast_ms = clf.predict_proba(X), cpu_ms()
clf.coef_ = np.ascontiguousarray(served_weights)
slow, slow_ms = clf.predict_proba(X), cpu_ms()
print(json.dumps({
    "transposed_contiguous": bool(served_weights.T.flags["C_CONTIGUOUS"]),
    "max_difference": float(np.abs(fast - slow).max()),
    "fast_ms": fast_ms, "slow_ms": slow_ms, "intents": served,
}))
"""


def test_the_served_classifier_scores_without_copying_its_weights(trained_model: Path) -> None:
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", SCRIPT, str(trained_model)], cwd=RASA_PROJECT,
        env=rasa_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["transposed_contiguous"]
    assert result["max_difference"] < 1e-12  # the same scores
    assert result["intents"][:2] == ["greet", "ask_jobs"]
    # The copy it avoids is most of a scoring's CPU: measured, not assumed (loose: a busy
    # machine slows both alike)
    assert result["fast_ms"] < result["slow_ms"] / 2, result
