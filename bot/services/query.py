"""Understanding what a search message asks for, beyond the NLU's entities: topic words,
place names, "free", "online", "anywhere", and the remaining content words."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from bot.services.catalogue import Place, find_place_in_text, resolve_place, search_terms
from bot.services.vocabulary import Vocabulary, vocabulary
from bot.text import normalise

ANY = "any"  # slot value meaning "no filter" (e.g. from a "Search anywhere" button)


@dataclass
class Criteria:
    """What one message said about a search. None means "not mentioned"."""

    topics: list[str] = field(default_factory=list)
    location: str | None = None
    any_topic: bool = False
    any_place: bool = False
    free_only: bool = False
    online_only: bool = False
    terms: list[str] = field(default_factory=list)
    unknown_location: str | None = None
    place: Place | None = None  # `location`, resolved (the search need not resolve it again)


def _mentions(text: str, phrases: frozenset[str]) -> bool:
    padded = f" {normalise(text)} "
    return any(f" {phrase} " in padded for phrase in phrases)


def understand(
    session: Session,
    text: str,
    entity_topics: list[str],
    entity_locations: list[str],
    vocab: Vocabulary | None = None,
    language: str | None = None,
) -> Criteria:
    """Combine the NLU's entities with what the text itself says.

    Entities win; the text fills what they missed (a place the NLU did not tag, a topic
    synonym it did not map), read as `language` (the conversation's) where words differ. A
    button payload ("/intent{...}") has no text to read.
    """
    vocab = vocab or vocabulary()
    criteria = Criteria()
    for value in entity_topics:
        if normalise(value) == ANY:
            criteria.any_topic = True
            continue
        key = vocab.topic_for(value)
        if key and key not in criteria.topics:
            criteria.topics.append(key)
    for value in entity_locations:
        if normalise(value) == ANY:
            criteria.any_place = True
        elif place := resolve_place(session, value, vocab):
            criteria.location, criteria.place = place.name, place
            break
        else:
            criteria.unknown_location = value
    if not text or text.startswith("/"):
        return criteria

    if not criteria.topics:
        criteria.topics = vocab.find_topics(text, language)
    if criteria.location is None:
        place = find_place_in_text(session, text, vocab)
        if place is not None:
            criteria.location, criteria.place = place.name, place
            criteria.unknown_location = None
    criteria.any_place = criteria.any_place or _mentions(text, vocab.any_place_words)
    criteria.any_topic = criteria.any_topic or _mentions(text, vocab.any_topic_words)
    criteria.free_only = _mentions(text, vocab.free_words)
    criteria.online_only = _mentions(text, vocab.online_words)
    if not criteria.topics:
        known = set(normalise(" ".join([criteria.location or "", *entity_locations])).split())
        criteria.terms = [
            term
            for term in search_terms(text, vocab)
            if term not in known
            and not _mentions(term, vocab.any_topic_words | vocab.any_place_words)
        ]
    return criteria
