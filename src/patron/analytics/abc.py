"""ABC (Pareto) classes: rank customers by revenue or margin and cut the cumulative share.

With the default bounds (0.80, 0.95), **A** are the top customers who together make the first
80 % of the value, **B** the next 15 %, **C** the rest; a customer belongs to the class in which
their own value *starts* (the customer who crosses 80 % is still A). Customers with no positive
value are C. Values are compared in 1/10,000 of the currency unit (``summary.money_key``) and
ties are ordered by customer id, so every backend gives the same classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from patron.analytics.frames import TableLike, as_table
from patron.analytics.summary import money_key
from patron.errors import PatronError


class InvalidAbcSettings(PatronError):
    code = "analytics.invalid_abc_settings"
    status = 422


@dataclass(frozen=True)
class AbcSettings:
    by: str = "revenue"  # or "margin"
    a: float = 0.80
    b: float = 0.95

    def __post_init__(self) -> None:
        if self.by not in ("revenue", "margin"):
            raise InvalidAbcSettings(
                f"ABC classes are by revenue or margin, not {self.by!r}", details={"field": "by"}
            )
        if not 0 < self.a < self.b <= 1:
            raise InvalidAbcSettings(
                f"the ABC bounds must satisfy 0 < A ({self.a}) < B ({self.b}) <= 1",
                details={"field": "a", "a": self.a, "b": self.b},
            )


def abc_classes(summary: TableLike, settings: AbcSettings = AbcSettings()) -> ir.Table:
    """customer_id, abc, abc_share (cumulative share of the value up to this customer)."""
    summary = as_table(summary)
    value = ibis.greatest(summary[settings.by], 0.0)
    ranked = summary.select("customer_id", value=value, key=money_key(value))
    order = [ibis.desc(ranked.key), ranked.customer_id]
    cumulative = ranked.value.sum().over(ibis.cumulative_window(order_by=order))
    total = ranked.value.sum().over()
    with_share = ranked.mutate(cumulative=cumulative, total=total)
    share = ibis.ifelse(with_share.total > 0, with_share.cumulative / with_share.total, 0.0)
    before = ibis.ifelse(
        with_share.total > 0,
        (with_share.cumulative - with_share.value) / with_share.total,
        1.0,
    )
    positive = with_share.key > 0
    klass = ibis.cases(
        (positive & (before < settings.a), "A"),
        (positive & (before < settings.b), "B"),
        else_="C",
    )
    return with_share.select("customer_id", abc=klass, abc_share=share)


def pareto_curve(summary: TableLike, by: str = "revenue", points: int = 100) -> ir.Table:
    """The Pareto (Lorenz) curve: customer_share and value_share at ``points`` steps.

    The customers are ranked by value, highest first; at each step, the share of customers so far
    and the share of the (positive) value they make.
    """
    summary = as_table(summary)
    value = ibis.greatest(summary[by], 0.0)
    ranked = summary.select("customer_id", value=value, key=money_key(value))
    order = [ibis.desc(ranked.key), ranked.customer_id]
    window = ibis.cumulative_window(order_by=order)
    steps = ranked.mutate(
        position=ibis.row_number().over(window) + 1,
        cumulative=ranked.value.sum().over(window),
        customers=ranked.count().over(),
        total=ranked.value.sum().over(),
    )
    steps = steps.mutate(step=(steps.position * points / steps.customers).ceil().cast("int64"))
    curve = steps.group_by("step").aggregate(
        customer_share=(steps.position.max() / steps.customers.max()),
        value_share=ibis.ifelse(
            steps.total.max() > 0,
            ibis.least(steps.cumulative.max() / steps.total.max(), 1.0),
            0.0,
        ),
    )
    return curve.select("customer_share", "value_share").order_by("customer_share")
