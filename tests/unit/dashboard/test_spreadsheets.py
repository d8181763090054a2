"""CSV for the spreadsheets of Italy, Croatia or Romania: `?for=spreadsheet` gives semicolons
and a byte order mark; the catalogue import takes such a file back, semicolons and all."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from bot.db.session import session_factory
from bot.services.catalogue_csv import import_catalogue
from tests.conftest import catalogue_csv, opportunity_row
from tests.unit.dashboard.test_dashboard import app, settings, sign_in

__all__ = ["app", "settings"]  # fixtures


def test_exports_for_a_spreadsheet_have_semicolons_and_a_byte_order_mark(app: TestClient) -> None:
    database = str(app.app.state.settings.database_url)  # type: ignore[attr-defined]
    with session_factory(database).begin() as session:
        title = "Cuoco; pizzaiolo – corso “serale” a Napoli"
        assert import_catalogue(session, catalogue_csv(opportunity_row(title=title))).ok
    sign_in(app, "boss")
    plain = app.get("/admin/catalogue/export.csv")
    sheet = app.get("/admin/catalogue/export.csv?for=spreadsheet")
    assert not plain.text.startswith("\ufeff") and plain.text.split("\n")[0].count(",") > 5
    assert sheet.content.startswith("\ufeff".encode())
    assert "catalogue-spreadsheet.csv" in sheet.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig")), delimiter=";"))
    assert rows == list(csv.reader(io.StringIO(plain.text)))  # the same cells
    assert any(title in row for row in rows)
    # The file a spreadsheet saves back (semicolons, BOM) imports as it is
    with session_factory(database).begin() as session:
        report = import_catalogue(session, sheet.content.decode("utf-8"))
    assert report.ok, report.errors
    kpi = app.get("/figures/kpi.csv?for=spreadsheet")
    assert kpi.content.startswith("\ufeff".encode()) and "metric;breakdown;value" in kpi.text
    conversations = app.get("/conversations/export.csv?for=spreadsheet").text
    assert conversations.lstrip("\ufeff").startswith("conversation;name;registered;")
