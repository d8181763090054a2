"""The figures' charts: whole numbers on count axes, a year drawn by weeks (not 366 bars), a pie
that shows its values, and every chart's figures as a table (its text alternative)."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

from bot.services.figures import Figures, Period
from dashboard.figure_routes import charts, spans

START = dt.date(2026, 1, 1)


def days(count: int) -> list[dt.date]:
    return [START + dt.timedelta(days=number) for number in range(count)]


def test_long_periods_are_drawn_by_week_or_month() -> None:
    assert spans(days(62))[0] == "day" and len(spans(days(62))[1]) == 62
    unit, weeks = spans(days(365))
    assert unit == "week" and len(weeks) == 53 and weeks[0][0] == "w/c 29 Dec"
    assert sum(len(group) for _, group in weeks) == 365
    unit, months = spans(days(400))
    assert unit == "month" and [label for label, _ in months][:2] == ["Jan 2026", "Feb 2026"]


def test_counts_have_whole_numbers_the_pie_its_values_and_each_chart_a_table() -> None:
    year = Figures(period=Period(START, START + dt.timedelta(days=364)))
    year.registrations_per_day = {START: 1, START + dt.timedelta(days=1): 1}  # one week: 2
    year.languages = Counter({"it": 7, "ar": 2})
    drawn, tables = charts(year)
    axis = re.findall(r'class="axis y[^"]*".*?</g>\s*</g>', str(drawn["registrations"]), re.S)
    ticks = re.findall(r"<text[^>]*>([^<]+)</text>", "".join(axis))
    assert ticks and all(re.fullmatch(r"\d+", tick) for tick in ticks), ticks  # never 0.2
    assert "it (7)" in str(drawn["languages"]) and "ar (2)" in str(drawn["languages"])
    assert tables["registrations"].headers == ["Week", "Registrations"]
    assert tables["registrations"].rows[0] == ["w/c 29 Dec", 2]
    assert len(tables["daily"].rows) == 53
    assert tables["languages"].rows == [["it", 7], ["ar", 2]]
