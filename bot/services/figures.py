"""The figures funders ask for: reach, registrations, languages, questions, failures, handoffs
and outcomes over a period; and the KPI export (CSV) for their reports."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.csvsafe import csv_row
from bot.db.models import (
    Campaign,
    CampaignStart,
    Conversation,
    DetailsViewed,
    Handoff,
    Outcome,
    Person,
)
from bot.services import followups, plans
from bot.services.conversations import NOT_UNDERSTOOD, aware
from bot.services.events import EventLog

AGE_BANDS = ((15, 17), (18, 24), (25, 29))


@dataclass(frozen=True)
class Period:
    """From `start` to `end`, both days included."""

    start: dt.date
    end: dt.date

    @classmethod
    def last_days(cls, days: int, today: dt.date | None = None) -> Period:
        """The `days` days up to and including today."""
        end = today or dt.datetime.now(dt.UTC).date()
        return cls(end - dt.timedelta(days=days - 1), end)

    @property
    def days(self) -> list[dt.date]:
        """Every day of the period."""
        count = (self.end - self.start).days + 1
        return [self.start + dt.timedelta(days=offset) for offset in range(max(count, 0))]

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The period as [start, end) instants in UTC."""
        start = dt.datetime.combine(self.start, dt.time(), dt.UTC)
        return start, dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), dt.UTC)


# What a young person says along the way, not a question they ask: left out of "top questions"
NOT_QUESTIONS = frozenset(
    {
        "greet", "goodbye", "affirm", "deny", "thank", "bot_challenge", "inform",
        "consent_accept", "consent_decline", *NOT_UNDERSTOOD,
    }
)  # fmt: skip


@dataclass
class Figures:
    """Everything on the figures page."""

    period: Period
    conversations_per_day: dict[dt.date, int] = field(default_factory=dict)
    active_people_per_day: dict[dt.date, int] = field(default_factory=dict)
    registrations_per_day: dict[dt.date, int] = field(default_factory=dict)
    people_reached: int = 0
    messages: int = 0
    fallback_messages: int = 0
    languages: Counter[str] = field(default_factory=Counter)
    top_intents: list[tuple[str, int]] = field(default_factory=list)
    handoffs: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def fallback_rate(self) -> float:
        """The share of messages the assistant did not understand."""
        return self.fallback_messages / self.messages if self.messages else 0.0


def compute(session: Session, log: EventLog, period: Period) -> Figures:
    """The figures of `period` (conversation summaries must be synced first)."""
    figures = Figures(period)
    start, end = period.bounds()
    for day in period.days:
        figures.conversations_per_day[day] = 0
        figures.active_people_per_day[day] = 0
        figures.registrations_per_day[day] = 0
    for (started,) in session.execute(
        select(Conversation.started_at).where(
            Conversation.started_at >= start, Conversation.started_at < end
        )
    ):
        day = aware(started).date()
        figures.conversations_per_day[day] = figures.conversations_per_day.get(day, 0) + 1
    for registered in session.scalars(
        select(Person.registered_at).where(
            Person.registered_at >= start, Person.registered_at < end
        )
    ):
        if registered is None:
            continue
        day = aware(registered).date()
        figures.registrations_per_day[day] = figures.registrations_per_day.get(day, 0) + 1
    figures.languages = Counter(
        {
            str(language): int(count)
            for language, count in session.execute(
                select(Conversation.language, func.count())
                .where(Conversation.last_at >= start, Conversation.started_at < end)
                .where(Conversation.language.is_not(None))
                .group_by(Conversation.language)
            )
        }
    )
    _from_log(figures, log, start, end)
    figures.handoffs = Counter(
        dict(
            session.execute(
                select(Handoff.reason, func.count())
                .where(Handoff.requested_at >= start, Handoff.requested_at < end)
                .group_by(Handoff.reason)
            ).all()
        )
    )
    taken = session.scalar(
        select(func.count(Handoff.id)).where(
            Handoff.requested_at >= start,
            Handoff.requested_at < end,
            Handoff.taken_at.is_not(None),
        )
    )
    figures.handoffs["taken by a coach"] = taken or 0
    figures.outcomes = Counter(
        dict(
            session.execute(
                select(Outcome.kind, func.count())
                .where(Outcome.date >= period.start, Outcome.date <= period.end)
                .group_by(Outcome.kind)
            ).all()
        )
    )
    return figures


