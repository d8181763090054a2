"""The figures page (charts drawn on the server as SVG: no script, no CDN) and the KPI CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass

import pygal
from babel.dates import format_skeleton
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pygal.style import CleanStyle
from sqlalchemy.orm import Session

from bot.services import campaigns, conversations, figures, followups
from bot.services.figures import Period
from dashboard import i18n
from dashboard.i18n import N_, _
from dashboard.pages import csv_download, render
from dashboard.security import Events, Viewer, db, viewer

router = APIRouter()
MAX_DAYS = 366
# The words of the charts and their tables, per span of a bar (spans()), translated where drawn
UNIT_WORDS = {"day": N_("Day"), "week": N_("Week"), "month": N_("Month")}
DAILY_TITLES = {
    "day": N_("Conversations started and active people per day"),
    "week": N_("Conversations started and active people per week"),
    "month": N_("Conversations started and active people per month"),
}
REGISTRATION_TITLES = {
    "day": N_("Registrations per day"),
    "week": N_("Registrations per week"),
    "month": N_("Registrations per month"),
}
# Why a coach was asked for (Handoff.reason), and the handoffs taken (bot/services/figures.py)
HANDOFF_WORDS = {
    "request": N_("request"),
    "crisis": N_("crisis"),
    "taken by a coach": N_("taken by a coach"),
}
OUTCOME_WORDS = {"training": N_("training"), "job": N_("job"), "education": N_("education")}
# The funnel's steps (bot/services/campaigns.py STEP_LABELS), so that the catalogue has them
FUNNEL_STEPS = (
    N_("Started the chat"),
    N_("Agreed to the data notice"),
    N_("Registered"),
    N_("Searched"),
    N_("Opened an offer"),
    N_("Asked for a coach"),
    N_("Reported an outcome"),
)


def period_of(request: Request) -> Period:
    """The period from the query string (the last 30 days by default, at most a year)."""
    params = request.query_params
    try:
        end = dt.date.fromisoformat(params["to"]) if params.get("to") else None
        start = dt.date.fromisoformat(params["from"]) if params.get("from") else None
    except ValueError:
        start = end = None
    period = Period.last_days(30, end)
    if start is not None and start <= period.end:
        period = Period(max(start, period.end - dt.timedelta(days=MAX_DAYS - 1)), period.end)
    return period


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


def _svg(chart: pygal.graph.graph.Graph) -> Markup:
    # pygal's inline <script> only feeds its tooltips, which are not loaded (no CDN): drop it.
    svg = chart.render(is_unicode=True, disable_xml_declaration=True)
    return Markup(_SCRIPT.sub("", svg))  # noqa: S704 - pygal escapes the labels and values


# Labels a coach can read, also where the chart is drawn at half its width (a phone), in a
# sans-serif of the system as the pages use (pygal's monospace fonts have no Arabic letters).
STYLE = CleanStyle(
    font_family='system-ui, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif',
    title_font_size=20, label_font_size=15, major_label_font_size=15, legend_font_size=15,
    value_font_size=15, tooltip_font_size=14,
)  # fmt: skip


def _config(title: str, legend: bool = False) -> dict[str, object]:
    # js=[]: pygal would otherwise load its tooltip script from the internet.
    return {
        "title": title,
        "style": STYLE,
        "js": [],
        "height": 340,
        "show_legend": legend,
        "x_label_rotation": 45,
        "print_values": False,
        "explicit_size": False,
        "no_data_text": _("No data"),
    }


def _counts(chart: pygal.graph.graph.Graph, *series: list[int]) -> None:
    """Whole numbers on the value axis (counts: never 0.2 of a registration)."""
    if not any(series):
        chart.show_y_labels = False  # no data: pygal says so; an axis of 0.7, 0.9… would not
        return
    top = max([1, *(value for values in series for value in values)])
    step = max(1, -(-top // 5))
    chart.range = (0, step * -(-top // step))
    chart.y_labels = list(range(0, step * -(-top // step) + 1, step))


def step_labels() -> dict[str, str]:
    """The funnel's steps in the reader's language, in order."""
    return {step: _(label) for step, label in campaigns.STEP_LABELS.items()}


def _babel_locale() -> str:
    # English as the charts always wrote it, the day before the month: "29 Dec".
    code = i18n.current()
    return "en_GB" if code == i18n.DEFAULT else code


def _short_day(day: dt.date) -> str:
    return format_skeleton("dMMM", day, locale=_babel_locale())


def _month(day: dt.date) -> str:
    return format_skeleton("yMMM", day, locale=_babel_locale())


@dataclass(frozen=True)
class Table:
    """A chart's figures as a table: its text alternative."""

    headers: list[str]
    rows: list[list[object]]


