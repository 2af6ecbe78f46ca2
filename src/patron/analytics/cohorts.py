"""Cohort retention and the purchase counts behind the tracking plot.

A customer's cohort is the calendar month of their first purchase; ``period`` counts months
since it (0 = the first month). ``retention`` = customers of the cohort who bought in that
month / the cohort's size.
"""

from __future__ import annotations

from datetime import date

import ibis
import ibis.expr.types as ir

from patron.analytics.frames import FactsLike, as_facts
from patron.analytics.summary import purchase_days, unit_days


def cohort_retention(
    facts: FactsLike, *, end: date, start: date | None = None, days: ir.Table | None = None
) -> ir.Table:
    """cohort (date), period (months since), customers, active, retention (``days``: the
    period's ``purchase_days``, when already computed)."""
    facts = as_facts(facts)
    if days is None:
        days = purchase_days(facts, end=end, start=start)
    month = days.day.year() * 12 + days.day.month() - 1
    first = days.first_day.year() * 12 + days.first_day.month() - 1
    # cast: PostgreSQL's EXTRACT gives numeric
    marked = days.mutate(cohort=days.first_day.truncate("M"), period=(month - first).cast("int64"))
    active = marked.group_by(["cohort", "period"]).aggregate(active=marked.customer_id.nunique())
    sizes = active.filter(active.period == 0).select("cohort", customers=active.active)
    joined = active.join(sizes, "cohort")
    return joined.select(
        "cohort",
        "period",
        "customers",
        "active",
        # a float numerator: PostgreSQL divides integers as integers
        retention=joined.active.cast("float64") / joined.customers,
    ).order_by(["cohort", "period"])


def repeat_purchases_by_period(
    facts: FactsLike,
    *,
    end: date,
    origin: date,
    start: date | None = None,
    unit: str = "week",
    cohort_end: date | None = None,
    days: ir.Table | None = None,
) -> ir.Table:
    """period (whole units since ``origin``), repeat_purchases: repeat purchase days per period
    (the first purchase day of each customer left out) — the actual line of the tracking plot.
    With ``cohort_end``, only customers whose first purchase was on or before it count."""
    facts = as_facts(facts)
    if days is None:
        days = purchase_days(facts, end=end, start=start)
    repeat = days.filter(days.day > days.first_day)
    if cohort_end is not None:
        repeat = repeat.filter(repeat.first_day <= ibis.date(cohort_end))
    since = repeat.day.delta(ibis.date(origin), unit="day").cast("float64")
    periods = repeat.mutate(period=(since / unit_days(unit)).floor().cast("int64"))
    return periods.group_by("period").aggregate(repeat_purchases=periods.count()).order_by("period")
