"""Outreach campaigns: a partner's deep link (`https://t.me/<bot>?start=<code>`), the anonymous
count of conversations it started, the campaign kept with a person's profile once they agree
to the data notice, and the funnel from arrival to outcome, per campaign and per partner.

Before consent nothing but a count per campaign and day is kept (`campaign_starts`). The code
a person arrived with also stays in their conversation (the `/start` message), so the consent
action can attach the campaign once they agree (`attach`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import secrets
import unicodedata
from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.csvsafe import csv_row
from bot.db.models import (
    VENUES,
    Campaign,
    CampaignStart,
    ChannelFact,
    Conversation,
    DetailsViewed,
    Handoff,
    Outcome,
    Person,
)
from bot.refusal import Refusal
from bot.services.people import get_person, now
from bot.settings import SUPPORTED_LANGUAGES

# Telegram's deep-link parameter: up to 64 of A-Z a-z 0-9 _ -; ours are lower case, ≤ 32.
CODE = re.compile(r"^[a-z0-9_-]{3,32}$")
# The funnel's steps, in order, and what each counts.
STEPS = ("started", "agreed", "registered", "searched", "opened", "coach", "outcome")
STEP_LABELS = {
    "started": "Started the chat",
    "agreed": "Agreed to the data notice",
    "registered": "Registered",
    "searched": "Searched",
    "opened": "Opened an offer",
    "coach": "Asked for a coach",
    "outcome": "Reported an outcome",
}
SEARCH_INTENTS = ("ask_trainings", "ask_jobs")


class CampaignError(Refusal):
    """A campaign that cannot be saved; the text says why, in plain words."""


@dataclass(frozen=True)
class CampaignView:
    """A campaign as pages and actions read it."""

    id: int
    code: str
    name: str
    partner: str
    venue: str
    language: str
    starts_on: dt.date | None
    ends_on: dt.date | None
    created_at: dt.datetime

    def running(self, today: dt.date) -> bool:
        """Whether its link counts arrivals on `today` (between its dates, both included)."""
        started = self.starts_on is None or self.starts_on <= today
        return started and (self.ends_on is None or today <= self.ends_on)


def _view(row: Campaign) -> CampaignView:
    return CampaignView(
        row.id, row.code, row.name, row.partner, row.venue, row.language,
        row.starts_on, row.ends_on, row.created_at,
    )  # fmt: skip


BOT_USERNAME = "telegram_username"


def remember_bot_username(session: Session, username: str) -> None:
    """The connector read the bot's username from Telegram (`getMe`): keep it for the links."""
    fact = session.get(ChannelFact, BOT_USERNAME)
    if fact is None:
        session.add(ChannelFact(name=BOT_USERNAME, value=username, updated_at=now()))
    elif fact.value != username:
        fact.value, fact.updated_at = username, now()


def bot_username(session: Session) -> str | None:
    """The bot's Telegram username, once the connector has started (None before)."""
    fact = session.get(ChannelFact, BOT_USERNAME)
    return None if fact is None else fact.value


def deep_link(bot_username: str, code: str) -> str:
    """The link that opens the bot with `/start <code>`."""
    return f"https://t.me/{quote(bot_username)}?start={quote(code)}"


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:20].strip("-")


def new_code(session: Session, name: str) -> str:
    """A code nobody has yet: the name's first letters and a random part (not guessable)."""
    while True:
        slug = _slug(name)
        code = f"{slug}-{secrets.token_hex(3)}" if slug else secrets.token_hex(4)
        if session.scalar(select(Campaign.id).where(Campaign.code == code)) is None:
            return code


def create(
    session: Session,
    *,
    name: str,
    partner: str,
    venue: str,
    language: str,
    starts_on: dt.date | None,
    ends_on: dt.date | None,
    by: str,
) -> CampaignView:
    """A new campaign with a fresh code; CampaignError with a plain reason when a field is
    wrong."""
    name, partner = name.strip(), partner.strip()
    if not name:
        raise CampaignError("Give the campaign a name.")
    if not partner:
        raise CampaignError("Say which partner organisation runs it.")
    if len(name) > 120 or len(partner) > 120:
        raise CampaignError("The name and the partner have at most 120 characters each.")
    if venue not in VENUES:
        raise CampaignError("Choose where it runs from the list.")
    if language not in SUPPORTED_LANGUAGES:
        raise CampaignError("Choose the campaign's language from the list.")
    if starts_on and ends_on and ends_on < starts_on:
        raise CampaignError("The end date is before the start date.")
    row = Campaign(
        code=new_code(session, name),
        name=name,
        partner=partner,
        venue=venue,
        language=language,
        starts_on=starts_on,
        ends_on=ends_on,
        created_at=now(),
        created_by=by,
    )
    session.add(row)
    session.flush()
    return _view(row)


def all_campaigns(session: Session) -> list[CampaignView]:
    """Every campaign, newest first."""
    return [_view(row) for row in session.scalars(select(Campaign).order_by(Campaign.id.desc()))]


def get(session: Session, campaign_id: int) -> CampaignView | None:
    """One campaign, if it exists."""
    row = session.get(Campaign, campaign_id)
    return None if row is None else _view(row)


def name_of(session: Session, campaign_id: int | None) -> str | None:
    """A campaign's name with its partner ("Spring 2027 (Comune di Napoli)"), if any."""
    campaign = None if campaign_id is None else session.get(Campaign, campaign_id)
    return None if campaign is None else f"{campaign.name} ({campaign.partner})"


