"""The catalogue as admins edit it: one opportunity at a time (validated like a CSV row),
unpublishing, and an import previewed before it is committed."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from bot.db.models import ImportPreview, Opportunity, Topic
from bot.refusal import Refusal, Words
from bot.services.catalogue_csv import (
    COLUMNS,
    CatalogueProblem,
    CatalogueRow,
    RowError,
    _apply,
    _cell,
    parse_catalogue,
)
from bot.services.conversations import aware
from bot.services.people import now
from bot.text import normalise


class CatalogueError(Refusal):
    """An opportunity that cannot be saved, with the reason for the admin; `fields` says, in
    plain words, what is wrong with each field (for the form, next to the field; each a
    refusal the dashboard translates, its `str()` the English)."""

    def __init__(
        self, text: str = "", /, *, fields: dict[str, CatalogueProblem] | None = None, **values: Any
    ) -> None:
        super().__init__(text, **values)
        self.fields = fields or {}


def _plain(name: str, item: ErrorDetails) -> CatalogueProblem:
    """One of pydantic's errors in words an admin reads next to a field."""
    kind, ctx = item["type"], item.get("ctx") or {}
    if isinstance(ctx.get("error"), CatalogueProblem):  # a validator's own, such as a country
        own: CatalogueProblem = ctx["error"]
        return own
    if kind == "string_pattern_mismatch" and name == "country":
        return CatalogueProblem("Two letters of the country's code, such as IT, HR or TN.")
    if kind in ("missing", "string_too_short"):
        return CatalogueProblem("This is needed.")
    if kind == "too_short":
        return CatalogueProblem("Choose at least one.")
    if kind == "string_too_long":
        return CatalogueProblem("This is too long.")
    if kind == "int_parsing":
        return CatalogueProblem("Write a whole number, such as 18.")
    if kind in ("decimal_parsing", "finite_number"):
        return CatalogueProblem("Write a number, such as 0 or 120.50.")
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_from_datetime_inexact"):
        return CatalogueProblem("Write a date (the calendar gives one).")
    if kind == "literal_error":
        return CatalogueProblem("Choose one of the list.")
    if kind == "url_parsing":
        return CatalogueProblem("Write a web address starting with https://.")
    if kind == "greater_than_equal":
        return CatalogueProblem("Write %(limit)s or more.", limit=ctx.get("ge"))
    if kind == "less_than_equal":
        return CatalogueProblem("Write %(limit)s or less.", limit=ctx.get("le"))
    if kind == "decimal_max_places":
        return CatalogueProblem(
            "Write at most %(places)s decimal places, such as 120.50.",
            places=ctx.get("decimal_places"),
        )
    return CatalogueProblem("This is not valid.")


def plain_words(error: ValidationError) -> dict[str, CatalogueProblem]:
    """Field → what is wrong with it, in plain words (the validator's own where it is already
    ours, such as an unknown country); "form" for what is wrong with the whole."""
    found: dict[str, CatalogueProblem] = {}
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else "form"
        found.setdefault(name, _plain(name, item))
    return found


class Stale(CatalogueError):
    """Someone changed the opportunity since the admin opened it."""


def version(item: Opportunity) -> str:
    """What the edit form carries to detect a concurrent change."""
    return "|".join(_cell(getattr(item, name, None)) for name in COLUMNS if name != "topics") + (
        "|" + ";".join(item.topic_keys) + "|" + str(item.published)
    )


def get(session: Session, item_id: int) -> Opportunity | None:
    """One opportunity (published or not), or None."""
    return session.get(Opportunity, item_id)


def topic_keys(session: Session) -> list[str]:
    """The catalogue's topic keys, in order."""
    return list(session.scalars(select(Topic.key).order_by(Topic.key)))


def values_of(item: Opportunity) -> dict[str, str]:
    """The opportunity as the form's (and the CSV's) text values."""
    values = {name: _cell(getattr(item, name)) for name in COLUMNS if name != "topics"}
    values["topics"] = ";".join(item.topic_keys)
    return values


def _row(session: Session, values: dict[str, str]) -> CatalogueRow:
    try:
        row = CatalogueRow.model_validate({name: values.get(name, "") for name in COLUMNS})
    except ValidationError as error:
        raise CatalogueError(
            "Not saved: correct the fields marked below.", fields=plain_words(error)
        ) from None
    known = set(session.scalars(select(Topic.key)))
    unknown = [key for key in row.topics if key not in known]
    if unknown:
        listed = ", ".join(unknown)
        raise CatalogueError(
            "topics: unknown topic(s) %(topics)s",
            topics=listed,
            fields={"topics": CatalogueProblem("Unknown topic: %(topics)s.", topics=listed)},
        )
    return row


def create(session: Session, values: dict[str, str]) -> Opportunity:
    """A new published opportunity; refused if the same one exists already."""
    row = _row(session, values)
    if session.scalar(select(Opportunity.id).where(Opportunity.natural_key == row.natural_key)):
        raise CatalogueError(
            "This opportunity exists already (same kind, title, provider, city and start date)."
        )
    item = Opportunity()
    session.add(item)
    _apply(item, row)
    session.flush()
    return item


