"""Profitability per customer: what a customer earns the shop after every cost they cause.

profit = sales (net of line discounts) − returns − cost of the goods kept − cost to serve, where
cost to serve = orders × ``per_order`` + returned lines × ``per_return`` + cases × ``per_case``
(handling, shipping, service time: set them to the shop's own figures). ``margin`` in the
summary is the same before the cost to serve. A customer is **unprofitable** when profit < 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import ibis
import ibis.expr.types as ir

from patron.errors import PatronError


class InvalidCosts(PatronError):
    code = "analytics.invalid_costs"
    status = 422


@dataclass(frozen=True)
class CostToServe:
    per_order: float = 0.0
    per_return: float = 0.0
    per_case: float = 0.0

    def __post_init__(self) -> None:
        for name in ("per_order", "per_return", "per_case"):
            value = getattr(self, name)
            if not value >= 0:
                raise InvalidCosts(
                    f"the cost {name} must be a number >= 0, not {value!r}",
                    details={"field": name},
                )


def case_counts(cases: ir.Table, *, end: date, start: date | None = None) -> ir.Table:
    """customer_id, cases: service cases opened in the period."""
    chosen = cases.filter(cases.opened_at < ibis.timestamp(end + timedelta(days=1)))
    if start is not None:
        chosen = chosen.filter(chosen.opened_at >= ibis.timestamp(start))
    return chosen.group_by("customer_id").aggregate(cases=chosen.count())


def profitability(scores: ir.Table, costs: CostToServe = CostToServe()) -> dict[str, ir.Value]:
    """cost_to_serve and profit for each row of ``scores`` (orders, returned_items, cases,
    margin; cases may be null)."""
    cost_to_serve = (
        scores.orders.fill_null(0) * costs.per_order
        + scores.returned_items.fill_null(0) * costs.per_return
        + scores.cases.fill_null(0) * costs.per_case
    )
    return {
        "cost_to_serve": cost_to_serve,
        "profit": scores.margin.fill_null(0.0) - cost_to_serve,
    }
