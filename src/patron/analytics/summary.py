"""Per-customer summary of purchases: the R, F, M and T every other analysis starts from.

Definitions (the CDNOW convention of Fader, Hardie & Lee, so the published values reproduce):

- A **purchase day** is a UTC calendar day with at least one sale line; several orders on one
  day are one purchase (transaction) for the models. ``frequency`` = purchase days − 1 (repeat
  purchases); ``recency`` = last − first purchase day and ``T`` = end of the period − first
  purchase day, both in the chosen time unit (``week`` = 7 days, ``month`` = 365.25 / 12
  days, ``day``, ``year`` = 365.25 days). The period's ``end`` is a day and counts in full.
- ``monetary`` is the average net value of the repeat purchase days (the first day left out;
  0 without repeats): the Gamma-Gamma model's input.
- Money is net: ``sales`` are the sale lines' amounts after line discounts; ``returns`` the
  refunds of returns and cancellations dated in the period; ``revenue`` = sales − returns.
  ``cost_of_goods`` is the cost of the goods kept: the sold goods' cost reduced by the share
  returned (``returns / sales``, capped at 1); lines without a cost count 0 and
  ``cost_known`` says which share of sales had one. ``margin`` = revenue − cost_of_goods.
- ``tenure_days`` and ``days_since_last`` are whole days from the first and the last purchase
  day to the end of the period.

A customer is in the summary when they bought in the period. All functions return Ibis
expressions: nothing runs until the caller executes them, on whatever backend holds the facts.
"""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import ibis.expr.types as ir

from patron.analytics.facts import Facts
from patron.analytics.frames import FactsLike, as_facts
from patron.errors import PatronError
from patron.units import MONEY_SCALE

UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "year": 365.25}


class InvalidPeriod(PatronError):
    code = "analytics.invalid_period"
    status = 422


def unit_days(unit: str) -> float:
    try:
        return UNIT_DAYS[unit]
    except KeyError:
        raise InvalidPeriod(
            f"unknown time unit {unit!r}: use one of {', '.join(UNIT_DAYS)}",
            details={"field": "time_unit", "value": unit},
        ) from None


def money_key(value: ir.NumericValue) -> ir.IntegerValue:
    """``value`` in whole 1/10,000 of the currency unit (the store's precision), to rank and
    compare money by. Each engine adds in its own order, so a sum may differ between engines in
    the last bits of its float; compared this way, equal sums are equal everywhere (and ties
    are broken the same way)."""
    return (value * 10**MONEY_SCALE + 0.5).floor()


def _within(facts: Facts, start: date | None, end: date) -> tuple[ir.Table, ir.Table]:
    """Lines and returns from ``start`` (inclusive) up to the end of the day ``end``."""
    until = ibis.timestamp(end + timedelta(days=1))
    lines = facts.lines.filter(facts.lines.placed_at < until)
    returns = facts.returns.filter(facts.returns.returned_at < until)
    if start is not None:
        since = ibis.timestamp(start)
        lines = lines.filter(lines.placed_at >= since)
        returns = returns.filter(returns.returned_at >= since)
    return lines, returns


def purchase_days(
    facts: FactsLike, *, end: date, start: date | None = None, first_day: bool = True
) -> ir.Table:
    """One row per customer and purchase day: value, cost, discount and orders of that day,
    and (unless ``first_day=False``, which spares a window) the customer's first purchase day
    (``first_day``)."""
    facts = as_facts(facts)
    lines, _ = _within(facts, start, end)
    days = lines.group_by(lines.customer_id, day=lines.placed_at.date()).aggregate(
        value=lines.amount.sum(),
        cost=lines.cost.fill_null(0).sum(),
        costed=lines.amount.sum(where=lines.cost.notnull()),
        discount=lines.discount.fill_null(0).sum(),
        orders=lines.order_id.nunique(),
    )
    if not first_day:
        return days
    return days.mutate(first_day=days.day.min().over(group_by=days.customer_id))


