"""What the analytics API shows: one customer's scores, and the figures of the segments.

Scores are statistics, not bookkeeping: amounts are plain numbers in the store's currency (see
``patron.analytics.columns``, whose descriptions the score fields carry into ``/docs``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from patron.analytics.columns import SCORES

MEANINGS = {column.name: column.meaning for column in SCORES}


def _iso_with_offset(value: datetime) -> str:
    return value.isoformat()


# As in the customers' schemas: "+00:00" rather than pydantic's "Z".
Instant = Annotated[datetime, PlainSerializer(_iso_with_offset, when_used="json")]


def _score(name: str) -> Any:
    return Field(description=MEANINGS[name])


class SnapshotPublic(BaseModel):
    """One run of ``patron analyze``: when it ran, the period it scored, its time unit and model."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    taken_at: Instant
    period_start: date
    period_end: date
    time_unit: str
    model: str
    customers: int


class CustomerScoresPublic(BaseModel):
    """A customer's scores from the newest snapshot that holds them, every column of
    ``analytics.columns.SCORES``, and each score explained in a sentence (in the language of
    ``Accept-Language``). ``customer_id`` is Patron's number for the customer."""

    customer_id: int
    external_id: str | None
    snapshot: SnapshotPublic
    first_purchase: date | None = _score("first_purchase")
    last_purchase: date | None = _score("last_purchase")
    orders: int | None = _score("orders")
    purchase_days: int | None = _score("purchase_days")
    frequency: int | None = _score("frequency")
    recency: float | None = _score("recency")
    T: float | None = _score("T")
    monetary: float | None = _score("monetary")
    sales: float | None = _score("sales")
    returns: float | None = _score("returns")
    revenue: float | None = _score("revenue")
    discounts: float | None = _score("discounts")
    cost_of_goods: float | None = _score("cost_of_goods")
    margin: float | None = _score("margin")
    return_rate: float | None = _score("return_rate")
    discount_share: float | None = _score("discount_share")
    tenure_days: int | None = _score("tenure_days")
    days_since_last: int | None = _score("days_since_last")
    abc: str | None = _score("abc")
    abc_share: float | None = _score("abc_share")
    r_score: int | None = _score("r_score")
    f_score: int | None = _score("f_score")
    m_score: int | None = _score("m_score")
    rfm_segment: str | None = _score("rfm_segment")
    p_alive: float | None = _score("p_alive")
    expected_purchases: float | None = _score("expected_purchases")
    expected_spend: float | None = _score("expected_spend")
    clv: float | None = _score("clv")
    lifecycle_phase: str | None = _score("lifecycle_phase")
    loyalty_type: str | None = _score("loyalty_type")
    cost_to_serve: float | None = _score("cost_to_serve")
    profit: float | None = _score("profit")
    subscription_product: str | None = _score("subscription_product")
    subscription_interval_days: float | None = _score("subscription_interval_days")
    explanation: list[str] = Field(description="each score in a plain-language sentence")


class SegmentFigures(BaseModel):
    """The customers with one value of a grouping, their revenue and their summed CLV (a
    customer without a CLV counts as 0). ``value`` null: customers without one (no purchase)."""

    value: str | None
    customers: int
    revenue: float
    clv: float


class SegmentsPublic(BaseModel):
    """Customers, revenue and CLV per ABC class, RFM segment, lifecycle phase and loyalty type,
    in the newest snapshot; largest group first."""

    snapshot: SnapshotPublic
    abc: list[SegmentFigures]
    rfm_segment: list[SegmentFigures]
    lifecycle_phase: list[SegmentFigures]
    loyalty_type: list[SegmentFigures]