def _from_log(figures: Figures, log: EventLog, start: dt.datetime, end: dt.datetime) -> None:
    activity = log.activity(start, end)
    figures.active_people_per_day.update(activity.people_per_day)
    figures.people_reached = activity.people
    figures.messages = activity.messages
    figures.fallback_messages = sum(activity.intents.get(name, 0) for name in NOT_UNDERSTOOD)
    figures.top_intents = [
        (name, count) for name, count in activity.intents.items() if name not in NOT_QUESTIONS
    ][:10]


def age_band(age: int | None) -> str:
    """The reporting band of an age."""
    if age is None:
        return "not given"
    for low, high in AGE_BANDS:
        if low <= age <= high:
            return f"{low}-{high}"
    return "other"


def _average(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _reached_by_gender(
    session: Session, reached: int, start: dt.datetime, end: dt.datetime
) -> list[tuple[str, str, object]]:
    """People reached by gender: known only for those who answered the optional question."""
    active = select(Conversation.sender_id).where(
        Conversation.last_at >= start, Conversation.started_at < end
    )
    known = Counter(
        str(gender)
        for gender in session.scalars(
            select(Person.gender).where(Person.sender_id.in_(active), Person.gender.is_not(None))
        )
    )
    rows: list[tuple[str, str, object]] = [
        ("people_reached", f"gender={gender}", count) for gender, count in sorted(known.items())
    ]
    rows.append(("people_reached", "gender=not answered", max(reached - sum(known.values()), 0)))
    return rows


def _by_campaign(
    session: Session, period: Period, registered: list[Person]
) -> list[tuple[str, str, object]]:
    """Conversations started by each campaign's link, and registrations, per campaign and
    partner (people who came by no campaign: "none")."""
    names = {
        campaign_id: (name, partner)
        for campaign_id, name, partner in session.execute(
            select(Campaign.id, Campaign.name, Campaign.partner)
        )
    }
    rows: list[tuple[str, str, object]] = []
    started: Counter[int] = Counter(
        {
            int(campaign_id): int(total or 0)
            for campaign_id, total in session.execute(
                select(CampaignStart.campaign_id, func.sum(CampaignStart.count))
                .where(CampaignStart.day >= period.start, CampaignStart.day <= period.end)
                .group_by(CampaignStart.campaign_id)
            )
        }
    )
    by_partner: Counter[str] = Counter()
    for campaign_id, count in sorted(started.items()):
        name, partner = names[campaign_id]
        rows.append(("campaign_starts", f"campaign={name}", count))
        by_partner[partner] += count
    for partner, count in sorted(by_partner.items()):
        rows.append(("campaign_starts", f"partner={partner}", count))
    per_campaign = Counter(
        names[p.campaign_id][0] if p.campaign_id in names else "none" for p in registered
    )
    for name, count in sorted(per_campaign.items()):
        rows.append(("registered", f"campaign={name}", count))
    per_partner = Counter(
        names[p.campaign_id][1] if p.campaign_id in names else "none" for p in registered
    )
    for partner, count in sorted(per_partner.items()):
        rows.append(("registered", f"partner={partner}", count))
    return rows


def _outcome_breakdowns(session: Session, period: Period) -> list[tuple[str, str, object]]:
    """Outcomes of the period by source (self-reported or recorded by a coach), and the people
    trained and placed, by gender and by campaign."""
    rows: list[tuple[str, str, object]] = []
    found = session.execute(
        select(Outcome.kind, Outcome.source, Person.gender, Campaign.name, Person.id)
        .join(Person, Outcome.person_id == Person.id)
        .join(Campaign, Person.campaign_id == Campaign.id, isouter=True)
        .where(Outcome.date >= period.start, Outcome.date <= period.end)
    ).all()
    sources = Counter(f"kind={kind},source={source}" for kind, source, _, _, _ in found)
    for key, count in sorted(sources.items()):
        rows.append(("outcomes", key, count))
    for kind, label in (("training", "trained"), ("job", "placed")):
        # People, not outcomes: someone placed twice in the period is one person placed.
        who = {person: (gender, name) for k, _, gender, name, person in found if k == kind}
        rows.append((label, "people", len(who)))
        genders = Counter(gender or "not answered" for gender, _ in who.values())
        for gender, count in sorted(genders.items()):
            rows.append((label, f"gender={gender}", count))
        campaigns = Counter(name or "none" for _, name in who.values())
        for name, count in sorted(campaigns.items()):
            rows.append((label, f"campaign={name}", count))
    return rows


def kpi_csv(session: Session, log: EventLog, period: Period) -> str:
    """The KPI export: one row per figure (metric, breakdown, value) for `period`."""
    figures = compute(session, log, period)
    start, end = period.bounds()
    rows: list[tuple[str, str, object]] = [
        ("period_start", "", period.start.isoformat()),
        ("period_end", "", period.end.isoformat()),
        ("people_reached", "", figures.people_reached),
        ("messages_received", "", figures.messages),
        ("messages_not_understood", "", figures.fallback_messages),
    ]
    for language, count in sorted(figures.languages.items()):
        rows.append(("people_reached", f"language={language}", count))
    registered = list(
        session.scalars(
            select(Person).where(Person.registered_at >= start, Person.registered_at < end)
        )
    )
    rows.append(("registered", "", len(registered)))
    for country, count in sorted(Counter(p.country or "not given" for p in registered).items()):
        rows.append(("registered", f"country={country}", count))
    for band, count in sorted(Counter(age_band(p.age) for p in registered).items()):
        rows.append(("registered", f"age_band={band}", count))
    # Gender is an optional question: what was not answered is said so, never guessed.
    for gender, count in sorted(Counter(p.gender or "not answered" for p in registered).items()):
        rows.append(("registered", f"gender={gender}", count))
    rows.extend(_reached_by_gender(session, figures.people_reached, start, end))
    rows.extend(_by_campaign(session, period, registered))
    for kind in ("training", "job"):
        views = select(DetailsViewed).where(
            DetailsViewed.kind == kind,
            DetailsViewed.viewed_at >= start,
            DetailsViewed.viewed_at < end,
        )
        total = session.scalar(select(func.count()).select_from(views.subquery())) or 0
        people = session.scalar(
            select(func.count(DetailsViewed.sender_id.distinct())).where(
                DetailsViewed.kind == kind,
                DetailsViewed.viewed_at >= start,
                DetailsViewed.viewed_at < end,
            )
        )
        rows.append((f"{kind}s_viewed", "", total))
        rows.append((f"{kind}s_viewed", "distinct_people", people or 0))
    for kind, count in sorted(figures.outcomes.items()):
        rows.append(("outcomes", f"kind={kind}", count))
    rows.append(("outcomes", "", sum(figures.outcomes.values())))
    rows.extend(_outcome_breakdowns(session, period))
    answered = followups.response_rate(session, start, end)
    rows.append(("checkins_sent", "", answered.sent))
    rows.append(("checkins_answered", "", answered.answered))
    rows.append(("checkins_response_rate", "", f"{answered.rate:.3f}"))
    rows.append(("assistant_helpful_1_to_5", "average", _average(answered.helpful_average)))
    overall, per_coach = followups.satisfaction(session, start, end)
    rows.append(("coach_satisfaction_1_to_5", "answers", overall.count))
    rows.append(("coach_satisfaction_1_to_5", "average", _average(overall.average)))
    for reason, count in sorted(figures.handoffs.items()):
        rows.append(("coach_handoffs", reason, count))
    # Appointments that were to take place in the period: kept, missed, and the rest by state.
    appointments = plans.appointment_counts(session, start, end)
    rows.append(("appointments_kept", "", appointments["attended"]))
    rows.append(("appointments_missed", "", appointments["missed"]))
    for status, count in sorted(appointments.items()):
        rows.append(("appointments", f"status={status}", count))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["metric", "breakdown", "value"])
    # A breakdown is stored text (a handoff's reason, a country): never a formula for Excel.
    writer.writerows(csv_row(row) for row in rows)
    return buffer.getvalue()
