"""The dashboard in its reader's language: every text marked and translated into the ten
languages, the language chosen per account or taken from the browser, dates and numbers the
reader's way, Arabic right to left, the pages' scripts and the services' refusals too."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.db.models import User
from bot.db.session import session_factory
from bot.refusal import Number
from bot.services.plans import PlanError
from bot.services.saved_replies import SavedReplyError
from dashboard import i18n
from tests.unit.dashboard.test_dashboard import app, csrf_of, settings, sign_in

__all__ = ["app", "settings"]  # fixtures

ROOT = Path(__file__).resolve().parents[3]


def _messages_tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "dashboard_messages", ROOT / "scripts" / "dashboard_messages.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["dashboard_messages"] = module
    spec.loader.exec_module(module)
    return module


tool = _messages_tool()


def in_language(code: str, text: str, **values: object) -> str:
    reader = i18n._Reader(code)
    token = i18n._reader.set(reader)
    try:
        return i18n.gettext(text, **values)
    finally:
        i18n._reader.reset(token)


def test_every_text_of_the_templates_and_routes_is_marked_for_translation() -> None:
    bare = [
        f"{path.name}:{line}: {text}"
        for path in sorted((ROOT / "dashboard" / "templates").glob("*.html"))
        for line, text in tool.bare_texts(path)
    ] + [
        f"{path.name}:{line}: {text}"
        for path in sorted((ROOT / "dashboard").glob("*.py"))
        for line, text in tool.bare_python_texts(path)
    ]
    assert bare == [], "\n".join(bare[:40])


def test_the_check_of_marks_finds_a_bare_text(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        '{% block title %}{{ _("Fine") }}{% endblock %}\n<p>{{ _("Fine") }} {{ value }}</p>\n'
        '<button aria-label="Close it">×</button>\n<p>Left in English</p>\n'
        "<p>CSV · {{ n }}</p>\n"
    )
    assert tool.bare_texts(page) == [(3, 'aria-label="Close it"'), (4, "Left in English")]
    module = tmp_path / "routes.py"
    module.write_text('flash(request, _("Fine"))\nflash(request, f"Saved {name}.")\n')
    assert [line for line, _ in tool.bare_python_texts(module)] == [2]


def test_every_text_has_a_translation_in_each_of_the_nine_other_languages() -> None:
    template = tool.extract()
    assert len(template) > 300  # the pages, the routes, the refusals and the scripts
    problems = tool.problems(template)
    assert problems == [], f"{len(problems)} problems, e.g.:\n" + "\n".join(problems[:30])


def test_the_check_of_translations_finds_a_missing_one_and_a_wrong_place() -> None:
    from babel.messages.catalog import Catalog

    template = Catalog()
    template.add("A text no catalogue has, %(name)s.")
    template.add("Save")
    found = tool.problems(template)
    assert any("no entry for 'A text no catalogue has" in line for line in found)
    assert not any("'Save'" in line for line in found)
    hr = tool.read("hr")
    assert hr.get("Save") is not None and hr.get("Save").string


def test_the_check_refuses_a_translation_that_could_end_an_attribute(monkeypatch) -> None:
    from babel.messages.catalog import Catalog

    template = Catalog()
    template.add("Remove “%(step)s”")
    planted = Catalog(locale="ar")
    planted.add("Remove “%(step)s”", 'إزالة "%(step)s"')
    monkeypatch.setattr(tool, "read", lambda code: planted)
    found = tool.problems(template)
    assert found and all('the translation adds "' in line for line in found)


def test_the_browser_s_language_is_taken_among_the_ten() -> None:
    assert i18n.negotiate("hr-HR,hr;q=0.9,en-US;q=0.8,en;q=0.7") == "hr"
    assert i18n.negotiate("pt-BR, fr;q=0.4, ar;q=0.9") == "ar"
    assert i18n.negotiate("ja, zh;q=0.5") == "en"
    assert i18n.negotiate("") == "en"
    assert i18n.negotiate("de;q=abc, it;q=0.2") == "it"
    assert i18n.negotiate("fr;q=0, es;q=0.3") == "es"  # q=0: not French


def test_a_signed_out_page_speaks_the_browser_s_language(app: TestClient) -> None:
    croatian = app.get("/login", headers={"Accept-Language": "hr-HR,hr;q=0.9,en;q=0.5"}).text
    assert '<html lang="hr" dir="ltr">' in croatian
    sign_in_text = in_language("hr", "Sign in")
    assert sign_in_text != "Sign in" and sign_in_text in croatian
    arabic = app.get("/login", headers={"Accept-Language": "ar"}).text
    assert '<html lang="ar" dir="rtl">' in arabic and in_language("ar", "Sign in") in arabic
    english = app.get("/login").text
    assert '<html lang="en" dir="ltr">' in english and "Sign in" in english


def test_an_account_keeps_its_language_over_the_browser_s(app: TestClient) -> None:
    sign_in(app, "coach1")
    german = {"Accept-Language": "de"}
    assert '<html lang="de"' in app.get("/people", headers=german).text
    token = csrf_of(app, "/account")
    page = app.post(
        "/account/language", data={"csrf_token": token, "language": "it"}, headers=german
    ).text
    assert '<html lang="it"' in page
    assert in_language("it", "Saved: the dashboard now speaks this language.") in page
    people = app.get("/people", headers=german).text
    assert '<html lang="it"' in people and in_language("it", "People") in people
    # A language the dashboard does not have is refused, the choice stays
    refused = app.post(
        "/account/language", data={"csrf_token": token, "language": "xx"}, headers=german
    ).text
    assert in_language("it", "There is no dashboard in that language.") in refused
    with session_factory(str(app.app.state.settings.database_url)).begin() as session:  # type: ignore[attr-defined]
        row = session.scalar(select(User).where(User.username == "coach1"))
        assert row is not None and row.dashboard_language == "it"
    # Back to the browser's
    app.post("/account/language", data={"csrf_token": token, "language": ""})
    assert '<html lang="de"' in app.get("/people", headers=german).text


def test_errors_and_refusals_are_in_the_reader_s_language(app: TestClient) -> None:
    sign_in(app, "coach1")
    # Starlette's own 404 (no such page) and a service's refusal shown as an error page
    missing = app.get("/no-such-page", headers={"Accept-Language": "fr"})
    assert missing.status_code == 404
    assert in_language("fr", "Not Found") != "Not Found"
    assert in_language("fr", "Not Found") in missing.text and '<html lang="fr"' in missing.text
    nobody = app.get("/people/999999", headers={"Accept-Language": "es"})
    assert nobody.status_code == 404
    gone = "There is no such registered person (they may have left)."
    assert in_language("es", gone) != gone and in_language("es", gone) in nobody.text
    refusal = PlanError("A step has at most %(max)d characters; split it into two.", max=200)
    assert str(refusal) == "A step has at most 200 characters; split it into two."
    token = i18n._reader.set(i18n._Reader("ro"))
    try:
        said = i18n.say(refusal)
    finally:
        i18n._reader.reset(token)
    assert "200" in said and said != str(refusal)
    # A number is grouped the English way in str() and the reader's way on a page
    long = SavedReplyError("A saved reply has at most %(max)s characters.", max=Number(4096))
    assert str(long) == "A saved reply has at most 4,096 characters."
    token = i18n._reader.set(i18n._Reader("de"))
    try:
        assert "4.096" in i18n.say(long)
    finally:
        i18n._reader.reset(token)


def test_dates_and_numbers_are_written_the_reader_s_way() -> None:
    moment = dt.datetime(2026, 12, 3, 14, 5, tzinfo=dt.UTC)
    shown = {}
    for code in ("en", "it", "de", "ar"):
        token = i18n._reader.set(i18n._Reader(code))
        try:
            shown[code] = (i18n.when(moment), i18n.number(1234.5), i18n.day(moment.date()))
        finally:
            i18n._reader.reset(token)
    assert shown["en"] == ("Dec 3, 2026, 14:05", "1,234.5", "Dec 3, 2026")
    assert shown["it"][0].startswith("3 dic 2026") and shown["it"][1] == "1.234,5"
    assert shown["de"] == ("03.12.2026, 14:05", "1.234,5", "03.12.2026")
    assert "\u060c" in shown["ar"][0]  # the Arabic comma


def test_the_pages_scripts_get_their_texts_translated(app: TestClient) -> None:
    sign_in(app, "coach1")
    page = app.get("/people", headers={"Accept-Language": "lt"}).text
    block = re.search(r'<script type="application/json" id="texts">(.*?)</script>', page, re.S)
    assert block is not None
    import json

    texts = json.loads(block.group(1))
    assert texts.get("Sound on") == in_language("lt", "Sound on") != "Sound on"
    assert "/static/texts.js" in page


# Two numbers that each language writes with different plural forms (CLDR's rules).
UNLIKE = {"hr": (2, 5), "ro": (5, 20), "lt": (2, 10), "sl": (2, 5), "ar": (5, 11)}
PLURAL_FORMS = {"it": 2, "fr": 2, "es": 2, "de": 2, "hr": 3, "ro": 3, "lt": 3, "sl": 4, "ar": 6}


@pytest.mark.parametrize("code", sorted(PLURAL_FORMS))
def test_each_language_counts_with_its_own_plural_forms(code: str) -> None:
    catalog = tool.read(code)
    assert catalog.num_plurals == PLURAL_FORMS[code]
    entry = catalog.get(("%(num)d person.", "%(num)d people."))
    assert entry is not None and len(entry.string) == PLURAL_FORMS[code]
    token = i18n._reader.set(i18n._Reader(code))
    try:
        shown = {
            n: i18n.ngettext("%(num)d person.", "%(num)d people.", n) for n in (1, 2, 5, 10, 11, 20)
        }
    finally:
        i18n._reader.reset(token)
    assert "5" in shown[5] and shown[5] != "5 people."
    # The languages with more than two forms use them: two numbers of different forms differ
    if code in UNLIKE:
        first, second = UNLIKE[code]
        assert shown[first].replace(str(first), "") != shown[second].replace(str(second), "")
