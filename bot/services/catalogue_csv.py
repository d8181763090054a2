"""Catalogue CSV import and export, with the contract's columns.

An import is all or nothing: every row is validated first, and a file with any bad row imports
nothing and reports each bad row with its line number and reason. Rows are matched to existing
opportunities by a natural key (kind, title, provider, city, start date), so importing the same
file twice updates instead of duplicating. The export quotes cells a spreadsheet would run as
formulas (bot.csvsafe); the import takes that one quote off again, so the two round-trip.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal

from babel import Locale
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.csvsafe import neutralise, restore_cell
from bot.db.models import Opportunity, OpportunityTopic, Topic
from bot.refusal import Refusal
from bot.settings import SUPPORTED_LANGUAGES
from bot.text import normalise

COLUMNS = (
    "kind", "title", "description", "provider", "topics", "city", "region", "country", "mode",
    "languages", "start_date", "end_date", "deadline", "cost_eur", "min_age", "max_age",
    "women_only", "neet_only", "url", "contact",
)  # fmt: skip
MAX_ROWS = 20_000


class CatalogueProblem(Refusal):
    """What is wrong with a value of the catalogue (a cell of the CSV, a field of the form) or
    with a line of the CSV, in plain words. The validators raise it, so that pydantic's error
    carries it (`ctx["error"]`) with its text and values for the dashboard to translate."""


def _empty_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


# Two-letter codes Babel (CLDR) knows that name no country: unknown, the EU, the UN, ...
_NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "UN", "QO"})


def _country(code: str) -> str:
    """A real country's ISO 3166 code (CLDR's list, through Babel), else a plain error."""
    if code in _NOT_COUNTRIES or code not in Locale("en").territories:
        raise CatalogueProblem(
            "%(code)s is not a country code: use two letters such as IT, HR or TN", code=code
        )
    return code


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    return value


def _required_number(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise CatalogueProblem("is required (0 for free)")
    return value


def _boolean(value: object) -> object:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise CatalogueProblem("must be true or false")
    return value


Optional = Annotated[str | None, BeforeValidator(_empty_to_none)]
OptionalDate = Annotated[dt.date | None, BeforeValidator(_empty_to_none)]
OptionalAge = Annotated[Annotated[int, Field(ge=0, le=120)] | None, BeforeValidator(_empty_to_none)]
Flag = Annotated[bool, BeforeValidator(_boolean)]
Text = Annotated[str, BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v)]


class CatalogueRow(BaseModel):
    """One row of the catalogue CSV, validated."""

    kind: Literal["training", "job"]
    title: Text = Field(min_length=1, max_length=200)
    description: Text = Field(default="", max_length=2000)
    provider: Text = Field(min_length=1, max_length=200)
    topics: Annotated[list[str], BeforeValidator(_split_list)] = Field(min_length=1)
    city: Text = Field(default="", max_length=120)
    region: Text = Field(default="", max_length=120)
    country: Annotated[
        str, BeforeValidator(lambda v: v.strip().upper()), AfterValidator(_country)
    ] = Field(pattern=r"^[A-Z]{2}$")
    mode: Literal["in_person", "online", "hybrid"]
    languages: Annotated[list[str], BeforeValidator(_split_list)] = Field(default_factory=list)
    start_date: OptionalDate = None
    end_date: OptionalDate = None
    deadline: OptionalDate = None
    cost_eur: Annotated[
        Decimal, BeforeValidator(_required_number), Field(ge=0, le=1_000_000, decimal_places=2)
    ]
    min_age: OptionalAge = None
    max_age: OptionalAge = None
    women_only: Flag = False
    neet_only: Flag = False
    url: Text = Field(default="", max_length=500)
    contact: Text = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> CatalogueRow:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise CatalogueProblem("end_date is before start_date")
        if self.min_age is not None and self.max_age is not None and self.max_age < self.min_age:
            raise CatalogueProblem("max_age is below min_age")
        if self.mode != "online" and not (self.city or self.region):
            raise CatalogueProblem("city or region is required unless mode is online")
        if self.url and not self.url.startswith(("https://", "http://")):
            raise CatalogueProblem("url must start with https:// or http://")
        bad = [code for code in self.languages if code not in _LANGUAGE_CODES]
        if bad:
            raise CatalogueProblem("unknown language code(s): %(codes)s", codes=", ".join(bad))
        return self

    @property
    def natural_key(self) -> str:
        """What identifies this opportunity across imports."""
        parts = (self.kind, self.title, self.provider, self.city, str(self.start_date or ""))
        return hashlib.sha256("|".join(normalise(p) for p in parts).encode()).hexdigest()[:40]


# ISO 639-1 codes an opportunity may be offered in: ours, plus the partner countries' others.
_LANGUAGE_CODES = frozenset(SUPPORTED_LANGUAGES) | {"ka", "mt", "lb", "tw", "ak", "ru", "pt"}


@dataclass(frozen=True)
class RowError:
    """Why one line of the file was refused: `problem` in plain words, about one `column` (a
    cell) or, without one, the line as a whole. `str()` is the English: "line 3: country: XX is
    not a country code: ..."; `text` and `values` are the problem's, for a translation."""

    line: int
    problem: CatalogueProblem
    column: str = ""

    @property
    def text(self) -> str:
        """The problem's English, with its named places (`%(name)s`)."""
        return self.problem.text

    @property
    def values(self) -> dict[str, Any]:
        """What goes into the problem's places."""
        return self.problem.values

    @property
    def reason(self) -> str:
        """The problem in English, after its column: "country: XX is not a country code ..."."""
        return f"{self.column}: {self.problem}" if self.column else str(self.problem)

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did, or why it did nothing."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file was imported."""
        return not self.errors


