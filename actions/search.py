"""Searching trainings and jobs: a new search, refining it, more pages, and one opportunity's
details. The search itself is bot.services.catalogue; this module turns it into chat turns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import button, db, entity_values, language_of, latest_text, payload
from bot import render
from bot.messages import text
from bot.services.catalogue import (
    Place,
    SearchQuery,
    SearchResult,
    get_opportunity,
    record_view,
    resolve_place,
    search,
    search_count,
)
from bot.services.paging import page_count
from bot.services.people import PersonView, find
from bot.services.query import ANY, Criteria, understand
from bot.services.vocabulary import vocabulary
from bot.settings import get_settings
from bot.text import parse_id

FRESH_SEARCH_INTENTS = {"ask_trainings": "training", "ask_jobs": "job"}


class SearchState:
    """A search as kept in slots between turns."""

    def __init__(
        self,
        kind: str,
        topics: list[str],
        location: str | None,
        filters: dict[str, Any] | None = None,
        page: int = 1,
    ) -> None:
        self.kind = kind
        self.topics = topics
        self.location = location
        self.filters = {"terms": [], "free": False, "online": False, **(filters or {})}
        self.page = page
        self.place: Place | None = None  # `location` resolved this turn (not kept in slots)

    @classmethod
    def from_tracker(cls, tracker: Tracker) -> SearchState | None:
        """The last search of this conversation, or None."""
        kind = tracker.get_slot("search_kind")
        if not kind:
            return None
        topics = [key for key in (tracker.get_slot("topic") or "").split(";") if key]
        filters = tracker.get_slot("search_filters") or {}
        page = int(tracker.get_slot("search_page") or 1)
        return cls(kind, topics, tracker.get_slot("location"), filters, page)

    def query(self, seeker: Seeker, page: int | None = None) -> SearchQuery:
        """The catalogue query for this state, for this person (what their age lets them join
        only; offers in their language and country first)."""
        return SearchQuery(
            kind=self.kind,
            topics=tuple(self.topics),
            location=self.location,
            text=" ".join(self.filters["terms"]) or None,
            free_only=self.filters["free"],
            online_only=self.filters["online"],
            language=seeker.language,
            country=seeker.country,
            age=seeker.age,
            not_for_women_only=seeker.gender == "man",
            page=page or self.page,
            page_size=get_settings().page_size,
            place=self.place,
        )

    def slots(self) -> list[EventType]:
        """Events that store this state."""
        return [
            SlotSet("search_kind", self.kind),
            SlotSet("topic", ";".join(self.topics) or None),
            SlotSet("location", self.location),
            SlotSet("search_filters", self.filters),
            SlotSet("search_page", float(self.page)),
        ]

    def is_empty(self) -> bool:
        """True when nothing narrows the search yet."""
        return not (self.topics or self.location or self.filters["terms"])


def _describe(state: SearchState, language: str) -> dict[str, str]:
    vocab = vocabulary()
    about = ""
    if state.topics:
        about = text(
            "about_topics", language, topics=render.topics_label(state.topics, vocab, language)
        )
    elif state.filters["terms"]:
        about = text("matching_terms", language, terms=" ".join(state.filters["terms"]))
    where = (
        text("in_place", language, place=render.place_label(state.location, vocabulary(), language))
        if state.location
        else ""
    )
    return {"about": about, "where": where}


def _kinds(kind: str, count: int, language: str) -> str:
    return text(f"kind_{'singular' if count == 1 else 'plural'}.{kind}", language)


def _capitalised(title: str) -> str:
    """The title with its first letter in upper case (after an emoji, if it starts with one)."""
    for index, character in enumerate(title):
        if character.isalpha():
            return title[:index] + character.upper() + title[index + 1 :]
    return title


def _count(session: Session, state: SearchState, seeker: Seeker) -> int:
    return search_count(session, state.query(seeker, page=1))


def _broader_buttons(session: Session, state: SearchState, seeker: Seeker) -> list[dict[str, str]]:
    """Searches one step wider than `state` that do find something, as buttons with counts.
    Each count is that of the search its button starts: the same person (age, country) and
    what `ActionRefineSearch` or a new search keeps of the current filters."""
    language = seeker.language
    buttons = []
    if state.location:
        # location=any keeps the topics and every filter
        wider = SearchState(state.kind, state.topics, None, state.filters)
        count = _count(session, wider, seeker)
        if count and not wider.is_empty():
            label = (
                render.topics_label(wider.topics, vocabulary(), language)
                or " ".join(wider.filters["terms"])
                or _kinds(state.kind, 2, language).capitalize()
            )
            buttons.append(
                button(
                    text("broaden_anywhere", language, topic_label=label, count=count),
                    payload("inform", location=ANY),
                )
            )
        # topic=any drops the topics and the words, keeps "free" and "online"
        anything_there = SearchState(state.kind, [], state.location, {**state.filters, "terms": []})
        count = _count(session, anything_there, seeker)
        if count and (state.topics or state.filters["terms"]):
            buttons.append(
                button(
                    text("broaden_any_topic", language, place=state.location, count=count),
                    # the place it names, whatever the person searched since
                    payload("inform", topic=ANY, location=state.location),
                )
            )
    # a new search of the other kind, with the first topic and the place (what its button says)
    other_kind = "job" if state.kind == "training" else "training"
    other = SearchState(other_kind, state.topics[:1], state.location)
    # Nothing to carry over (a search by words only): its button would open the topic picker,
    # not results, so no count to promise.
    count = 0 if other.is_empty() else _count(session, other, seeker)
    if count:
        entities = {"topic": state.topics[0]} if state.topics else {}
        if state.location:
            entities["location"] = state.location
        intent = "ask_jobs" if other_kind == "job" else "ask_trainings"
        title = text(
            "broaden_other_kind", language, kinds=_kinds(other_kind, 2, language), count=count,
            **_describe(other, language),
        )  # fmt: skip
        buttons.append(button(_capitalised(title), payload(intent, **entities)))
    return buttons


@dataclass(frozen=True)
class Seeker:
    """Who is searching: the conversation's language, and the age, country and gender (an
    optional answer: offers reserved to women are left out only for a man) of a profile."""

    language: str
    age: int | None = None
    country: str | None = None
    gender: str | None = None


def seeker_of(session: Session, tracker: Tracker, person: PersonView | None = None) -> Seeker:
    """The person searching, as far as their profile (if any) tells (`person`: already read)."""
    person = person or find(session, tracker.sender_id)
    if person is None:
        return Seeker(language_of(tracker))
    return Seeker(language_of(tracker), person.age, person.country, person.gender)


def show_page(
    dispatcher: CollectingDispatcher,
    session: Session,
    state: SearchState,
    seeker: Seeker,
    result: SearchResult | None = None,
) -> list[EventType]:
    """Show the page `state.page` of the search (`result`, when it was searched already); with
    no results, offer a wider search."""
    language, age = seeker.language, seeker.age
    result = result or search(session, state.query(seeker))
    state.page = result.page or 1
    described = _describe(state, language)
    if result.total == 0:
        kinds = _kinds(state.kind, 2, language)
        dispatcher.utter_message(text=text("no_results", language, kinds=kinds, **described))
        buttons = _broader_buttons(session, state, seeker)
        if buttons:
            dispatcher.utter_message(text=text("broaden_offer", language), buttons=buttons)
        return state.slots()
    start = (result.page - 1) * get_settings().page_size + 1
    if result.page == 1:
        kinds = _kinds(state.kind, result.total, language)
        if result.has_more:
            header = text(
                "results_header", language, shown=len(result.items), total=result.total,
                kinds=kinds, **described,
            )  # fmt: skip
        else:
            key = "results_header_one" if result.total == 1 else "results_header_all"
            header = text(key, language, total=result.total, kinds=kinds, **described)
    else:
        header = text("page_of", language, page=result.page, pages=result.pages)
    buttons = [
        button(
            render.short_title(start + index, item),
            payload("show_details", opportunity_id=str(item.id)),
        )
        for index, item in enumerate(result.items)
    ]
    if result.has_more:
        buttons.append(button(text("show_more_button", language), payload("show_more")))
    if result.page == 1:
        buttons.append(
            button(text("alerts_for_search_button", language),
                   payload("subscribe_alerts", alert="search"))
        )  # fmt: skip
    if age is not None and result.page == 1:
        header = f"{header}\n{text('results_for_age', language, age=age)}"
    body = render.result_list(result, start, language)
    dispatcher.utter_message(text=f"{header}\n\n{body}", buttons=buttons)
    return state.slots()


def _topic_picker(dispatcher: CollectingDispatcher, kind: str, language: str) -> None:
    vocab = vocabulary()
    buttons = [
        button(f"{info.emoji} {info.label(language)}".strip(), payload("inform", topic=key))
        for key, info in vocab.topics.items()
    ]
    buttons.append(button(text("everything_button", language), payload("inform", topic=ANY)))
    dispatcher.utter_message(text=text(f"pick_topic_{kind}", language), buttons=buttons)


def _criteria(session: Session, tracker: Tracker) -> Criteria:
    return understand(
        session,
        latest_text(tracker),
        entity_values(tracker, "topic"),
        entity_values(tracker, "location"),
        language=language_of(tracker),
    )


def _unknown_place(dispatcher: CollectingDispatcher, criteria: Criteria, language: str) -> None:
    if criteria.unknown_location and not criteria.location:
        dispatcher.utter_message(
            text=text("unknown_place", language, place=criteria.unknown_location)
        )


def _profile_place(session: Session, person: PersonView) -> str | None:
    """The place of a profile as a search location (the town, else the country)."""
    for name in (person.place, person.country):
        place = resolve_place(session, name) if name else None
        if place is not None:
            return place.name
    return None


class _NewSearch:
    """A new question: start from what this message says, nothing carried over.

    Not an `Action` itself: rasa-sdk registers every Action subclass, and this one has no name.
    """

    kind = "training"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        with db().begin() as session:
            criteria = _criteria(session, tracker)
            filters = {
                "terms": criteria.terms,
                "free": criteria.free_only,
                "online": criteria.online_only,
            }
            state = SearchState(self.kind, criteria.topics, criteria.location, filters)
            state.place = criteria.place
            _unknown_place(dispatcher, criteria, language)
            person = find(session, tracker.sender_id)
            seeker = seeker_of(session, tracker, person)
            if state.is_empty() and not (criteria.any_topic or criteria.unknown_location):
                if person is None or not (person.interest_keys or person.place):
                    _topic_picker(dispatcher, self.kind, language)
                    return state.slots()
                # A registered person who says nothing more: search by their profile.
                state = SearchState(
                    self.kind, person.interest_keys, _profile_place(session, person), filters
                )
                dispatcher.utter_message(text=text("search_from_profile", language))
            return show_page(dispatcher, session, state, seeker)


class ActionSearchTrainings(_NewSearch, Action):
    """Search the catalogue's trainings."""

    kind = "training"

    def name(self) -> str:
        return "action_search_trainings"


