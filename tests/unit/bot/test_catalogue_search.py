"""Catalogue search: by topic, by place (case- and accent-insensitive), by free text; ranked and
paginated; closed opportunities left out."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.render import headline
from bot.services import catalogue as catalogue_module
from bot.services.catalogue import (
    SearchQuery,
    get_opportunity,
    resolve_place,
    search,
    search_count,
)
from bot.services.catalogue_csv import import_catalogue
from bot.services.query import understand
from tests.conftest import catalogue_csv, opportunity_row

TODAY = dt.date(2026, 11, 22)


@pytest.fixture
def catalogue(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    rows = [
        opportunity_row(),
        opportunity_row(title="Barista course", topics="tourism_hospitality", city="Palermo",
                        region="Sicilia", country="IT", languages="it"),
        opportunity_row(title="Solar panel installer", kind="job", topics="green;construction",
                        city="București", region="București", country="RO", languages="ro"),
        opportunity_row(title="Cloud basics online", topics="digital", mode="online", city="",
                        region="", country="MT", languages="en", cost_eur="50"),
        opportunity_row(title="Closed course", deadline="2026-10-01", start_date="2026-11-01"),
        opportunity_row(title="Python for beginners", city="Zagreb", region="Grad Zagreb",
                        description="Start coding with Python.", languages="en"),
    ]  # fmt: skip
    rows += [
        opportunity_row(title=f"Hotel job {n}", kind="job", topics="tourism_hospitality",
                        city="Sliema", region="Malta", country="MT", start_date=f"2027-01-{n:02d}",
                        deadline="", end_date="")
        for n in range(1, 13)
    ]  # fmt: skip
    with sessions.begin() as session:
        assert import_catalogue(session, catalogue_csv(*rows)).ok
    return sessions


def titles(sessions, **query) -> list[str]:
    with sessions.begin() as session:
        result = search(session, SearchQuery(today=TODAY, page_size=20, **query))
    return [item.title for item in result.items]


def test_by_topic_and_kind(catalogue) -> None:
    assert set(titles(catalogue, kind="training", topics=("digital",))) == {
        "Web development bootcamp", "Python for beginners", "Cloud basics online",
    }  # fmt: skip
    assert titles(catalogue, kind="job", topics=("green",)) == ["Solar panel installer"]


@pytest.mark.parametrize("place", ["split", "SPLIT", "Split-Dalmatia", "croatia", "Hrvatska", "hr"])
def test_by_place_at_every_level(catalogue, place: str) -> None:
    assert "Web development bootcamp" in titles(catalogue, location=place)


@pytest.mark.parametrize("place", ["Bucuresti", "bucurești", "Bucharest", "Romania", "România"])
def test_place_names_ignore_accents_and_know_other_names(catalogue, place: str) -> None:
    assert titles(catalogue, location=place) == ["Solar panel installer"]


def test_unknown_place_is_reported_not_ignored(catalogue) -> None:
    with catalogue.begin() as session:
        result = search(session, SearchQuery(location="Atlantis", today=TODAY))
    assert result.total == 0 and result.unknown_location == "Atlantis"


def test_free_text_ranks_title_matches_first(catalogue) -> None:
    found = titles(catalogue, text="python coding courses")
    assert found[0] == "Python for beginners"
    assert titles(catalogue, text="barista") == ["Barista course"]


def test_closed_opportunities_are_left_out(catalogue) -> None:
    assert "Closed course" not in titles(catalogue)


def test_free_and_online_filters(catalogue) -> None:
    assert "Cloud basics online" not in titles(catalogue, free_only=True)
    assert titles(catalogue, online_only=True) == ["Cloud basics online"]


def test_language_preference_ranks_first(catalogue) -> None:
    hr_first = titles(catalogue, kind="training", topics=("digital",), language="hr")
    assert hr_first[0] == "Web development bootcamp"
    it_first = titles(catalogue, language="it")
    assert it_first[0] == "Barista course"


def test_pages_cover_everything_once(catalogue) -> None:
    seen: list[str] = []
    with catalogue.begin() as session:
        first = search(session, SearchQuery(location="Malta", kind="job", page_size=5, today=TODAY))
        assert (first.total, first.pages, first.has_more) == (12, 3, True)
        for page in (1, 2, 3):
            result = search(
                session,
                SearchQuery(location="malta", kind="job", page=page, page_size=5, today=TODAY),
            )
            seen += [item.title for item in result.items]
        assert not result.has_more
    assert len(seen) == 12 and len(set(seen)) == 12
    assert seen[:2] == ["Hotel job 1", "Hotel job 2"]  # soonest start first


def test_resolve_place_levels(catalogue) -> None:
    with catalogue.begin() as session:
        assert resolve_place(session, "palermo").level == "city"
        assert resolve_place(session, "Sicily").level == "region"
        assert resolve_place(session, "Italia").value == "IT"
        assert resolve_place(session, "nowhere") is None


def test_details_of_one(catalogue) -> None:
    with catalogue.begin() as session:
        result = search(session, SearchQuery(text="barista", today=TODAY))
        item = get_opportunity(session, result.items[0].id)
        assert item is not None and item.provider == "Code Academy Split" and item.is_free
        assert get_opportunity(session, 999_999) is None


def test_an_age_leaves_out_what_that_person_may_not_join(catalogue) -> None:
    # Every sample row is for ages 18–29.
    with catalogue.begin() as session:
        everyone = search(session, SearchQuery(kind="training", today=TODAY)).total
        assert search(session, SearchQuery(kind="training", age=20, today=TODAY)).total == everyone
        assert search(session, SearchQuery(kind="training", age=17, today=TODAY)).total == 0
        assert search(session, SearchQuery(kind="training", age=30, today=TODAY)).total == 0


def test_a_result_line_says_when_an_offer_is_for_women_only(sessions) -> None:
    with sessions.begin() as session:
        assert import_catalogue(
            session, catalogue_csv(opportunity_row(title="Coding for women", women_only="true"))
        ).ok
        (item,) = search(session, SearchQuery(today=TODAY)).items
    assert headline(item, "en") == (
        "Coding for women · Code Academy Split, Split · 🗣️ HR, EN (free, for women only)"
    )


def test_offers_reserved_to_women_are_left_out_for_a_man_only(sessions) -> None:
    with sessions.begin() as session:
        assert import_catalogue(
            session,
            catalogue_csv(
                opportunity_row(title="Coding for women", women_only="true"),
                opportunity_row(title="Coding for all"),
            ),
        ).ok
        everyone = search(session, SearchQuery(today=TODAY))
        for_him = search(session, SearchQuery(today=TODAY, not_for_women_only=True))
    assert sorted(item.title for item in everyone.items) == ["Coding for all", "Coding for women"]
    assert [item.title for item in for_him.items] == ["Coding for all"]


def test_the_persons_language_then_country_rank_first(sessions) -> None:
    rows = [
        opportunity_row(title="English in Malta", city="Valletta", region="Malta",
                        country="MT", languages="en", deadline=str(TODAY + dt.timedelta(days=5))),
        opportunity_row(title="Italian in Malta", city="Valletta", region="Malta",
                        country="MT", languages="it", deadline=str(TODAY + dt.timedelta(days=9))),
        opportunity_row(title="Italian in Italy", city="Palermo", region="Sicilia",
                        country="IT", languages="it", deadline=str(TODAY + dt.timedelta(days=20))),
    ]  # fmt: skip
    with sessions.begin() as session:
        assert import_catalogue(session, catalogue_csv(*rows)).ok

        def order(**wanted: str) -> list[str]:
            result = search(session, SearchQuery(today=TODAY, **wanted))
            return [item.title for item in result.items]

        assert order() == ["English in Malta", "Italian in Malta", "Italian in Italy"]
        assert order(language="it") == ["Italian in Malta", "Italian in Italy", "English in Malta"]
        assert order(language="it", country="it") == [
            "Italian in Italy", "Italian in Malta", "English in Malta",
        ]  # fmt: skip


def test_a_place_resolved_this_turn_is_not_resolved_again(
    catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`understand` resolves the place of a message; the search (and its count) take it as is.
    A place that does not match the location (another search of the turn) is resolved."""
    with catalogue.begin() as session:
        understood = understand(session, "coding courses in zagreb", [], [], language="en")
    assert understood.place is not None and understood.location == "Zagreb"
    calls: list[str] = []

    def counting(session: Session, text: str, vocab: object = None) -> object:
        calls.append(text)
        return resolve_place(session, text)

    monkeypatch.setattr(catalogue_module, "resolve_place", counting)
    query = SearchQuery(today=TODAY, location="Zagreb", place=understood.place)
    with catalogue.begin() as session:
        assert [item.title for item in search(session, query).items] == ["Python for beginners"]
        assert search_count(session, query) == 1
    assert calls == []
    elsewhere = SearchQuery(today=TODAY, location="Palermo", place=understood.place)
    with catalogue.begin() as session:
        assert [item.title for item in search(session, elsewhere).items] == ["Barista course"]
    assert calls == ["Palermo"]