_KINDS = "'training' or 'job'"
_MODES = "'in_person', 'online' or 'hybrid'"


def _problem(item: ErrorDetails) -> CatalogueProblem:
    """One of pydantic's errors as a sentence with places, in pydantic's own English (which the
    CSV's users know from the contract); the validators' own problems as they are."""
    kind, ctx = item["type"], item.get("ctx") or {}
    if isinstance(ctx.get("error"), CatalogueProblem):
        found: CatalogueProblem = ctx["error"]
        return found
    if kind == "missing":
        return CatalogueProblem("Field required")
    if kind == "literal_error" and ctx.get("expected") == _KINDS:
        return CatalogueProblem("Input should be 'training' or 'job'")
    if kind == "literal_error" and ctx.get("expected") == _MODES:
        return CatalogueProblem("Input should be 'in_person', 'online' or 'hybrid'")
    if kind == "literal_error":
        return CatalogueProblem("Input should be %(expected)s", expected=ctx.get("expected"))
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return CatalogueProblem("String should have at least 1 character")
    if kind == "string_too_long":
        return CatalogueProblem(
            "String should have at most %(max)s characters", max=ctx.get("max_length")
        )
    if kind == "too_short" and ctx.get("min_length") == 1:
        return CatalogueProblem(
            "List should have at least 1 item after validation, not %(count)s",
            count=ctx.get("actual_length"),
        )
    if kind == "string_pattern_mismatch":
        return CatalogueProblem(
            "String should match pattern '%(pattern)s'", pattern=ctx.get("pattern")
        )
    if kind == "date_from_datetime_parsing":
        # Translators: the detail after the comma is the date parser's, in English
        return CatalogueProblem(
            "Input should be a valid date or datetime, %(detail)s", detail=ctx.get("error")
        )
    if kind == "date_from_datetime_inexact":
        return CatalogueProblem(
            "Datetimes provided to dates should have zero time - e.g. be exact dates"
        )
    if kind == "greater_than_equal":
        return CatalogueProblem(
            "Input should be greater than or equal to %(limit)s", limit=ctx.get("ge")
        )
    if kind == "less_than_equal":
        return CatalogueProblem(
            "Input should be less than or equal to %(limit)s", limit=ctx.get("le")
        )
    if kind == "decimal_parsing":
        return CatalogueProblem("Input should be a valid decimal")
    if kind == "decimal_max_places":
        return CatalogueProblem(
            "Decimal input should have no more than %(places)s decimal places",
            places=ctx.get("decimal_places"),
        )
    if kind == "finite_number":
        return CatalogueProblem("Input should be a finite number")
    if kind == "int_parsing":
        return CatalogueProblem(
            "Input should be a valid integer, unable to parse string as an integer"
        )
    # Translators: what follows "not valid" is the validator's message, in English
    return CatalogueProblem("not valid (%(detail)s)", detail=item["msg"])


def problems(error: ValidationError) -> list[tuple[str, CatalogueProblem]]:
    """Each problem of a row, with its column ("" for the row as a whole)."""
    return [
        (".".join(str(part) for part in item["loc"]), _problem(item)) for item in error.errors()
    ]


def delimiter_of(text: str) -> str:
    """The file's separator: a comma, or the semicolon the spreadsheets of Italy, Croatia,
    Romania and much of Europe write (judged from the header line, whose names hold neither)."""
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def _unreadable(error: csv.Error) -> CatalogueProblem:
    # Translators: the detail is Python's csv module's, in English
    return CatalogueProblem("unreadable CSV: %(detail)s", detail=str(error))


def _header_errors(header: list[str]) -> list[RowError]:
    """What is wrong with the header line: missing and unknown columns, a column twice."""
    missing = ", ".join(name for name in COLUMNS if name not in header)
    unknown = ", ".join(name for name in header if name not in COLUMNS)
    found: list[RowError] = []
    if missing and unknown:
        found.append(
            RowError(
                1,
                CatalogueProblem(
                    "missing column(s): %(missing)s; unknown column(s): %(unknown)s",
                    missing=missing,
                    unknown=unknown,
                ),
            )
        )
    elif missing:
        found.append(
            RowError(1, CatalogueProblem("missing column(s): %(missing)s", missing=missing))
        )
    elif unknown:
        found.append(
            RowError(1, CatalogueProblem("unknown column(s): %(unknown)s", unknown=unknown))
        )
    if len(set(header)) != len(header):
        found.append(RowError(1, CatalogueProblem("a column appears twice")))
    return found


