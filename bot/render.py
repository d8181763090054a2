"""How search results and opportunities read in a chat: short, plain, with buttons."""

from __future__ import annotations

import datetime as dt

from babel import Locale
from babel.dates import format_date

from bot.messages import text
from bot.services.catalogue import OpportunityView, SearchResult
from bot.services.vocabulary import Vocabulary
from bot.text import normalise

KIND_EMOJI = {"training": "🎓", "job": "💼"}
MAX_BUTTON_TITLE = 40


def _date(value: dt.date, language: str) -> str:
    """A date as people of that language write it ("18 gen 2027", "18. Jan. 2027")."""
    return format_date(value, format="medium", locale=language)


def place_label(place: str, vocab: Vocabulary, language: str) -> str:
    """A place as shown in `language`: a country by its name there ("Croazia"), else as is."""
    code = vocab.country_names.get(normalise(place))
    if code is None:
        return place
    try:
        return str(Locale.parse(language).territories.get(code) or place)
    except (ValueError, LookupError):  # a language Babel does not know
        return place


def topics_label(keys: list[str], vocab: Vocabulary, language: str) -> str:
    """Topic keys as their labels: "Digital & IT, Green jobs"."""
    return ", ".join(vocab.topics[key].label(language) for key in keys if key in vocab.topics)


def headline(item: OpportunityView, language: str) -> str:
    """One line for a result list: title, provider, place, languages, and the flags that matter
    most."""
    flags = []
    if item.is_free and item.kind == "training":
        flags.append(text("item_free", language))
    if item.mode != "in_person":
        flags.append(text(f"mode.{item.mode}", language))
    if item.women_only:  # eligibility a person should see before opening it
        flags.append(text("details_women_only", language))
    where = item.city or item.country
    spoken = f" · 🗣️ {languages_label(item.languages)}" if item.languages else ""
    extra = f" ({', '.join(flags)})" if flags else ""
    return f"{item.title} · {item.provider}, {where}{spoken}{extra}"


def languages_label(codes: list[str]) -> str:
    """The languages an opportunity is offered in, as codes everyone reads: "IT, EN"."""
    return ", ".join(code.upper() for code in codes)


def result_list(result: SearchResult, start: int, language: str) -> str:
    """The numbered list of one page of results."""
    lines = [
        f"{start + index}. {headline(item, language)}" for index, item in enumerate(result.items)
    ]
    return "\n".join(lines)


def short_title(number: int, item: OpportunityView) -> str:
    """A button title for one result: its number and the start of its title."""
    title = f"{number}. {item.title}"
    return title if len(title) <= MAX_BUTTON_TITLE else title[: MAX_BUTTON_TITLE - 1] + "…"


def details(item: OpportunityView, vocab: Vocabulary, language: str) -> str:
    """Everything a young person needs to decide and apply, in a few lines."""
    lines = [f"{KIND_EMOJI.get(item.kind, '')} {item.title}", f"🏢 {item.provider}"]
    place = ", ".join(part for part in (item.city, item.region, item.country) if part)
    lines.append(f"📍 {place} · {text(f'mode.{item.mode}', language)}")
    dates = []
    if item.start_date:
        dates.append(text("details_starts", language, date=_date(item.start_date, language)))
    if item.end_date:
        dates.append(text("details_ends", language, date=_date(item.end_date, language)))
    if item.deadline:
        dates.append(text("details_deadline", language, date=_date(item.deadline, language)))
    if dates:
        lines.append("🗓️ " + ", ".join(dates))
    cost = (
        text("details_free", language)
        if item.is_free
        else text("details_cost", language, cost=f"{item.cost_eur:.2f}".removesuffix(".00"))
    )
    lines.append(f"💶 {cost}")
    who = []
    if item.min_age is not None and item.max_age is not None:
        who.append(text("details_ages", language, min=item.min_age, max=item.max_age))
    elif item.min_age is not None:
        who.append(text("details_age_min", language, min=item.min_age))
    elif item.max_age is not None:
        who.append(text("details_age_max", language, max=item.max_age))
    if item.women_only:
        who.append(text("details_women_only", language))
    if item.neet_only:
        who.append(text("details_neet_only", language))
    if who:
        lines.append("👥 " + ", ".join(who))
    if item.topics:
        lines.append("🏷️ " + topics_label(item.topics, vocab, language))
    if item.languages:
        label = languages_label(item.languages)
        lines.append("🗣️ " + text("details_languages", language, languages=label))
    if item.description:
        lines += ["", item.description]
    apply_lines = [value for value in (item.url, item.contact) if value]
    if apply_lines:
        lines += ["", text("details_how_to_apply", language), *apply_lines]
    return "\n".join(lines)
