"""Key figures of a snapshot's scores: pure functions of the Arrow table the analytics page reads.

Over every scored customer; "buyers" are those with a purchase day in the period (leads, who
never bought, are scored too: phase awareness).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from patron.analytics.columns import LOYALTY_TYPES, PHASES, SEGMENTS

# The columns the analytics page needs: its figures and every chart of ``analytics.charts``.
PAGE_COLUMNS = (
    "purchase_days",
    "frequency",
    "recency",
    "T",
    "revenue",
    "margin",
    "abc",
    "r_score",
    "f_score",
    "rfm_segment",
    "p_alive",
    "clv",
    "lifecycle_phase",
    "loyalty_type",
    "profit",
    "subscription_product",
)
# The groupings of the segment tables, each in its own order (others follow by size).
GROUPINGS: dict[str, Sequence[str]] = {
    "abc": ("A", "B", "C"),
    "rfm_segment": SEGMENTS,
    "lifecycle_phase": PHASES,
    "loyalty_type": LOYALTY_TYPES,
}


@dataclass(frozen=True)
class KeyFigures:
    customers: int
    buyers: int
    a_customers: int
    a_share: float | None  # of the ABC measure (revenue or margin) made by the A customers
    mean_p_alive: float | None  # over customers with a P(alive)
    total_clv: float
    unprofitable: int
    subscription_candidates: int


@dataclass(frozen=True)
class SegmentRow:
    value: str | None
    customers: int
    revenue: float
    mean_clv: float | None  # over the group's customers with a CLV


def key_figures(scores: pa.Table, *, by: str = "revenue") -> KeyFigures:
    abc = scores.column("abc")
    value = np.maximum(_floats(scores, by), 0.0)
    is_a = np.asarray(pc.fill_null(pc.equal(abc, "A"), False).to_numpy(zero_copy_only=False))
    total = float(np.nansum(value))
    p_alive = pc.mean(scores.column("p_alive")).as_py()
    products = pc.fill_null(pc.not_equal(scores.column("subscription_product"), ""), False)
    return KeyFigures(
        customers=scores.num_rows,
        buyers=int(pc.sum(_bought(scores)).as_py() or 0),
        a_customers=int(is_a.sum()),
        a_share=float(np.nansum(value[is_a]) / total) if total > 0 else None,
        mean_p_alive=None if p_alive is None else float(p_alive),
        total_clv=float(pc.sum(scores.column("clv")).as_py() or 0.0),
        unprofitable=int(pc.sum(pc.less(scores.column("profit"), 0)).as_py() or 0),
        subscription_candidates=int(pc.sum(products).as_py() or 0),
    )


def pareto_table(scores: pa.Table, *, by: str = "revenue") -> pa.Table:
    """The Pareto curve of the buyers as ``charts.pareto_curve`` takes it: customer_share and
    value_share, customers ranked by value (negative values count as 0, as in ABC)."""
    buyers = scores.filter(_bought(scores))
    value = np.sort(np.maximum(np.nan_to_num(_floats(buyers, by)), 0.0))[::-1]
    total = float(value.sum())
    n = value.size
    return pa.table(
        {
            "customer_share": np.arange(1, n + 1, dtype=np.float64) / max(n, 1),
            "value_share": np.cumsum(value) / total if total > 0 else np.zeros(n),
        }
    )


def segment_rows(scores: pa.Table, key: str) -> list[SegmentRow]:
    """Customers, revenue and mean CLV per value of ``key``: the known values in their order
    (empty ones left out), then any others, then customers without a value."""
    grouped = scores.group_by(key).aggregate(
        [([], "count_all"), ("revenue", "sum"), ("clv", "mean")]
    )
    found = {
        row[key]: SegmentRow(
            value=row[key],
            customers=int(row["count_all"]),
            revenue=float(row["revenue_sum"] or 0.0),
            mean_clv=None if row["clv_mean"] is None else float(row["clv_mean"]),
        )
        for row in grouped.to_pylist()
    }
    order = GROUPINGS.get(key, ())
    known = [found[value] for value in order if value in found]
    others = sorted(
        (row for value, row in found.items() if value is not None and value not in order),
        key=lambda row: -row.customers,
    )
    empty = [found[None]] if None in found else []
    return [*known, *others, *empty]


def _bought(scores: pa.Table) -> pa.ChunkedArray:
    return pc.fill_null(pc.greater(scores.column("purchase_days"), 0), False)


def _floats(table: pa.Table, name: str) -> np.ndarray:
    column = pc.cast(table.column(name), pa.float64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
