"""A cache of sentence embeddings by text, shared by every training on this machine.

Embedding the ~12,000 training examples takes about two minutes on two cores; a retraining
after a few edits embeds only the new ones. The cache is a SQLite file (one writer at a time,
safe across processes); a row is keyed by the SHA-256 of the text and the model it was made
with, never by the text itself. Training data can hold words of young people (accepted
annotations), so erasing a person also forgets their rows (`forget`).

Stdlib and numpy only: the project's privacy code (Python 3.11) imports it too.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from pathlib import Path

import numpy as np

ENVIRONMENT = "NEETBOT_EMBEDDING_CACHE"  # where the file is; set by the project for Rasa
DEFAULT = Path.home() / ".cache" / "neetbot" / "embeddings.sqlite3"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS embeddings ("
    " text_hash TEXT NOT NULL, model TEXT NOT NULL, vector BLOB NOT NULL,"
    " PRIMARY KEY (text_hash, model))"
)


def text_hash(text: str) -> str:
    """The key of a text (the same for every model)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def location() -> Path:
    """The cache file: `$NEETBOT_EMBEDDING_CACHE`, else ~/.cache/neetbot/embeddings.sqlite3."""
    configured = os.environ.get(ENVIRONMENT)
    return Path(configured).expanduser() if configured else DEFAULT


class EmbeddingCache:
    """Embeddings of one model, by text."""

    def __init__(self, model: str, path: Path | None = None) -> None:
        self.model = model
        self.path = path or location()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            # Owner-only from the start: the rows are derived from what people wrote.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        connection = sqlite3.connect(self.path, timeout=60)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(_SCHEMA)
        return connection

    def embed(
        self, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray], batch: int = 256
    ) -> np.ndarray:
        """The embeddings of `texts` (rows in order): cached ones read, the others computed
        with `compute` (a list of texts → a 2-D array) and stored."""
        keys = [text_hash(text) for text in texts]
        found: dict[str, np.ndarray] = {}
        with closing(self._connect()) as connection:
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))  # placeholders only: values are bound
                query = f"SELECT text_hash, vector FROM embeddings WHERE model = ? AND text_hash IN ({marks})"  # noqa: E501, S608
                rows = connection.execute(query, [self.model, *chunk])
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
            missing = list(
                {
                    key: text for key, text in zip(keys, texts, strict=True) if key not in found
                }.items()
            )
            for start in range(0, len(missing), batch):
                chunk_items = missing[start : start + batch]
                vectors = np.asarray(compute([text for _, text in chunk_items]), dtype=np.float32)
                with connection:
                    connection.executemany(
                        "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                        [
                            (key, self.model, vector.tobytes())
                            for (key, _), vector in zip(chunk_items, vectors, strict=True)
                        ],
                    )
                for (key, _), vector in zip(chunk_items, vectors, strict=True):
                    found[key] = vector
        return np.stack([found[key] for key in keys]) if keys else np.zeros((0, 0), np.float32)


def forget(texts: Iterable[str], path: Path | None = None) -> int:
    """Remove the embeddings of `texts` (of every model); the number of rows removed."""
    target = path or location()
    hashes = [text_hash(text) for text in texts]
    if not hashes or not target.exists():
        return 0
    with closing(sqlite3.connect(target, timeout=60)) as connection, connection:
        connection.execute(_SCHEMA)
        removed = 0
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            marks = ",".join("?" * len(chunk))  # placeholders only: values are bound
            query = f"DELETE FROM embeddings WHERE text_hash IN ({marks})"  # noqa: S608
            removed += connection.execute(query, chunk).rowcount
    return removed