def update(session: Session, item_id: int, values: dict[str, str], expected: str) -> Opportunity:
    """Change an opportunity; refused if someone changed it since the form was opened."""
    item = session.get(Opportunity, item_id)
    if item is None:
        raise CatalogueError("There is no such opportunity.")
    if version(item) != expected:
        raise Stale(
            "Someone else changed this opportunity since you opened it. Nothing was saved: "
            "reload the page to see their change, then redo yours."
        )
    published = item.published
    row = _row(session, values)
    clash = session.scalar(
        select(Opportunity.id).where(
            Opportunity.natural_key == row.natural_key, Opportunity.id != item_id
        )
    )
    if clash:
        raise CatalogueError(
            "Another opportunity has the same kind, title, provider, city and start."
        )
    _apply(item, row)
    item.published = published
    session.flush()
    return item


def set_published(session: Session, item_id: int, published: bool) -> Opportunity:
    """Publish or unpublish (an unpublished one is never shown nor alerted)."""
    item = session.get(Opportunity, item_id)
    if item is None:
        raise CatalogueError("There is no such opportunity.")
    item.published = published
    return item


@dataclass
class Preview:
    """What an import would do, before it is done."""

    rows: list[CatalogueRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    # per row: "new", "no change", or the columns it changes
    changes: list[Words] = field(default_factory=list)


def _comparable(values: dict[str, object]) -> dict[str, str]:
    """Values as text, lists (topics, languages) in a set order, to compare two versions."""
    return {
        name: ";".join(sorted(value.split(";") if isinstance(value, str) else value))
        if name in ("topics", "languages") and isinstance(value, (str, list))
        else _cell(value)
        for name, value in values.items()
    }


def preview(session: Session, text: str) -> Preview:
    """Validate a CSV document and say what it would add and change, row by row (nothing is
    written)."""
    rows, errors = parse_catalogue(text, set(session.scalars(select(Topic.key))))
    result = Preview(rows, errors)
    if rows and not errors:
        keys = [row.natural_key for row in rows]
        existing = {
            item.natural_key: item
            for item in session.scalars(
                select(Opportunity).where(Opportunity.natural_key.in_(keys))
            )
        }
        for row in rows:
            item = existing.get(row.natural_key)
            if item is None:
                result.changes.append(Words("new"))
                continue
            stored = {name: getattr(item, name) for name in COLUMNS if name != "topics"}
            before = _comparable({**stored, "topics": item.topic_keys})
            after = _comparable({name: getattr(row, name) for name in COLUMNS})
            changed = [name for name in COLUMNS if before.get(name, "") != after.get(name, "")]
            result.changes.append(
                Words("changes %(columns)s", columns=", ".join(changed))
                if changed
                else Words("no change")
            )
        result.updated = len([key for key in keys if key in existing])
        result.new = len(keys) - result.updated
    return result


def listing(
    session: Session,
    query: str = "",
    kind: str = "",
    page: int = 1,
    per_page: int = 50,
    country: str = "",
    status: str = "",
) -> tuple[list[Opportunity], int]:
    """Opportunities for the admin list (unpublished too), newest first; of one kind, country
    or status (published or unpublished) if asked."""
    statement = select(Opportunity)
    if kind in ("training", "job"):
        statement = statement.where(Opportunity.kind == kind)
    if country:
        statement = statement.where(Opportunity.country == country.upper())
    if status in ("published", "unpublished"):
        statement = statement.where(Opportunity.published.is_(status == "published"))
    if normalise(query):
        words = normalise(query)
        statement = statement.where(
            or_(Opportunity.search_text.contains(words, autoescape=True),
                func.lower(Opportunity.title).contains(query.lower(), autoescape=True))
        )  # fmt: skip
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    items = list(
        session.scalars(
            statement.order_by(Opportunity.id.desc()).offset((page - 1) * per_page).limit(per_page)
        )
    )
    return items, total


def countries_in_use(session: Session) -> list[str]:
    """The countries of the catalogue, for the list's filter."""
    return list(
        session.scalars(select(Opportunity.country).distinct().order_by(Opportunity.country))
    )


def form_values(form: Any) -> dict[str, str]:
    """The contract's columns from a submitted form (topics as several checkboxes)."""
    values = {name: str(form.get(name) or "") for name in COLUMNS if name != "topics"}
    values["topics"] = ";".join(str(value) for value in form.getlist("topics"))
    return values


PREVIEW_KEPT = dt.timedelta(days=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def keep_preview(session: Session, user_id: int, text: str) -> str:
    """Keep a previewed CSV for its admin until they confirm it; returns the token that
    finds it again (any dashboard replica can). Previews older than a day are dropped."""
    moment = now()
    session.execute(delete(ImportPreview).where(ImportPreview.created_at < moment - PREVIEW_KEPT))
    token = secrets.token_urlsafe(16)
    session.add(ImportPreview(digest=_digest(token), user_id=user_id, text=text, created_at=moment))
    return token


def kept_preview(session: Session, user_id: int, token: str) -> str | None:
    """The CSV this admin previewed under `token` (None when unknown, another admin's, or
    older than a day)."""
    item = session.get(ImportPreview, _digest(token))
    if item is None or item.user_id != user_id:
        return None
    if aware(item.created_at) < now() - PREVIEW_KEPT:
        return None
    return item.text


def drop_preview(session: Session, token: str) -> None:
    """Forget a preview (imported)."""
    session.execute(delete(ImportPreview).where(ImportPreview.digest == _digest(token)))