def parse_catalogue(text: str, known_topics: set[str]) -> tuple[list[CatalogueRow], list[RowError]]:
    """Validate a whole CSV document; return its rows and every error found (line numbers 1-based,
    the header being line 1)."""
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(text))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return [], [RowError(1, CatalogueProblem("the file is empty"))]
    except csv.Error as error:
        return [], [RowError(1, _unreadable(error))]
    header_errors = _header_errors(header)
    if header_errors:
        return [], header_errors

    rows: list[CatalogueRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    line = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            errors.append(RowError(line, _unreadable(error)))
            break
        row_line, line = line, reader.line_num + 1
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            errors.append(
                RowError(
                    row_line,
                    CatalogueProblem(
                        "expected %(expected)d fields, found %(found)d",
                        expected=len(header),
                        found=len(values),
                    ),
                )
            )
            continue
        # A title such as "- bullet" or "=1+1" was written "'- bullet" by the export.
        values = [restore_cell(value) for value in values]
        try:
            row = CatalogueRow.model_validate(dict(zip(header, values, strict=True)))
        except ValidationError as error:
            errors += [RowError(row_line, problem, column) for column, problem in problems(error)]
            continue
        unknown_topics = [key for key in row.topics if key not in known_topics]
        if unknown_topics:
            unknown_topic = CatalogueProblem(
                "unknown topic(s) %(topics)s", topics=", ".join(unknown_topics)
            )
            errors.append(RowError(row_line, unknown_topic, "topics"))
            continue
        if row.natural_key in seen:
            same = CatalogueProblem(
                "same opportunity as line %(first)d", first=seen[row.natural_key]
            )
            errors.append(RowError(row_line, same))
            continue
        seen[row.natural_key] = row_line
        rows.append(row)
        if len(rows) > MAX_ROWS:
            too_many = CatalogueProblem("more than %(limit)d rows; split the file", limit=MAX_ROWS)
            errors.append(RowError(row_line, too_many))
            break
    if not rows and not errors:
        errors.append(RowError(2, CatalogueProblem("the file has a header but no rows")))
    return rows, errors


def _apply(item: Opportunity, row: CatalogueRow) -> None:
    item.natural_key = row.natural_key
    item.kind = row.kind
    item.title = row.title
    item.description = row.description
    item.provider = row.provider
    item.city = row.city
    item.region = row.region
    item.country = row.country
    item.mode = row.mode
    item.languages = ";".join(row.languages)
    item.start_date = row.start_date
    item.end_date = row.end_date
    item.deadline = row.deadline
    item.cost_eur = row.cost_eur
    item.min_age = row.min_age
    item.max_age = row.max_age
    item.women_only = row.women_only
    item.neet_only = row.neet_only
    item.url = row.url
    item.contact = row.contact
    item.published = True
    item.city_norm = normalise(row.city)
    item.region_norm = normalise(row.region)
    item.search_text = " ".join(
        normalise(part)
        for part in (row.title, row.description, row.provider, row.city, row.region, row.country)
    )
    wanted = set(row.topics)
    item.topic_links = [link for link in item.topic_links if link.topic_key in wanted]
    have = {link.topic_key for link in item.topic_links}
    item.topic_links += [OpportunityTopic(topic_key=key) for key in row.topics if key not in have]


def import_catalogue(session: Session, text: str) -> ImportReport:
    """Import a CSV document into the catalogue in the caller's transaction, all or nothing.

    On any error nothing is written and the report lists every bad row.
    """
    known_topics = set(session.scalars(select(Topic.key)))
    rows, errors = parse_catalogue(text, known_topics)
    if errors:
        return ImportReport(errors=errors)
    existing = {
        item.natural_key: item
        for item in session.scalars(
            select(Opportunity).where(Opportunity.natural_key.in_([r.natural_key for r in rows]))
        )
    }
    report = ImportReport()
    fresh: list[Opportunity] = []
    for row in rows:
        item = existing.get(row.natural_key)
        if item is None:
            item = Opportunity()
            session.add(item)
            fresh.append(item)
        else:
            report.updated.append(item.id)
        _apply(item, row)
    session.flush()
    report.created = [item.id for item in fresh]
    return report


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return neutralise(str(value))


def export_catalogue(session: Session) -> str:
    """The whole catalogue as a CSV document with the contract's columns, ordered by id."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for item in session.scalars(select(Opportunity).order_by(Opportunity.id)):
        values = {name: getattr(item, name) for name in COLUMNS if name != "topics"}
        values["topics"] = ";".join(item.topic_keys)
        writer.writerow(_cell(values[name]) for name in COLUMNS)
    return buffer.getvalue()
