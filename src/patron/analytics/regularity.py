"""Subscription candidates: customers who reorder the same product at a regular rhythm.

Per customer and product, the gaps between the distinct days on which they bought it. A pair
is regular when the customer bought the product on at least ``min_purchases`` days, the gaps'
coefficient of variation (sample standard deviation / mean) is at most ``max_variation``, the
mean gap is at least ``min_interval_days`` (daily shopping is not a delivery rhythm), and the
last purchase is at most ``overdue_factor`` mean gaps before the end (the rhythm still runs).
The suggested interval is the mean gap in whole days. Each customer's most regular product
(lowest variation, then most purchases, then product id) is their candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import ibis
import ibis.expr.types as ir

from patron.analytics.frames import FactsLike, as_facts


@dataclass(frozen=True)
class RegularitySettings:
    min_purchases: int = 4
    max_variation: float = 0.35
    min_interval_days: float = 7.0
    overdue_factor: float = 2.0


def subscription_candidates(
    facts: FactsLike,
    *,
    end: date,
    start: date | None = None,
    settings: RegularitySettings = RegularitySettings(),
) -> ir.Table:
    """customer_id, subscription_product, subscription_interval_days, subscription_variation,
    subscription_purchases: one row per candidate customer."""
    facts = as_facts(facts)
    lines = facts.lines.filter(
        facts.lines.product.notnull()
        & (facts.lines.placed_at < ibis.timestamp(end + timedelta(days=1)))
    )
    if start is not None:
        lines = lines.filter(lines.placed_at >= ibis.timestamp(start))
    days = lines.select("customer_id", "product", day=lines.placed_at.date()).distinct()
    # The mean gap is (last - first) / (purchases - 1): most pairs fail the cheap tests, and
    # only the rest need the gaps themselves (a window) for their variation.
    pairs = days.group_by(["customer_id", "product"]).aggregate(
        purchases=days.count(), first_day=days.day.min(), last_day=days.day.max()
    )
    span = pairs.last_day.delta(pairs.first_day, unit="day").cast("float64")
    pairs = pairs.mutate(mean_gap=span / (pairs.purchases - 1))
    steady = pairs.filter(
        (pairs.purchases >= settings.min_purchases)
        & (pairs.mean_gap >= settings.min_interval_days)
        & (
            ibis.date(end).delta(pairs.last_day, unit="day").cast("float64")
            <= pairs.mean_gap * settings.overdue_factor
        )
    )
    chosen = days.join(steady, ["customer_id", "product"]).select(
        "customer_id", "product", "day", "purchases", "mean_gap"
    )
    previous = chosen.day.lag().over(
        group_by=[chosen.customer_id, chosen.product], order_by=chosen.day
    )
    gaps = chosen.mutate(gap=chosen.day.delta(previous, unit="day").cast("float64"))
    spread = gaps.group_by(["customer_id", "product"]).aggregate(
        purchases=gaps.purchases.max(),
        mean_gap=gaps.mean_gap.max(),
        sd_gap=gaps.gap.std(how="sample"),
    )
    regular = spread.filter(spread.sd_gap <= spread.mean_gap * settings.max_variation)
    regular = regular.mutate(variation=regular.sd_gap / regular.mean_gap)
    order = [regular.variation, ibis.desc(regular.purchases), regular.product]
    ranked = regular.mutate(
        position=ibis.row_number().over(group_by=regular.customer_id, order_by=order)
    )
    best = ranked.filter(ranked.position == 0)
    return best.select(
        "customer_id",
        subscription_product=best.product,
        # half up on every engine (PostgreSQL rounds a double half to even)
        subscription_interval_days=(best.mean_gap + 0.5).floor().cast("float64"),
        subscription_variation=best.variation,
        subscription_purchases=best.purchases,
    )