class ActionSearchJobs(_NewSearch, Action):
    """Search the catalogue's jobs."""

    kind = "job"

    def name(self) -> str:
        return "action_search_jobs"


class ActionRefineSearch(Action):
    """An answer like "in Split" or "tourism": change one thing of the current search."""

    def name(self) -> str:
        return "action_refine_search"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        previous = SearchState.from_tracker(tracker) or SearchState("training", [], None)
        with db().begin() as session:
            criteria = _criteria(session, tracker)
            topics = [] if criteria.any_topic else (criteria.topics or previous.topics)
            location = None if criteria.any_place else (criteria.location or previous.location)
            filters = dict(previous.filters)
            if criteria.topics or criteria.terms or criteria.any_topic:
                filters["terms"] = criteria.terms
            filters["free"] = previous.filters["free"] or criteria.free_only
            filters["online"] = previous.filters["online"] or criteria.online_only
            state = SearchState(previous.kind, topics, location, filters)
            state.place = criteria.place
            _unknown_place(dispatcher, criteria, language)
            return show_page(dispatcher, session, state, seeker_of(session, tracker))


class ActionShowMore(Action):
    """The next page of the current search."""

    def name(self) -> str:
        return "action_show_more"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        state = SearchState.from_tracker(tracker)
        if state is None:
            dispatcher.utter_message(text=text("no_search_yet", language))
            return []
        with db().begin() as session:
            seeker = seeker_of(session, tracker)
            state.page += 1
            result = search(session, state.query(seeker))  # a page beyond the last: the last
            if result.page < state.page:
                dispatcher.utter_message(text=text("no_more_results", language))
                return []
            return show_page(dispatcher, session, state, seeker, result)


class ActionShowDetails(Action):
    """Everything about one opportunity: provider, dates, cost, place, mode, how to apply."""

    def name(self) -> str:
        return "action_show_details"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_of(tracker)
        values = entity_values(tracker, "opportunity_id") or [
            tracker.get_slot("opportunity_id") or ""
        ]
        state = SearchState.from_tracker(tracker)
        wanted = parse_id(values[0])
        with db().begin() as session:
            item = get_opportunity(session, wanted) if wanted is not None else None
            if item is not None:
                record_view(session, item, tracker.sender_id)
            more = state is not None and state.page < page_count(
                search_count(session, state.query(seeker_of(session, tracker))),
                get_settings().page_size,
            )
        if item is None:
            # No id at all: which one? An id we cannot find, or one no button ever sent: gone.
            dispatcher.utter_message(
                text=text("details_missing" if values[0] else "details_which", language)
            )
            return []
        buttons = [button(text("show_more_button", language), payload("show_more"))] if more else []
        dispatcher.utter_message(text=render.details(item, vocabulary(), language), buttons=buttons)
        return [SlotSet("opportunity_id", str(item.id))]
