"""Lifecycle phase per customer: the five phases of a relationship (Dwyer, Schurr & Oh).

The rules, in order (the first that applies wins; every threshold is a ``LifecycleRules`` field):

1. **awareness** — a known customer without a purchase in the period (contact only).
2. **dissolution** — the relationship is fading: P(alive) below ``dissolution_p_alive``; where
   no model is fitted (P(alive) empty), no purchase for ``dissolution_days``.
3. **exploration** — first and trial purchases: at most ``exploration_purchase_days``
   purchase days so far.
4. **expansion** — buying more: in the last ``period_days`` the customer's spend reached
   ``growth`` × the spend of the period before, or they bought on more days than in it.
5. **commitment** — everyone else: a stable repeat buyer who is still alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import ibis
import ibis.expr.types as ir

from patron.analytics.frames import FactsLike, as_facts
from patron.analytics.summary import purchase_days


@dataclass(frozen=True)
class LifecycleRules:
    dissolution_p_alive: float = 0.3
    dissolution_days: int = 365
    exploration_purchase_days: int = 2
    period_days: int = 90
    growth: float = 1.2


def trend(
    facts: FactsLike, *, end: date, period_days: int = 90, days: ir.Table | None = None
) -> ir.Table:
    """customer_id, recent_value, recent_days, previous_value, previous_days: spend and purchase
    days in the last ``period_days`` up to ``end`` and in the ``period_days`` before.
    ``days`` may hand in ``purchase_days`` of a period that ends at ``end``, already computed."""
    facts = as_facts(facts)
    since = end - timedelta(days=2 * period_days - 1)
    if days is None:
        days = purchase_days(facts, end=end, start=since)
    else:
        days = days.filter(days.day >= ibis.date(since))
    recent = days.day > ibis.date(end - timedelta(days=period_days))
    return days.group_by("customer_id").aggregate(
        recent_value=days.value.sum(where=recent).fill_null(0.0),
        recent_days=days.count(where=recent),
        previous_value=days.value.sum(where=~recent).fill_null(0.0),
        previous_days=days.count(where=~recent),
    )


def lifecycle_phase(scores: ir.Table, rules: LifecycleRules = LifecycleRules()) -> ir.Value:
    """The phase of each row of ``scores``, which holds purchase_days, days_since_last, p_alive,
    recent_value, recent_days, previous_value, previous_days (nulls allowed)."""
    bought = scores.purchase_days.fill_null(0)
    fading = ibis.ifelse(
        scores.p_alive.notnull(),
        scores.p_alive < rules.dissolution_p_alive,
        scores.days_since_last > rules.dissolution_days,
    )
    recent_value = scores.recent_value.fill_null(0.0)
    previous_value = scores.previous_value.fill_null(0.0)
    growing = ((recent_value > 0) & (recent_value >= previous_value * rules.growth)) | (
        scores.recent_days.fill_null(0) > scores.previous_days.fill_null(0)
    )
    return ibis.cases(
        (bought == 0, "awareness"),
        (fading, "dissolution"),
        (bought <= rules.exploration_purchase_days, "exploration"),
        (growing, "expansion"),
        else_="commitment",
    )
