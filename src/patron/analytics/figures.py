"""The figures of a table of scores, the one implementation the analytics page and the report
share: key figures, the Pareto curve, segment tables, the top customers by CLV, the unprofitable
customers and the subscription candidates. Pure functions of an Arrow table (numpy, pyarrow).

Over every scored customer; "buyers" are those with a purchase day in the period (leads, who
never bought, are scored too: phase awareness).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from patron.analytics.columns import LOYALTY_TYPES, PHASES, SEGMENTS, floats

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
    """The key figures of a table of scores: what the analytics page and the report show.

    - ``customers``: every scored customer, leads (no purchase in the period) included.
    - ``buyers``: the customers with a purchase day in the period (``purchase_days`` > 0).
    - ``revenue``: the sum of the customers' revenue (sales minus returns), losses included.
    - ``a_customers``: the customers in ABC class A.
    - ``a_share_of_buyers``: ``a_customers`` / ``buyers`` (None without buyers).
    - ``a_share_of_value``: the share of the ABC value (revenue or margin, as the classes were
      ranked by; a value below 0 counts as 0, as in ABC) that the A customers make (None while
      no customer has a positive value).
    - ``with_p_alive``: the customers with a P(alive) (those a purchase model could score).
    - ``mean_p_alive``: the mean P(alive) over them (None without any).
    - ``total_clv``: the sum of the CLVs (a customer without one adds nothing).
    - ``unprofitable``: the customers whose profit (margin minus cost to serve) is below 0.
    - ``unprofitable_loss``: what they lose together: minus the sum of their profits (≥ 0).
    - ``subscription_candidates``: the customers with a subscription product (an empty one is
      none): who reorder a product at a regular rhythm.
    """

    customers: int
    buyers: int
    revenue: float
    a_customers: int
    a_share_of_buyers: float | None
    a_share_of_value: float | None
    with_p_alive: int
    mean_p_alive: float | None
    total_clv: float
    unprofitable: int
    unprofitable_loss: float
    subscription_candidates: int


@dataclass(frozen=True)
class SegmentRow:
    value: str | None
    customers: int
    revenue: float
    mean_clv: float | None  # over the group's customers with a CLV


def key_figures(scores: pa.Table, *, by: str = "revenue") -> KeyFigures:
    """The key figures of ``scores``, ABC by ``by`` (revenue or margin): see ``KeyFigures``."""
    buyers = int(_bought(scores).sum())
    is_a = _flags(pc.equal(scores.column("abc"), "A"))
    value = np.maximum(floats(scores, by), 0.0)
    total = float(np.nansum(value))
    p_alive = floats(scores, "p_alive")
    known = ~np.isnan(p_alive)
    profit = floats(scores, "profit")
    losing = profit < 0
    a_customers = int(is_a.sum())
    return KeyFigures(
        customers=scores.num_rows,
        buyers=buyers,
        revenue=float(np.nansum(floats(scores, "revenue"))),
        a_customers=a_customers,
        a_share_of_buyers=a_customers / buyers if buyers else None,
        a_share_of_value=float(np.nansum(value[is_a])) / total if total > 0 else None,
        with_p_alive=int(known.sum()),
        mean_p_alive=float(p_alive[known].mean()) if known.any() else None,
        total_clv=float(np.nansum(floats(scores, "clv"))),
        unprofitable=int(losing.sum()),
        unprofitable_loss=float(0.0 - profit[losing].sum()),  # never -0.0
        subscription_candidates=int(_candidates(scores).sum()),
    )


def top_by_clv(scores: pa.Table, k: int) -> list[dict[str, Any]]:
    """The ``k`` customers with the highest CLV, highest first, ties by customer id (customers
    without a CLV left out)."""
    keep = ["customer_id", "clv", "p_alive", "expected_purchases", "revenue", "rfm_segment", "abc"]
    return _top(scores, "clv", pc.is_valid(scores.column("clv")), k, descending=True, keep=keep)


def unprofitable_customers(scores: pa.Table, k: int) -> list[dict[str, Any]]:
    """The ``k`` customers with the largest loss (profit below 0), largest first, ties by
    customer id."""
    keep = ["customer_id", "profit", "revenue", "margin", "cost_to_serve", "return_rate"]
    keep += ["orders"]
    losing = pc.less(scores.column("profit"), 0)
    return _top(scores, "profit", losing, k, descending=False, keep=keep)


def subscription_candidates(scores: pa.Table, k: int) -> list[dict[str, Any]]:
    """The ``k`` subscription candidates (see ``KeyFigures``) with the highest revenue, highest
    first, ties by customer id."""
    keep = ["customer_id", "subscription_product", "subscription_interval_days"]
    keep += ["purchase_days", "revenue"]
    mask = pa.array(_candidates(scores))
    return _top(scores, "revenue", mask, k, descending=True, keep=keep)


def pareto_table(scores: pa.Table, *, by: str = "revenue") -> pa.Table:
    """The Pareto curve of the buyers as ``charts.pareto_curve`` takes it: customer_share and
    value_share, customers ranked by value (negative values count as 0, as in ABC)."""
    buyers = scores.filter(pa.array(_bought(scores)))
    value = np.sort(np.maximum(np.nan_to_num(floats(buyers, by)), 0.0))[::-1]
    total = float(value.sum())
    n = value.size
    return pa.table(
        {
            "customer_share": np.arange(1, n + 1, dtype=np.float64) / max(n, 1),
            "value_share": np.cumsum(value) / total if total > 0 else np.zeros(n),
        }
    )


def totals_by(scores: pa.Table, key: str) -> dict[str | None, SegmentRow]:
    """Customers, revenue and mean CLV for each value of ``key`` that occurs (None included)."""
    grouped = scores.group_by(key).aggregate(
        [([], "count_all"), ("revenue", "sum"), ("clv", "mean")]
    )
    return {
        row[key]: SegmentRow(
            value=row[key],
            customers=int(row["count_all"]),
            revenue=float(row["revenue_sum"] or 0.0),
            mean_clv=None if row["clv_mean"] is None else float(row["clv_mean"]),
        )
        for row in grouped.to_pylist()
    }


def segment_rows(scores: pa.Table, key: str) -> list[SegmentRow]:
    """Customers, revenue and mean CLV per value of ``key``: the known values in their order
    (empty ones left out), then any others, then customers without a value."""
    found = totals_by(scores, key)
    order = GROUPINGS.get(key, ())
    known = [found[value] for value in order if value in found]
    others = sorted(
        (row for value, row in found.items() if value is not None and value not in order),
        key=lambda row: -row.customers,
    )
    empty = [found[None]] if None in found else []
    return [*known, *others, *empty]


def _top(
    scores: pa.Table,
    by: str,
    mask: pa.Array | pa.ChunkedArray,
    k: int,
    *,
    descending: bool,
    keep: list[str],
) -> list[dict[str, Any]]:
    """The first ``k`` rows where ``mask`` holds, by ``by`` (ties: customer id), as dicts.

    A partial selection finds the ``k``-th value; only the rows up to it are sorted."""
    chosen = scores.select(keep).filter(pc.and_kleene(mask, pc.is_valid(scores.column(by))))
    order = "descending" if descending else "ascending"
    if chosen.num_rows > k:
        kth = chosen.take(pc.select_k_unstable(chosen, k, sort_keys=[(by, order)]))
        bound = pc.min(kth[by]) if descending else pc.max(kth[by])
        compare = pc.greater_equal if descending else pc.less_equal
        chosen = chosen.filter(compare(chosen[by], bound))
    keys = [(by, order), ("customer_id", "ascending")]
    return chosen.take(pc.sort_indices(chosen, sort_keys=keys)[:k]).to_pylist()


def _bought(scores: pa.Table) -> np.ndarray:
    return _flags(pc.greater(scores.column("purchase_days"), 0))


def _candidates(scores: pa.Table) -> np.ndarray:
    """Customers with a subscription product (an empty string is none)."""
    return _flags(pc.not_equal(scores.column("subscription_product"), ""))


def _flags(condition: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean column as numpy, null as False."""
    filled = pc.fill_null(condition, False)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


@dataclass(frozen=True)
class Series:
    """What a scoring run drew beside the scores, back from a snapshot's ``series``."""

    pareto: pa.Table | None
    cohorts: pa.Table | None
    tracking: pa.Table | None
    comparison: pa.Table | None
    calibration_t: float | None
    time_unit: str | None


def series_of(stored: dict[str, Any] | None) -> Series:
    """The stored rows as Arrow tables (cohort months back to dates); None where absent."""
    stored = stored or {}

    def table(name: str) -> pa.Table | None:
        rows = stored.get(name)
        return pa.Table.from_pylist(rows) if rows else None

    cohorts = table("cohorts")
    if cohorts is not None and pa.types.is_string(cohorts.schema.field("cohort").type):
        months = pc.strptime(cohorts["cohort"], format="%Y-%m-%d", unit="s")
        cohorts = cohorts.set_column(
            cohorts.schema.get_field_index("cohort"), "cohort", pc.cast(months, pa.date32())
        )
    calibration = stored.get("calibration_t")
    return Series(
        pareto=table("pareto"),
        cohorts=cohorts,
        tracking=table("tracking"),
        comparison=table("comparison"),
        calibration_t=None if calibration is None else float(calibration),
        time_unit=stored.get("time_unit"),
    )
