"""Reach: outreach campaigns (admins create them; each has a deep link, a QR code as PNG and
SVG, and a printable poster in its language), and the follow-up interval setting. The funnel,
the check-ins' response rate and satisfaction are on the figures page (`figure_routes.py`)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from ruamel.yaml.comments import CommentedSeq
from sqlalchemy.orm import Session

from bot import languages
from bot.config import CONFIG_DIR
from bot.db.models import VENUES
from bot.messages import text
from bot.services import audit, campaigns, followups
from bot.services.campaigns import CampaignError, CampaignView
from bot.settings import SUPPORTED_LANGUAGES
from connectors.rasa.studio import yamlio
from dashboard.i18n import N_, _, say
from dashboard.pages import back, flash, render
from dashboard.security import ADMIN_FORM, Viewer, admin, db

router = APIRouter(prefix="/admin")
VENUE_LABELS = {  # translated where shown
    "school": N_("School"),
    "youth_centre": N_("Youth centre"),
    "pes_office": N_("Public employment service office"),
    "social_media": N_("Social media"),
    "poster": N_("Poster"),
    "other": N_("Other"),
}


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise CampaignError(
            "'%(value)s' is not a date (use the date picker).", value=value
        ) from None


def _campaign(session: Session, campaign_id: int) -> CampaignView:
    found = campaigns.get(session, campaign_id)
    if found is None:
        raise HTTPException(404, _("There is no such campaign."))
    return found


def _link(session: Session, campaign: CampaignView) -> str | None:
    username = campaigns.bot_username(session)
    return None if username is None else campaigns.deep_link(username, campaign.code)


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(
    request: Request, user: Viewer = Depends(admin), session: Session = Depends(db)
) -> Response:
    """Every campaign with its link and downloads, and a form to add one."""
    items = campaigns.all_campaigns(session)
    username = campaigns.bot_username(session)
    links = {
        item.id: campaigns.deep_link(username, item.code) if username else None for item in items
    }
    return render(
        request, "campaigns.html", user, campaigns=items, links=links,
        venues={key: _(label) for key, label in VENUE_LABELS.items()},
        languages={code: languages.self_name(code) for code in SUPPORTED_LANGUAGES},
        today=dt.date.today(), followup_days=followups.followup_days(),
    )  # fmt: skip


def parse_days(typed: str) -> list[int]:
    """Follow-up days as an admin types them ("30, 91, 182"); CampaignError when not."""
    parts = [part for part in typed.replace(";", ",").replace(" ", ",").split(",") if part]
    if not parts or len(parts) > 6 or not all(part.isdigit() for part in parts):
        raise CampaignError("Write one to six numbers of days, e.g. 30, 91, 182.")
    days = sorted({int(part) for part in parts})
    if days[0] < 1 or days[-1] > 3650:
        raise CampaignError("Each check-in comes 1 to 3650 days after registering.")
    return days


@router.post("/campaigns/followups", dependencies=ADMIN_FORM)
async def set_followup_days(
    request: Request,
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """When check-ins go out, in days after registering (config/privacy.yml; audited)."""
    form = await request.form()
    try:
        days = parse_days(str(form.get("days") or "")[:100])
    except CampaignError as error:
        flash(request, say(error), "error")
        return back("/admin/campaigns#followups")
    before = followups.followup_days()
    path = CONFIG_DIR / "privacy.yml"
    data = yamlio.load(path)
    listed = CommentedSeq(days)
    listed.fa.set_flow_style()
    data["followup_days"] = listed
    try:
        yamlio.write(path, data)
    except yamlio.StudioError as error:
        flash(request, say(error), "error")
        return back("/admin/campaigns#followups")
    audit.record(session, user.id, user.username, "followups.days", "followup_days", before, days)
    flash(
        request,
        _(
            "Check-ins now go out %(days)s days after registering.",
            days=", ".join(map(str, days)),
        ),
    )
    return back("/admin/campaigns#followups")


@router.post("/campaigns", dependencies=ADMIN_FORM)
def add_campaign(
    request: Request,
    name: Annotated[str, Form(max_length=300)] = "",
    partner: Annotated[str, Form(max_length=300)] = "",
    venue: Annotated[str, Form(max_length=40)] = "",
    language: Annotated[str, Form(max_length=8)] = "",
    starts_on: Annotated[str, Form(max_length=20)] = "",
    ends_on: Annotated[str, Form(max_length=20)] = "",
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """Create a campaign with a fresh code (audited)."""
    try:
        created = campaigns.create(
            session, name=name, partner=partner, venue=venue if venue in VENUES else "",
            language=language, starts_on=_date(starts_on), ends_on=_date(ends_on),
            by=user.username,
        )  # fmt: skip
    except CampaignError as error:
        flash(request, say(error), "error")
        return back("/admin/campaigns")
    audit.record(
        session, user.id, user.username, "campaign.create", created.code, None,
        {"name": created.name, "partner": created.partner, "venue": created.venue,
         "language": created.language},
    )  # fmt: skip
    flash(
        request,
        _(
            "Created the campaign '%(name)s': print its QR code or poster below.",
            name=created.name,
        ),
    )
    return back("/admin/campaigns")


def _qr(session: Session, campaign: CampaignView) -> segno.QRCode:
    link = _link(session, campaign)
    if link is None:
        raise HTTPException(
            409, _("The bot's Telegram name is not known yet: start the Telegram connector once.")
        )
    return segno.make(link, error="m")


@router.get("/campaigns/{campaign_id}/qr.png")
def qr_png(
    campaign_id: int, user: Viewer = Depends(admin), session: Session = Depends(db)
) -> Response:
    """The campaign's QR code as a PNG, large enough to print."""
    campaign = _campaign(session, campaign_id)
    buffer = io.BytesIO()
    _qr(session, campaign).save(buffer, kind="png", scale=12, border=4)
    return Response(
        buffer.getvalue(),
        media_type="image/png",
        headers={"Content-Disposition": f'attachment; filename="qr-{campaign.code}.png"'},
    )


@router.get("/campaigns/{campaign_id}/qr.svg")
def qr_svg(
    campaign_id: int, user: Viewer = Depends(admin), session: Session = Depends(db)
) -> Response:
    """The campaign's QR code as an SVG (scales to any print size)."""
    campaign = _campaign(session, campaign_id)
    buffer = io.BytesIO()
    _qr(session, campaign).save(buffer, kind="svg", scale=10, border=4, title=campaign.name)
    return Response(
        buffer.getvalue(),
        media_type="image/svg+xml",
        headers={"Content-Disposition": f'attachment; filename="qr-{campaign.code}.svg"'},
    )


@router.get("/campaigns/{campaign_id}/poster", response_class=HTMLResponse)
def poster(
    campaign_id: int,
    request: Request,
    user: Viewer = Depends(admin),
    session: Session = Depends(db),
) -> Response:
    """A one-page poster in the campaign's language, ready to print (A4)."""
    campaign = _campaign(session, campaign_id)
    qr = _qr(session, campaign)
    svg = qr.svg_inline(scale=8, border=2, title=campaign.name)
    code = campaign.language
    return render(
        request, "poster.html", user, campaign=campaign, link=_link(session, campaign),
        qr=Markup(svg),  # noqa: S704 - segno's own SVG; the title is escaped by segno
        words={key: text(f"poster.{key}", code) for key in ("title", "body", "scan", "or_open")},
        language=code, rtl=languages.get(code).rtl,
    )  # fmt: skip
