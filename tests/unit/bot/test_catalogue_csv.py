"""CSV import and export: all or nothing, every bad row reported, round trip."""

from __future__ import annotations

import csv
import io

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Opportunity
from bot.services.catalogue_csv import COLUMNS, export_catalogue, import_catalogue
from bot.services.setup import SAMPLE_CATALOGUE
from tests.conftest import catalogue_csv, opportunity_row


def count(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(Opportunity)) or 0


def test_import_creates_opportunities_with_every_field(sessions: sessionmaker[Session]) -> None:
    text = catalogue_csv(opportunity_row(), opportunity_row(kind="job", title="Junior web dev"))
    with sessions.begin() as session:
        report = import_catalogue(session, text)
    assert report.ok and len(report.created) == 2 and report.updated == []
    with sessions.begin() as session:
        item = session.scalars(select(Opportunity).where(Opportunity.kind == "training")).one()
        assert item.title == "Web development bootcamp"
        assert item.topic_keys == ["digital"]
        assert item.city_norm == "split" and item.country == "HR"
        assert item.language_codes == ["hr", "en"]
        assert item.min_age == 18 and item.max_age == 29
        assert item.neet_only is True and item.women_only is False
        assert str(item.deadline) == opportunity_row()["deadline"]


def test_a_file_with_bad_rows_imports_nothing_and_reports_each(sessions) -> None:
    text = catalogue_csv(
        opportunity_row(),
        opportunity_row(title="Bad kind", kind="course"),
        opportunity_row(title="Bad date", start_date="2027-13-01"),
        opportunity_row(title="Bad topic", topics="digital;astrology"),
        opportunity_row(title="Bad flag", women_only="maybe"),
        opportunity_row(title="Ends first", start_date="2027-03-01", end_date="2027-02-01"),
        opportunity_row(title="Bad country", country="Croatia"),
        opportunity_row(title="Negative cost", cost_eur="-5"),
    )
    with sessions.begin() as session:
        report = import_catalogue(session, text)
    assert not report.ok and report.created == []
    lines = {error.line: error.reason for error in report.errors}
    assert sorted(lines) == [3, 4, 5, 6, 7, 8, 9]
    assert "kind" in lines[3]
    assert "start_date" in lines[4]
    assert "astrology" in lines[5]
    assert "true or false" in lines[6]
    assert "end_date is before start_date" in lines[7]
    assert "country" in lines[8]
    assert "cost_eur" in lines[9]
    assert count(sessions) == 0


def test_a_broken_row_leaves_existing_data_as_it_was(sessions) -> None:
    with sessions.begin() as session:
        assert import_catalogue(session, catalogue_csv(opportunity_row())).ok
    broken = catalogue_csv(opportunity_row(title="Changed title?"), {"kind": "job"})
    with sessions.begin() as session:
        report = import_catalogue(session, broken)
    assert not report.ok
    with sessions.begin() as session:
        titles = session.scalars(select(Opportunity.title)).all()
    assert titles == ["Web development bootcamp"]


def test_header_problems_are_reported_on_line_one(sessions) -> None:
    columns = tuple(name for name in COLUMNS if name != "country") + ("contry",)
    with sessions.begin() as session:
        report = import_catalogue(session, catalogue_csv(opportunity_row(), columns=columns))
    assert [error.line for error in report.errors] == [1]
    assert "missing column(s): country" in report.errors[0].reason
    assert "unknown column(s): contry" in report.errors[0].reason


def test_wrong_field_count_and_duplicates_are_reported(sessions) -> None:
    text = catalogue_csv(opportunity_row(), opportunity_row()) + "training,only,three\n"
    with sessions.begin() as session:
        report = import_catalogue(session, text)
    reasons = [str(error) for error in report.errors]
    assert reasons == ["line 3: same opportunity as line 2", "line 4: expected 20 fields, found 3"]


def test_line_numbers_count_multi_line_fields(sessions) -> None:
    text = catalogue_csv(
        opportunity_row(description="First line\nsecond line\nthird line"),
        opportunity_row(title="Broken", mode="teleport"),
    )
    with sessions.begin() as session:
        report = import_catalogue(session, text)
    assert [error.line for error in report.errors] == [5]


def test_reimport_updates_instead_of_duplicating(sessions) -> None:
    with sessions.begin() as session:
        first = import_catalogue(session, catalogue_csv(opportunity_row()))
    with sessions.begin() as session:
        again = import_catalogue(session, catalogue_csv(opportunity_row(cost_eur="120.50")))
    assert again.created == [] and again.updated == first.created
    with sessions.begin() as session:
        assert str(session.scalars(select(Opportunity.cost_eur)).one()) == "120.50"


def test_empty_and_header_only_files(sessions) -> None:
    with sessions.begin() as session:
        assert [str(e) for e in import_catalogue(session, "").errors] == [
            "line 1: the file is empty"
        ]
        header_only = import_catalogue(session, catalogue_csv())
    assert not header_only.ok and "no rows" in header_only.errors[0].reason


def test_export_round_trips_the_sample_catalogue(sessions) -> None:
    original = SAMPLE_CATALOGUE.read_text(encoding="utf-8")
    with sessions.begin() as session:
        report = import_catalogue(session, original)
        assert report.ok, report.errors[:3]
        exported = export_catalogue(session)
    assert exported.splitlines()[0] == ",".join(COLUMNS)
    assert len(exported.splitlines()) == len(report.created) + 1
    with sessions.begin() as session:
        again = import_catalogue(session, exported)
    assert again.ok and again.created == [] and len(again.updated) == len(report.created)


def test_a_country_code_must_name_a_country_and_semicolons_are_read(sessions) -> None:
    with sessions.begin() as session:
        wrong = import_catalogue(
            session, catalogue_csv(opportunity_row(country="XX"), opportunity_row(country="EU"))
        )
        assert [(error.line, error.reason) for error in wrong.errors] == [
            (2, "country: XX is not a country code: use two letters such as IT, HR or TN"),
            (3, "country: EU is not a country code: use two letters such as IT, HR or TN"),
        ]
        # What a spreadsheet in Italy writes: semicolons, a byte order mark
        text = catalogue_csv(opportunity_row(country="tn", title="Développeur; web"))
        rows = list(csv.reader(io.StringIO(text)))
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=";").writerows(rows)
        report = import_catalogue(session, "\ufeff" + buffer.getvalue())
        assert report.ok and len(report.created) == 1
