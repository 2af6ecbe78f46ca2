"""The columns of a customer's scores: one row per customer, the contract of every consumer.

``analytics.scoring`` produces these columns (as an Arrow table); the snapshot store, the API,
the report, the dashboard and ``patron analyze FILE`` read them. Money is in the data's currency
(floats: analytics is statistics, not bookkeeping); times in the run's time unit are marked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # arrow type name: string, int64, float64, date
    meaning: str


SCORES: tuple[Column, ...] = (
    Column(
        "customer_id", "string", "the customer's id (external id for a file, store id otherwise)"
    ),
    Column("first_purchase", "date", "first purchase day (UTC)"),
    Column("last_purchase", "date", "last purchase day (UTC)"),
    Column("orders", "int64", "orders placed (documents with at least one sale line)"),
    Column("purchase_days", "int64", "distinct UTC days with a purchase"),
    Column("frequency", "int64", "repeat purchase days: purchase_days - 1"),
    Column("recency", "float64", "time from first to last purchase day, in the time unit"),
    Column(
        "T", "float64", "time from first purchase day to the end of the period, in the time unit"
    ),
    Column("monetary", "float64", "average net value of a repeat purchase day (0 without repeats)"),
    Column("sales", "float64", "net value of sale lines (after line discounts)"),
    Column("returns", "float64", "refunded value of returns and cancellations"),
    Column("revenue", "float64", "sales - returns"),
    Column("discounts", "float64", "line discounts granted"),
    Column(
        "cost_of_goods", "float64", "cost of the goods kept (sold minus returned, in proportion)"
    ),
    Column("margin", "float64", "revenue - cost_of_goods"),
    Column("return_rate", "float64", "returns / sales"),
    Column("discount_share", "float64", "discounts / (sales + discounts)"),
    Column("tenure_days", "int64", "days from the first purchase to the end of the period"),
    Column("days_since_last", "int64", "days from the last purchase to the end of the period"),
    Column("abc", "string", "ABC class: A, B or C"),
    Column("abc_share", "float64", "cumulative share of the ABC value up to this customer"),
    Column("r_score", "int64", "RFM recency score 1..5 (5 = most recent)"),
    Column("f_score", "int64", "RFM frequency score 1..5"),
    Column("m_score", "int64", "RFM monetary score 1..5"),
    Column("rfm_segment", "string", "named RFM segment (champions … lost)"),
    Column(
        "p_alive", "float64", "probability the customer is still active (buy-till-you-die model)"
    ),
    Column("expected_purchases", "float64", "expected purchases in the CLV horizon"),
    Column("expected_spend", "float64", "expected value of one future purchase (Gamma-Gamma)"),
    Column("clv", "float64", "discounted lifetime value over the horizon, margin applied"),
    Column(
        "lifecycle_phase", "string", "awareness, exploration, expansion, commitment, dissolution"
    ),
    Column("loyalty_type", "string", "true, latent, spurious, none, or unknown attitude"),
    Column("cost_to_serve", "float64", "orders, returns and cases at their configured costs"),
    Column("profit", "float64", "margin - cost_to_serve"),
    Column("subscription_product", "string", "product bought at a regular rhythm (else empty)"),
    Column("subscription_interval_days", "float64", "suggested delivery interval in days"),
)

SCORE_NAMES: tuple[str, ...] = tuple(column.name for column in SCORES)
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "date": pa.date32(),
}
SCORES_SCHEMA = pa.schema([(column.name, ARROW_TYPES[column.type]) for column in SCORES])
SEGMENTS = (
    "champions",
    "loyal",
    "potential loyalists",
    "new",
    "promising",
    "need attention",
    "about to sleep",
    "at risk",
    "can't lose",
    "hibernating",
    "lost",
)
PHASES = ("awareness", "exploration", "expansion", "commitment", "dissolution")
LOYALTY_TYPES = ("true", "latent", "spurious", "none", "unknown attitude")


def floats(table: pa.Table, name: str) -> np.ndarray:
    """A numeric column of ``table`` as a float64 array, nulls as NaN."""
    column = pc.cast(table.column(name), pa.float64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
