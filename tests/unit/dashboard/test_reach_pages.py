"""Campaigns, the funnel, the printable report and broadcasts through FastAPI's test client:
what an admin does and sees, and what is stored (audit included)."""

# ruff: noqa: F811 - the fixtures `app` and `settings` come from test_dashboard.py

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
from pathlib import Path

import numpy as np
import png
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.config import CONFIG_DIR
from bot.db.models import AuditEntry, Broadcast, BulkMessage, Person, User
from bot.db.session import session_factory
from bot.messages import text
from bot.services import broadcasts, campaigns, followups, people
from bot.settings import Settings
from dashboard import reach_routes
from tests.unit.dashboard.test_dashboard import (  # noqa: F401 - `app`, `settings`: fixtures
    app,
    csrf_of,
    settings,
    sign_in,
)

USERNAME = "neet_helper_bot"


def decode_png(data: bytes) -> str:
    """The text of the one QR code in a PNG (as a phone's camera would read it)."""
    width, height, rows, info = png.Reader(bytes=data).asDirect()
    planes, top = info["planes"], 2 ** info["bitdepth"] - 1
    pixels = np.array([list(row) for row in rows], dtype=np.uint16).reshape(height, width, planes)
    grey = (pixels[:, :, 0] * (255 // top)).astype(np.uint8)  # 1-bit black and white → 0..255
    found = zxingcpp.read_barcodes(np.ascontiguousarray(grey))
    assert len(found) == 1
    return found[0].text


def _db(settings: Settings):  # noqa: ANN202
    return session_factory(settings.database_url)


def _create(app: TestClient, **fields: str) -> str:
    data = {"name": "Spring 2027", "partner": "Comune di Napoli", "venue": "school",
            "language": "it", "starts_on": "", "ends_on": "", **fields}  # fmt: skip
    response = app.post(
        "/admin/campaigns", data={**data, "csrf_token": csrf_of(app, "/admin/campaigns")}
    )
    assert response.status_code == 200  # after the redirect
    return response.text


def test_an_admin_creates_a_campaign_and_prints_its_qr_code(
    app: TestClient, settings: Settings
) -> None:
    sign_in(app, "boss")
    _create(app)
    page = app.get("/admin/campaigns").text
    assert "Spring 2027" in page and "Known once the Telegram connector has started" in page
    with _db(settings).begin() as session:  # the connector read its name from getMe
        campaigns.remember_bot_username(session, USERNAME)
        (campaign,) = campaigns.all_campaigns(session)
    link = f"https://t.me/{USERNAME}?start={campaign.code}"
    assert re.fullmatch(r"spring-2027-[0-9a-f]{6}", campaign.code)
    assert link in app.get("/admin/campaigns").text
    qr = app.get(f"/admin/campaigns/{campaign.id}/qr.png")
    assert qr.headers["content-type"] == "image/png"
    assert decode_png(qr.content) == link
    svg = app.get(f"/admin/campaigns/{campaign.id}/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    poster = app.get(f"/admin/campaigns/{campaign.id}/poster").text
    assert text("poster.title", "it") in poster and link in poster and 'lang="it"' in poster
    with _db(settings).begin() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "campaign.create"))
        assert entry is not None and entry.username == "boss"


def test_a_campaign_with_a_bad_field_is_refused_in_plain_words(
    app: TestClient, settings: Settings
) -> None:
    sign_in(app, "boss")
    assert "Give the campaign a name." in _create(app, name="")
    assert "The end date is before the start date." in _create(
        app, starts_on="2027-05-01", ends_on="2027-04-01"
    )
    assert "Choose where it runs from the list." in _create(app, venue="the moon")
    with _db(settings).begin() as session:
        assert campaigns.all_campaigns(session) == []


def test_coaches_cannot_manage_campaigns_or_broadcasts(app: TestClient) -> None:
    sign_in(app, "coach1")
    for path in ("/admin/campaigns", "/admin/broadcasts"):
        assert app.get(path, follow_redirects=False).status_code == 403


def test_the_funnel_and_the_report(app: TestClient, settings: Settings) -> None:
    today = dt.date.today()
    with _db(settings).begin() as session:
        made = campaigns.create(session, name="=HYPERLINK(1)", partner="Youth centre Split",
                                venue="youth_centre", language="hr", starts_on=None,
                                ends_on=None, by="boss")  # fmt: skip
        for sender in ("s1", "s2", "s3"):
            campaigns.arrive(session, sender, made.code, today)
        people.give_consent(session, "s1")
        campaigns.attach(session, "s1", made.code, today)
    sign_in(app, "coach1")
    page = app.get("/figures").text
    assert "=HYPERLINK(1)" in page and 'data-step="started">3<' in page
    assert 'data-step="agreed">1<' in page
    rows = list(csv.reader(io.StringIO(app.get("/figures/funnel.csv").text)))
    assert rows[0] == ["level", "name", "partner", *campaigns.STEPS]
    assert rows[1][:5] == ["campaign", "'=HYPERLINK(1)", "Youth centre Split", "3", "1"]
    assert rows[2][:5] == ["partner", "Youth centre Split", "Youth centre Split", "3", "1"]
    report = app.get("/figures/report").text
    assert "young people reached" in report and "Youth centre Split" in report
    assert "campaign starts" in report


def _people(settings: Settings, count: int, **fields: object) -> None:
    with _db(settings).begin() as session:
        for number in range(count):
            person = people.give_consent(session, f"bc-{fields.get('language')}-{number}")
            person.telegram_chat_id = 9000 + number + (100 if fields.get("language") == "it" else 0)
            person.registered_at = people.now()
            person.followup_consent = True
            for name, value in fields.items():
                setattr(person, name, value)


def _broadcast_form(app: TestClient, **fields: str) -> dict[str, str]:
    token = csrf_of(app, "/admin/broadcasts")
    return {"title": "Summer courses", "registered": "any", "countries": "",
            "campaign_id": "", "registered_since": "", "csrf_token": token, **fields}  # fmt: skip


def test_a_broadcast_from_audience_to_cancel(app: TestClient, settings: Settings) -> None:
    _people(settings, 3, language="en", country="HR")
    _people(settings, 2, language="it", country="IT")
    with _db(settings).begin() as session:  # one who said no to being contacted
        person = people.give_consent(session, "said-no")
        person.telegram_chat_id, person.followup_consent, person.language = 77, False, "en"
    sign_in(app, "boss")
    page = app.post("/admin/broadcasts", data=_broadcast_form(app, action="audience")).text
    audience = re.search(r'id="audience">(.*?)</p>', page, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert "<strong>5</strong>" in audience and "English 3" in audience and "Italiano 2" in audience
    # Italian is missing: refused, and what was typed is still there
    page = app.post("/admin/broadcasts", data=_broadcast_form(
        app, action="save", text_en="New summer courses!")).text  # fmt: skip
    assert "missing: it (2 people)" in page and "New summer courses!" in page
    page = app.post("/admin/broadcasts", data=_broadcast_form(
        app, action="save", text_en="New summer courses!", text_it="Nuovi corsi estivi!",
        button1_url="https://example.org/summer", button1_label_en="See them",
        button1_label_it="Vedili")).text  # fmt: skip
    assert "It reaches 5 people" in page
    with _db(settings).begin() as session:
        (made,) = broadcasts.all_broadcasts(session)
        boss = session.scalar(select(User).where(User.username == "boss"))
        assert boss is not None
        code = broadcasts.link_code(
            "dashboard-test-key-0123456789abcdefgh", boss.id, dt.date.today()
        )
    token = csrf_of(app, f"/admin/broadcasts/{made.id}")
    # No Telegram linked yet: the test is refused with the way to link it
    page = app.post(
        f"/admin/broadcasts/{made.id}/test", data={"language": "it", "csrf_token": token}
    ).text
    assert "Link your Telegram account first" in page
    with _db(settings).begin() as session:
        assert broadcasts.link_chat(session, "wrong-secret", code, 555, dt.date.today()) is None
        assert broadcasts.link_chat(session, "dashboard-test-key-0123456789abcdefgh", code, 555,
                                    dt.date.today()) == "Boss"  # fmt: skip
    app.post(f"/admin/broadcasts/{made.id}/test", data={"language": "it", "csrf_token": token})
    with _db(settings).begin() as session:
        test = session.scalar(select(BulkMessage).where(BulkMessage.kind == broadcasts.TEST))
        assert test is not None and test.chat_id == 555 and "Nuovi corsi estivi!" in test.params
    app.post(f"/admin/broadcasts/{made.id}/schedule", data={"action": "now", "csrf_token": token})
    with _db(settings).begin() as session:
        assert broadcasts.start_due(session, people.now() + dt.timedelta(seconds=1)) == 5
        texts = sorted(json_text(row.params) for row in session.scalars(
            select(BulkMessage).where(BulkMessage.kind == broadcasts.KIND)))  # fmt: skip
    assert texts == ["New summer courses!"] * 3 + ["Nuovi corsi estivi!"] * 2
    progress = app.get(f"/admin/broadcasts/{made.id}/progress.json").json()
    assert progress["status"] == "sending" and progress["queued"] == 5 and progress["sent"] == 0
    app.post(f"/admin/broadcasts/{made.id}/cancel", data={"csrf_token": token})
    progress = app.get(f"/admin/broadcasts/{made.id}/progress.json").json()
    assert progress["status"] == "cancelled" and progress["cancelled"] == 5
    with _db(settings).begin() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == ["broadcast.create", "broadcast.test", "broadcast.schedule",
                           "broadcast.cancel"]  # fmt: skip
        assert session.scalar(select(Broadcast.status)) == "cancelled"
        assert session.scalar(select(Person).where(Person.sender_id == "said-no")) is not None


def json_text(params: str) -> str:
    import json

    return str(json.loads(params)["text"])


@pytest.mark.parametrize("registered", ["no"])
def test_an_audience_of_nobody_is_refused(
    app: TestClient, settings: Settings, registered: str
) -> None:
    _people(settings, 2, language="en")
    sign_in(app, "boss")
    page = app.post("/admin/broadcasts", data=_broadcast_form(
        app, action="save", registered=registered, text_en="Hi")).text  # fmt: skip
    assert "Nobody in this segment agreed to receive messages" in page


def test_admins_set_the_check_in_days(
    app: TestClient, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(CONFIG_DIR / "privacy.yml", config / "privacy.yml")
    monkeypatch.setattr(reach_routes, "CONFIG_DIR", config)
    monkeypatch.setattr(followups, "CONFIG_DIR", config)
    sign_in(app, "boss")
    token = csrf_of(app, "/admin/campaigns")
    page = app.post("/admin/campaigns/followups", data={"days": "1 month", "csrf_token": token})
    assert "Write one to six numbers of days" in page.text
    assert followups.followup_days() == [30, 91, 182]
    page = app.post("/admin/campaigns/followups", data={"days": "60; 14", "csrf_token": token})
    assert "14, 60 days after registering" in page.text
    assert followups.followup_days() == [14, 60]
    saved = (config / "privacy.yml").read_text()
    assert "followup_days: [14, 60]" in saved and "# Follow-up check-ins" in saved  # comments kept
    with _db(settings).begin() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "followups.days"))
        assert entry is not None and entry.before == "[30, 91, 182]" and entry.after == "[14, 60]"