def by_code(session: Session, code: str | None) -> CampaignView | None:
    """The campaign of a `/start` code, if it is one (any case, surrounding spaces ignored)."""
    code = (code or "").strip().lower()
    if not CODE.match(code):
        return None
    row = session.scalar(select(Campaign).where(Campaign.code == code))
    return None if row is None else _view(row)


def arrive(session: Session, sender_id: str, code: str | None, today: dt.date) -> bool:
    """Someone opened the bot by a campaign's link: count it (anonymously); when they already
    agreed to the data notice and came by no campaign yet, keep it with their profile. False
    for an unknown code or a campaign not running on `today` (they get the normal welcome)."""
    campaign = by_code(session, code)
    if campaign is None or not campaign.running(today):
        return False
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(CampaignStart).values(campaign_id=campaign.id, day=today, count=1)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["campaign_id", "day"],
            set_={"count": CampaignStart.count + 1},
        )
    )
    session.execute(
        update(Person)
        .where(Person.sender_id == sender_id, Person.campaign_id.is_(None))
        .values(campaign_id=campaign.id)
    )
    return True


def attach(session: Session, sender_id: str, code: str | None, arrived: dt.date) -> bool:
    """At consent: keep the campaign they arrived by (on `arrived`) with their profile, the
    first one, if it was running that day (as `arrive` counted it)."""
    campaign = by_code(session, code)
    person = get_person(session, sender_id)
    if campaign is None or person is None or person.campaign_id is not None:
        return False
    if not campaign.running(arrived):
        return False
    person.campaign_id = campaign.id
    session.flush()
    return True


@dataclass(frozen=True)
class FunnelRow:
    """The funnel of one campaign (or of one partner's campaigns together)."""

    label: str
    partner: str
    counts: dict[str, int]

    def share(self, step: str) -> float:
        """The step's count as a share of those who started (0 when nobody started)."""
        started = self.counts.get("started", 0)
        return self.counts.get(step, 0) / started if started else 0.0


def _step_counts(
    session: Session, start: dt.date | None, end: dt.date | None
) -> dict[int, Counter[str]]:
    """Per campaign id: how many reached each step. People are counted by when they agreed to
    the notice (within the period, if one is given); arrivals by their day."""
    counts: dict[int, Counter[str]] = {}
    arrivals = select(CampaignStart.campaign_id, func.sum(CampaignStart.count))
    if start is not None:
        arrivals = arrivals.where(CampaignStart.day >= start)
    if end is not None:
        arrivals = arrivals.where(CampaignStart.day <= end)
    for campaign_id, total in session.execute(arrivals.group_by(CampaignStart.campaign_id)):
        counts.setdefault(campaign_id, Counter())["started"] = int(total or 0)
    people = select(Person.id, Person.sender_id, Person.campaign_id, Person.registered_at).where(
        Person.campaign_id.is_not(None)
    )
    if start is not None:
        people = people.where(Person.consent_at >= dt.datetime.combine(start, dt.time(), dt.UTC))
    if end is not None:
        limit = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
        people = people.where(Person.consent_at < limit)
    rows = session.execute(people).all()
    if not rows:
        return counts
    senders = [row.sender_id for row in rows]
    searched = set(
        session.scalars(
            select(Conversation.sender_id).where(
                Conversation.sender_id.in_(senders),
                or_(*(Conversation.intents.like(f"% {name} %") for name in SEARCH_INTENTS)),
            )
        )
    )
    opened = set(
        session.scalars(
            select(DetailsViewed.sender_id).where(DetailsViewed.sender_id.in_(senders)).distinct()
        )
    )
    coach = set(
        session.scalars(select(Handoff.sender_id).where(Handoff.sender_id.in_(senders)).distinct())
    )
    outcome = set(
        session.scalars(
            select(Outcome.person_id)
            .where(Outcome.person_id.in_([row.id for row in rows]))
            .distinct()
        )
    )
    for row in rows:
        counter = counts.setdefault(row.campaign_id, Counter())
        counter["agreed"] += 1
        counter["registered"] += row.registered_at is not None
        counter["searched"] += row.sender_id in searched
        counter["opened"] += row.sender_id in opened
        counter["coach"] += row.sender_id in coach
        counter["outcome"] += row.id in outcome
    return counts


def funnel(
    session: Session, start: dt.date | None = None, end: dt.date | None = None
) -> tuple[list[FunnelRow], list[FunnelRow]]:
    """The funnel per campaign (newest first) and per partner (by name)."""
    counts = _step_counts(session, start, end)
    campaigns = all_campaigns(session)
    by_campaign = [
        FunnelRow(
            item.name,
            item.partner,
            {step: counts.get(item.id, Counter()).get(step, 0) for step in STEPS},
        )
        for item in campaigns
    ]
    partners: dict[str, Counter[str]] = {}
    for item in campaigns:
        partners.setdefault(item.partner, Counter()).update(counts.get(item.id, Counter()))
    by_partner = [
        FunnelRow(partner, partner, {step: total.get(step, 0) for step in STEPS})
        for partner, total in sorted(partners.items(), key=lambda pair: pair[0].lower())
    ]
    return by_campaign, by_partner


def funnel_csv(by_campaign: list[FunnelRow], by_partner: list[FunnelRow]) -> str:
    """The funnel as CSV: one row per campaign, then one per partner (all campaigns)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["level", "name", "partner", *STEPS])
    for level, rows in (("campaign", by_campaign), ("partner", by_partner)):
        for row in rows:
            # Names are typed by admins: never a formula for a spreadsheet.
            writer.writerow(
                csv_row((level, row.label, row.partner, *(row.counts[step] for step in STEPS)))
            )
    return buffer.getvalue()