def spans(days: list[dt.date]) -> tuple[str, list[tuple[str, list[dt.date]]]]:
    """The period's days grouped for a chart: by day up to two months, by week up to a year,
    else by month (a year is not 366 bars on top of each other)."""
    if len(days) <= 62:
        return "day", [(_short_day(day), [day]) for day in days]
    groups: dict[str, list[dt.date]] = {}
    for day in days:
        if len(days) <= 366:
            monday = day - dt.timedelta(days=day.weekday())
            # Translators: a week commencing on a day, under a bar of a chart ("w/c 29 Dec").
            label = _("w/c %(day)s", day=_short_day(monday))
        else:
            label = _month(day)
        groups.setdefault(label, []).append(day)
    return ("week" if len(days) <= 366 else "month"), list(groups.items())


def charts(result: figures.Figures) -> tuple[dict[str, Markup], dict[str, Table]]:
    """The page's charts, as inline SVG, and each one's figures as a table."""
    unit, groups = spans(result.period.days)
    labels = [label for label, _days in groups]

    def per(counts: dict[dt.date, int]) -> list[int]:
        return [sum(counts.get(day, 0) for day in group) for _label, group in groups]

    started, active = per(result.conversations_per_day), per(result.active_people_per_day)
    daily = pygal.Bar(**_config(_(DAILY_TITLES[unit]), legend=True))
    daily.x_labels = labels
    daily.x_labels_major_every = max(1, len(labels) // 10)
    daily.show_minor_x_labels = len(labels) <= 31
    daily.add(_("conversations"), started)
    daily.add(_("active people"), active)
    _counts(daily, started, active)
    registered = per(result.registrations_per_day)
    registrations = pygal.Bar(**_config(_(REGISTRATION_TITLES[unit])))
    registrations.x_labels = labels
    registrations.x_labels_major_every = max(1, len(labels) // 10)
    registrations.show_minor_x_labels = len(labels) <= 31
    registrations.add(_("registrations"), registered)
    _counts(registrations, registered)
    languages = pygal.Pie(**_config(_("Conversations by language"), legend=True))
    languages.print_values = True
    for code, count in result.languages.most_common():
        languages.add(f"{code} ({count})", count)
    intents = pygal.HorizontalBar(**_config(_("Top questions (intents)")))
    intents.x_labels = [name for name, _count in result.top_intents]
    asked = [count for _name, count in result.top_intents]
    intents.add(_("messages"), asked)
    _counts(intents, asked)
    handoff_words = [_(HANDOFF_WORDS.get(key, key)) for key in result.handoffs]
    handoffs = pygal.Bar(**_config(_("Coach handoffs")))
    handoffs.x_labels = handoff_words
    handoffs.add(_("handoffs"), list(result.handoffs.values()))
    _counts(handoffs, list(result.handoffs.values()))
    outcome_words = [_(OUTCOME_WORDS.get(key, key)) for key in result.outcomes]
    outcomes = pygal.Bar(**_config(_("Outcomes recorded")))
    outcomes.x_labels = outcome_words
    outcomes.add(_("outcomes"), list(result.outcomes.values()))
    _counts(outcomes, list(result.outcomes.values()))
    drawn = {
        "daily": _svg(daily),
        "registrations": _svg(registrations),
        "languages": _svg(languages),
        "intents": _svg(intents),
        "handoffs": _svg(handoffs),
        "outcomes": _svg(outcomes),
    }
    period_word = _(UNIT_WORDS[unit])
    tables = {
        "daily": Table(
            [period_word, _("Conversations"), _("Active people")],
            [[label, a, b] for label, a, b in zip(labels, started, active, strict=True)],
        ),
        "registrations": Table(
            [period_word, _("Registrations")],
            [[label, count] for label, count in zip(labels, registered, strict=True)],
        ),
        "languages": Table(
            [_("Language"), _("Conversations")],
            [list(pair) for pair in result.languages.most_common()],
        ),
        "intents": Table(
            [_("Question (intent)"), _("Messages")], [list(p) for p in result.top_intents]
        ),
        "handoffs": Table(
            [_("Handoffs"), _("Count")],
            [
                [word, count]
                for word, count in zip(handoff_words, result.handoffs.values(), strict=True)
            ],
        ),
        "outcomes": Table(
            [_("Outcome"), _("Count")],
            [
                [word, count]
                for word, count in zip(outcome_words, result.outcomes.values(), strict=True)
            ],
        ),
    }
    return drawn, tables


@router.get("/figures", response_class=HTMLResponse)
def figures_page(
    request: Request,
    log: Events,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """Reach, registrations, languages, questions, fallback rate, handoffs and outcomes."""
    conversations.sync(session, log)
    period = period_of(request)
    result = figures.compute(session, log, period)
    by_campaign, by_partner = campaigns.funnel(session, period.start, period.end)
    drawn, tables = charts(result)
    start, end = period.bounds()
    # Admins see every coach's satisfaction; a coach sees their own.
    overall, per_coach = followups.satisfaction(
        session, start, end, None if user.is_admin else user.id
    )
    return render(
        request, "figures.html", user, figures=result, charts=drawn, tables=tables,
        funnel=by_campaign, partners=by_partner, steps=step_labels(),
        funnel_chart=funnel_chart(by_partner), satisfaction=overall, per_coach=per_coach,
        followup=followups.response_rate(session, start, end),
    )  # fmt: skip


def funnel_chart(rows: list[campaigns.FunnelRow]) -> Markup:
    """The funnel per partner: one bar per step, one series per partner."""
    chart = pygal.Bar(**_config(_("Funnel per partner"), legend=True))
    labels = step_labels()
    chart.x_labels = [labels[step] for step in campaigns.STEPS]
    for row in rows:
        chart.add(row.label, [row.counts[step] for step in campaigns.STEPS])
    _counts(chart, *([row.counts[step] for step in campaigns.STEPS] for row in rows))
    return _svg(chart)


@router.get("/figures/report", response_class=HTMLResponse)
def report(
    request: Request,
    log: Events,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """A one-page report of the period for a funder's quarterly report: the key figures, the
    breakdowns and the charts, laid out for printing (A4)."""
    conversations.sync(session, log)
    period = period_of(request)
    result = figures.compute(session, log, period)
    rows = list(csv.reader(io.StringIO(figures.kpi_csv(session, log, period))))[1:]
    by_campaign, by_partner = campaigns.funnel(session, period.start, period.end)
    drawn, _tables = charts(result)
    return render(
        request, "report.html", user, figures=result, rows=rows, partners=by_partner,
        steps=step_labels(), funnel_chart=funnel_chart(by_partner),
        charts={name: drawn[name] for name in ("daily", "languages", "outcomes")},
    )  # fmt: skip


@router.get("/figures/funnel.csv")
def funnel_csv(
    request: Request,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """The funnel per campaign and per partner over the period (CSV)."""
    period = period_of(request)
    by_campaign, by_partner = campaigns.funnel(session, period.start, period.end)
    content = campaigns.funnel_csv(by_campaign, by_partner)
    name = f"funnel-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return csv_download(request, content, name)


@router.get("/figures/kpi.csv")
def kpi_csv(
    request: Request,
    log: Events,
    user: Viewer = Depends(viewer),
    session: Session = Depends(db),
) -> Response:
    """The KPI export for funders' reports (CSV: metric, breakdown, value)."""
    conversations.sync(session, log)
    period = period_of(request)
    content = figures.kpi_csv(session, log, period)
    name = f"kpi-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return csv_download(request, content, name)
