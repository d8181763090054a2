"""First-run preparation: migrations, topics from `config/topics.yml`, the sample catalogue."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import CONFIG_DIR
from bot.db.migrate import upgrade
from bot.db.models import Topic, TopicLabel
from bot.db.session import session_factory
from bot.services.catalogue import count_opportunities
from bot.services.catalogue_csv import import_catalogue
from bot.services.vocabulary import Vocabulary, vocabulary

logger = logging.getLogger(__name__)
SAMPLE_CATALOGUE = CONFIG_DIR / "catalogue.csv"


def sync_topics(session: Session, vocab: Vocabulary) -> None:
    """Make the topics table match the configuration (keys, emoji, labels per language)."""
    existing = {topic.key: topic for topic in session.scalars(select(Topic))}
    for key, info in vocab.topics.items():
        topic = existing.get(key) or Topic(key=key)
        topic.emoji = info.emoji
        labels = {item.language: item for item in topic.labels}
        for language, text in info.labels.items():
            if language in labels:
                labels[language].label = text
            else:
                topic.labels.append(TopicLabel(language=language, label=text))
        session.add(topic)


def prepare_database(database_url: str, sample: Path | None = SAMPLE_CATALOGUE) -> None:
    """Migrate, sync topics, and load the sample catalogue when the catalogue is empty."""
    upgrade(database_url)
    with session_factory(database_url).begin() as session:
        sync_topics(session, vocabulary())
        if sample is not None and count_opportunities(session) == 0:
            report = import_catalogue(session, sample.read_text(encoding="utf-8"))
            if not report.ok:
                raise RuntimeError(
                    "the sample catalogue has errors: " + "; ".join(map(str, report.errors[:5]))
                )
            logger.info("Loaded the sample catalogue: %d opportunities", len(report.created))
