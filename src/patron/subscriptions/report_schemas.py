"""What the subscription report gives: the subscriptions in force, monthly recurring revenue,
subscriber churn and its reasons, the share of revenue from subscribers, subscribers' CLV next
to similar non-subscribers', and what the offers brought. See ``reports`` for the definitions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field


class IntervalCount(BaseModel):
    unit: str
    count: int
    subscriptions: int


class StatusCount(BaseModel):
    status: str = Field(description="active, paused, or ending (cancelled, runs until ends_on).")
    subscriptions: int


class ActivePublic(BaseModel):
    in_force: int = Field(description="Subscriptions in force today (started, not yet ended).")
    subscribers: int = Field(description="Customers with at least one of them.")
    by_status: list[StatusCount]
    by_interval: list[IntervalCount]


class MrrMonth(BaseModel):
    month: date = Field(description="The month's first day.")
    measured_on: date = Field(description="The day measured: its last day, or today.")
    mrr: Decimal
    subscriptions: int = Field(description="Subscriptions in force and not paused that day.")


class MrrPublic(BaseModel):
    currency: str
    mrr: Decimal = Field(description="Monthly recurring revenue today.")
    subscriptions: int
    unpriced: int = Field(description="Left out: an item has neither an agreed nor a list price.")
    other_currency: int = Field(description="Left out: agreed in another currency.")
    by_month: list[MrrMonth]


class ChurnMonth(BaseModel):
    month: date
    subscribers_at_start: int
    churned: int = Field(description="Of those, how many had no subscription in force a month on.")
    rate: float | None


class ReasonCount(BaseModel):
    reason: str
    cancellations: int
    share: float | None


class ChurnPublic(BaseModel):
    by_month: list[ChurnMonth] = Field(description="The last 12 complete months.")
    last_month: ChurnMonth | None
    cancellations: int = Field(description="Subscriptions whose last day fell in the period.")
    reasons: list[ReasonCount]


class RevenueSharePublic(BaseModel):
    since: date
    until: date
    currency: str
    revenue: Decimal = Field(description="Sale lines of all orders placed in the period.")
    delivery_revenue: Decimal = Field(description="Of orders that fulfil subscription deliveries.")
    delivery_orders: int
    delivery_share: float | None
    subscriber_revenue: Decimal = Field(
        description="Of every order by customers with a subscription in force in the period."
    )
    subscribers: int
    subscriber_share: float | None


class ClvStratum(BaseModel):
    abc: str
    rfm_segment: str
    subscribers: int
    others: int
    subscriber_mean: float
    other_mean: float
    difference: float


class ClvComparisonPublic(BaseModel):
    snapshot_id: int | None
    period_end: date | None = Field(description="Subscribers are those in force on this day.")
    subscribers_scored: int
    subscribers_matched: int = Field(description="In strata that also hold non-subscribers.")
    others_matched: int
    strata: int
    subscriber_mean: float | None
    comparison_mean: float | None = Field(
        description="Non-subscribers' mean CLV per stratum, weighted by the subscribers in it."
    )
    difference: float | None
    low: float | None = Field(description="95 % interval of the difference (bootstrap).")
    high: float | None
    by_stratum: list[ClvStratum]
    note: str


class OffersPublic(BaseModel):
    campaigns: int
    offered: int = Field(description="Customers sent an offer (treated, not the holdout).")
    offered_subscribed: int = Field(description="Of them, subscribed after the offer.")
    holdout: int = Field(description="Candidates drawn into the campaigns' holdout.")
    holdout_subscribed: int
    from_offers: int = Field(description="Subscriptions created with source `offer`.")


class SubscriptionReport(BaseModel):
    as_of: date
    currency: str
    active: ActivePublic
    mrr: MrrPublic
    churn: ChurnPublic
    revenue: RevenueSharePublic
    clv: ClvComparisonPublic
    offers: OffersPublic


class KeyFigures(BaseModel):
    """The subscriptions page's header: in force, MRR, last month's churn."""

    as_of: date
    currency: str
    in_force: int
    subscribers: int
    mrr: Decimal
    churn: ChurnMonth | None
