"""The catalogue of trainings and jobs: search (by topic, place and free text; ranked;
paginated), details of one opportunity, and the places the catalogue knows."""

from __future__ import annotations

import datetime as dt
import functools
import operator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from bot.db.models import DetailsViewed, Opportunity, OpportunityTopic
from bot.services.paging import page_count
from bot.services.vocabulary import Vocabulary, vocabulary
from bot.text import normalise

KINDS = ("training", "job")


@dataclass(frozen=True)
class Place:
    """A place the catalogue knows: a city, a region or a country (by ISO code)."""

    level: str  # "city", "region" or "country"
    value: str  # normalised city or region name, or the country code
    name: str  # as shown to people


@dataclass(frozen=True)
class SearchQuery:
    """What a person is looking for. Empty fields do not filter."""

    kind: str | None = None
    topics: tuple[str, ...] = ()
    location: str | None = None
    text: str | None = None
    free_only: bool = False
    online_only: bool = False
    language: str | None = None  # offered in this language first
    country: str | None = None  # then in this country (ISO code)
    age: int | None = None  # leave out what a person of this age may not join
    not_for_women_only: bool = False  # leave out offers reserved to women (a man searching)
    page: int = 1
    page_size: int = 5
    today: dt.date | None = None
    place: Place | None = None  # `location` already resolved (by `understand`, this turn)


@dataclass(frozen=True)
class OpportunityView:
    """One opportunity as plain values, ready to be shown."""

    id: int
    kind: str
    title: str
    description: str
    provider: str
    topics: list[str]
    city: str
    region: str
    country: str
    mode: str
    languages: list[str]
    start_date: dt.date | None
    end_date: dt.date | None
    deadline: dt.date | None
    cost_eur: Decimal
    min_age: int | None
    max_age: int | None
    women_only: bool
    neet_only: bool
    url: str
    contact: str

    @property
    def is_free(self) -> bool:
        """Whether it costs nothing."""
        return self.cost_eur == 0

    @property
    def place(self) -> str:
        """Where it is, for people: "Split, HR", or "online" with the provider's country."""
        parts = [part for part in (self.city, self.country) if part]
        return ", ".join(parts)


@dataclass
class SearchResult:
    """One page of results, with what the search understood."""

    items: list[OpportunityView]
    total: int
    page: int
    pages: int
    place: Place | None = None
    unknown_location: str | None = None
    terms: list[str] = field(default_factory=list)

    @property
    def has_more(self) -> bool:
        """Whether a later page exists."""
        return self.page < self.pages


def to_view(item: Opportunity) -> OpportunityView:
    """The plain-value view of a model row."""
    return OpportunityView(
        id=item.id,
        kind=item.kind,
        title=item.title,
        description=item.description,
        provider=item.provider,
        topics=item.topic_keys,
        city=item.city,
        region=item.region,
        country=item.country,
        mode=item.mode,
        languages=item.language_codes,
        start_date=item.start_date,
        end_date=item.end_date,
        deadline=item.deadline,
        cost_eur=Decimal(item.cost_eur),
        min_age=item.min_age,
        max_age=item.max_age,
        women_only=item.women_only,
        neet_only=item.neet_only,
        url=item.url,
        contact=item.contact,
    )


def resolve_place(session: Session, text: str, vocab: Vocabulary | None = None) -> Place | None:
    """The place `text` names (city, then region, then country), accent- and case-insensitive."""
    vocab = vocab or vocabulary()
    wanted = normalise(text)
    if not wanted:
        return None
    for candidate in dict.fromkeys([wanted, vocab.place_aliases.get(wanted, wanted)]):
        for level, column, shown in (
            ("city", Opportunity.city_norm, Opportunity.city),
            ("region", Opportunity.region_norm, Opportunity.region),
        ):
            name = session.scalar(select(shown).where(column == candidate).limit(1))
            if name:
                return Place(level, candidate, name)
        code = vocab.country_names.get(candidate)
        if code is None and len(candidate) == 2 and candidate.upper() in _country_codes(session):
            code = candidate.upper()
        if code:
            return Place("country", code, _country_name(code, vocab))
    return None


