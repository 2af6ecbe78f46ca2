"""Loyalty type: attitude (the latest survey answer) × behaviour (repeat purchases).

- Attitude is **positive** when the customer's latest answer is an NPS of at least
  ``promoter_nps`` (9: a promoter) or a CSAT of at least ``satisfied_csat`` (4 of 5); any other
  answer is not positive. A customer without an answer has **unknown attitude** — never a guess.
- Behaviour is **repeat** when the customer made at least ``repeat_purchases`` repeat purchases
  and is still likely active (P(alive) at least ``active_p_alive``, or no model fitted).

true = positive × repeat, latent = positive × not repeat, spurious = not positive × repeat,
none = not positive × not repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import ibis
import ibis.expr.types as ir


@dataclass(frozen=True)
class LoyaltyRules:
    promoter_nps: float = 9
    satisfied_csat: float = 4
    repeat_purchases: int = 2
    active_p_alive: float = 0.5


def latest_attitude(
    attitudes: ir.Table, *, end: date, rules: LoyaltyRules = LoyaltyRules()
) -> ir.Table:
    """customer_id, attitude_kind, attitude_score, positive_attitude from the latest answer."""
    answers = attitudes.filter(attitudes.answered_at < ibis.timestamp(end + timedelta(days=1)))
    order = [ibis.desc(answers.answered_at), ibis.desc(answers.kind)]
    ranked = answers.mutate(
        position=ibis.row_number().over(group_by=answers.customer_id, order_by=order)
    )
    latest = ranked.filter(ranked.position == 0)
    positive = ibis.cases(
        (latest.kind == "nps", latest.score >= rules.promoter_nps),
        (latest.kind == "csat", latest.score >= rules.satisfied_csat),
        else_=False,
    )
    return latest.select(
        "customer_id",
        attitude_kind=latest.kind,
        attitude_score=latest.score,
        positive_attitude=positive,
    )


def loyalty_type(scores: ir.Table, rules: LoyaltyRules = LoyaltyRules()) -> ir.Value:
    """The type of each row of ``scores`` (frequency, p_alive, positive_attitude; nulls allowed)."""
    repeat = (scores.frequency.fill_null(0) >= rules.repeat_purchases) & (
        scores.p_alive.isnull() | (scores.p_alive >= rules.active_p_alive)
    )
    positive = scores.positive_attitude
    return ibis.cases(
        (positive.isnull(), "unknown attitude"),
        (positive & repeat, "true"),
        (positive, "latent"),
        (repeat, "spurious"),
        else_="none",
    )