def summarise(
    facts: FactsLike,
    *,
    end: date,
    start: date | None = None,
    unit: str = "week",
    days: ir.Table | None = None,
) -> ir.Table:
    """The summary per customer who bought between ``start`` and ``end`` (see the module).

    ``days`` may hand in ``purchase_days`` of the same period, already computed (cached)."""
    facts = as_facts(facts)
    if start is not None and start > end:
        raise InvalidPeriod(
            f"the period starts {start} after it ends {end}",
            details={"field": "start", "start": str(start), "end": str(end)},
        )
    length = unit_days(unit)
    if days is None:
        days = purchase_days(facts, end=end, start=start, first_day=False)
    per_customer = days.group_by("customer_id").aggregate(
        first_purchase=days.day.min(),
        last_purchase=days.day.max(),
        purchase_days=days.count(),
        orders=days.orders.sum(),
        sales=days.value.sum(),
        # the first day's value, by the one row with the earliest day (no window needed)
        first_value=days.value.argmin(days.day),
        gross_cost=days.cost.sum(),
        costed=days.costed.sum(),
        discounts=days.discount.sum(),
    )
    _, returns = _within(facts, start, end)
    refunds = returns.group_by("customer_id").aggregate(
        returns=returns.amount.sum(), returned_items=returns.count()
    )
    joined = per_customer.left_join(refunds, "customer_id").select(
        per_customer, refunds.returns, refunds.returned_items
    )
    s = joined.mutate(
        returns=joined.returns.fill_null(0.0), returned_items=joined.returned_items.fill_null(0)
    )
    end_day = ibis.date(end)
    frequency = s.purchase_days - 1
    return_rate = ibis.ifelse(s.sales > 0, s.returns / s.sales, 0.0)
    kept = 1.0 - ibis.least(return_rate, 1.0)
    # Money is exact to 4 decimals: rounding keeps float sums from leaving -0.0000001 behind.
    cost_of_goods = (s.gross_cost * kept).round(4)
    revenue = (s.sales - s.returns).round(4)
    span = s.last_purchase.delta(s.first_purchase, unit="day")
    age = end_day.delta(s.first_purchase, unit="day")
    return s.select(
        "customer_id",
        "first_purchase",
        "last_purchase",
        "orders",
        "purchase_days",
        frequency=frequency,
        recency=span.cast("float64") / length,
        T=age.cast("float64") / length,
        monetary=ibis.ifelse(frequency > 0, (s.sales - s.first_value) / frequency, 0.0),
        sales=s.sales,
        returns=s.returns,
        revenue=revenue,
        discounts=s.discounts,
        cost_of_goods=cost_of_goods,
        margin=(revenue - cost_of_goods).round(4),
        cost_known=ibis.ifelse(s.sales > 0, s.costed.fill_null(0.0) / s.sales, 0.0),
        return_rate=return_rate,
        discount_share=ibis.ifelse(
            s.sales + s.discounts > 0, s.discounts / (s.sales + s.discounts), 0.0
        ),
        returned_items=s.returned_items,
        tenure_days=age,
        days_since_last=end_day.delta(s.last_purchase, unit="day"),
    )


def calibration_and_holdout(
    facts: FactsLike,
    *,
    calibration_end: date,
    holdout_end: date,
    start: date | None = None,
    unit: str = "week",
) -> ir.Table:
    """The calibration summary up to ``calibration_end`` plus what each customer did after it:
    ``holdout_purchases`` (purchase days in the holdout), ``holdout_value`` and
    ``holdout_length`` (in the unit). Only customers who bought in the calibration period."""
    facts = as_facts(facts)
    if holdout_end <= calibration_end:
        raise InvalidPeriod(
            f"the holdout ends {holdout_end}, not after the calibration end {calibration_end}",
            details={
                "field": "holdout_end",
                "calibration_end": str(calibration_end),
                "holdout_end": str(holdout_end),
            },
        )
    calibration = summarise(facts, end=calibration_end, start=start, unit=unit)
    later = purchase_days(facts, end=holdout_end, start=calibration_end + timedelta(days=1))
    holdout = later.group_by("customer_id").aggregate(
        holdout_purchases=later.count(), holdout_value=later.value.sum()
    )
    joined = calibration.left_join(holdout, "customer_id").select(
        calibration, holdout.holdout_purchases, holdout.holdout_value
    )
    # A typed expression, not a float literal: PostgreSQL reads a bare 39.0 as numeric.
    days = ibis.date(holdout_end).delta(ibis.date(calibration_end), unit="day")
    return joined.mutate(
        holdout_purchases=joined.holdout_purchases.fill_null(0),
        holdout_value=joined.holdout_value.fill_null(0.0),
        holdout_length=days.cast("float64") / unit_days(unit),
    )


def period_bounds(facts: FactsLike) -> tuple[date, date] | None:
    """The first and the last purchase day in the facts (None without purchases)."""
    facts = as_facts(facts)
    lines = facts.lines
    bounds = lines.aggregate(first=lines.placed_at.min(), last=lines.placed_at.max())
    row = bounds.to_pyarrow().to_pylist()[0]
    if row["first"] is None:
        return None
    return row["first"].date(), row["last"].date()