def find_place_in_text(
    session: Session, text: str, vocab: Vocabulary | None = None
) -> Place | None:
    """The first place named anywhere in a free-text message ("jobs in sevilla pls" → Sevilla)."""
    vocab = vocab or vocabulary()
    words = normalise(text).split()
    for size in range(min(3, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            phrase = " ".join(words[start : start + size])
            if len(phrase) < 3 or phrase in vocab.stopwords or vocab.topic_for(phrase):
                continue
            place = resolve_place(session, phrase, vocab)
            if place:
                return place
    return None


def _country_codes(session: Session) -> set[str]:
    return set(session.scalars(select(Opportunity.country).distinct()))


def _country_name(code: str, vocab: Vocabulary) -> str:
    names = [name for name, value in vocab.country_names.items() if value == code]
    return names[0].title() if names else code


def _base_query(query: SearchQuery, place: Place | None, terms: list[str]) -> Select:
    today = query.today or dt.date.today()
    conditions = [
        Opportunity.published.is_(True),
        or_(Opportunity.deadline.is_(None), Opportunity.deadline >= today),
        or_(Opportunity.end_date.is_(None), Opportunity.end_date >= today),
    ]
    if query.kind:
        conditions.append(Opportunity.kind == query.kind)
    if query.topics:
        conditions.append(
            Opportunity.id.in_(
                select(OpportunityTopic.opportunity_id).where(
                    OpportunityTopic.topic_key.in_(query.topics)
                )
            )
        )
    if place is not None:
        column = {
            "city": Opportunity.city_norm,
            "region": Opportunity.region_norm,
            "country": Opportunity.country,
        }[place.level]
        conditions.append(column == place.value)
    if query.age is not None:
        conditions.append(or_(Opportunity.min_age.is_(None), Opportunity.min_age <= query.age))
        conditions.append(or_(Opportunity.max_age.is_(None), Opportunity.max_age >= query.age))
    if query.not_for_women_only:
        conditions.append(Opportunity.women_only.is_(False))
    if query.free_only:
        conditions.append(Opportunity.cost_eur == 0)
    if query.online_only:
        conditions.append(Opportunity.mode.in_(("online", "hybrid")))
    if terms:
        conditions.append(or_(*(Opportunity.search_text.contains(term) for term in terms)))
    return select(Opportunity.id).where(and_(*conditions))


def search_terms(text: str | None, vocab: Vocabulary) -> list[str]:
    """The content words of a free-text query (generic words like "courses" or "in" dropped)."""
    if not text:
        return []
    words = [word for word in normalise(text).split() if len(word) > 1]
    return list(dict.fromkeys(word for word in words if word not in vocab.stopwords))


def _place(session: Session, query: SearchQuery, vocab: Vocabulary) -> Place | None:
    """The place the query searches in: resolved once per turn where `understand` did it."""
    if not query.location:
        return None
    if query.place is not None and query.place.name == query.location:
        return query.place
    return resolve_place(session, query.location, vocab)


def search_count(session: Session, query: SearchQuery, vocab: Vocabulary | None = None) -> int:
    """How many opportunities `search` would find for `query`, without reading them."""
    vocab = vocab or vocabulary()
    place = _place(session, query, vocab)
    if query.location and place is None:
        return 0
    ids = _base_query(query, place, search_terms(query.text, vocab)).subquery()
    return session.scalar(select(func.count()).select_from(ids)) or 0


def search(session: Session, query: SearchQuery, vocab: Vocabulary | None = None) -> SearchResult:
    """Search the published, still-open opportunities; best matches first, one page at a time.

    Ranking: free-text matches in the title count most, then elsewhere; then opportunities in
    the person's language, then in their country; then the soonest deadline or start.
    """
    vocab = vocab or vocabulary()
    place = _place(session, query, vocab)
    if query.location and place is None:
        return SearchResult([], 0, 1, 0, unknown_location=query.location)
    terms = search_terms(query.text, vocab)
    ids = _base_query(query, place, terms).subquery()

    order: list[Any] = []
    if terms:
        title = func.lower(Opportunity.title)
        weights = [case((title.contains(term), 3), else_=0) for term in terms]
        weights += [case((Opportunity.search_text.contains(term), 1), else_=0) for term in terms]
        order.append(functools.reduce(operator.add, weights).desc())
    if query.language:
        order.append(case((Opportunity.languages.contains(query.language), 0), else_=1))
    if query.country:
        order.append(case((Opportunity.country == query.country.upper(), 0), else_=1))
    soonest = func.coalesce(Opportunity.deadline, Opportunity.start_date)
    order += [case((soonest.is_(None), 1), else_=0), soonest, Opportunity.id]

    total = session.scalar(select(func.count()).select_from(ids)) or 0
    pages = page_count(total, query.page_size) if total else 0
    page = min(max(1, query.page), max(1, pages))
    rows = session.scalars(
        select(Opportunity)
        .where(Opportunity.id.in_(select(ids.c.id)))
        .order_by(*order)
        .offset((page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return SearchResult([to_view(row) for row in rows], total, page, pages, place, None, terms)


def get_opportunity(session: Session, opportunity_id: int) -> OpportunityView | None:
    """One published opportunity by id, or None."""
    item = session.get(Opportunity, opportunity_id)
    if item is None or not item.published:
        return None
    return to_view(item)


def record_view(session: Session, item: OpportunityView, sender_id: str) -> None:
    """Note that someone opened an opportunity's details (counted in the funders' figures;
    erased with the person's conversation)."""
    session.add(
        DetailsViewed(
            opportunity_id=item.id,
            kind=item.kind,
            sender_id=sender_id,
            viewed_at=dt.datetime.now(dt.UTC),
        )
    )


def count_opportunities(session: Session) -> int:
    """How many opportunities the catalogue holds (published or not)."""
    return session.scalar(select(func.count()).select_from(Opportunity)) or 0
