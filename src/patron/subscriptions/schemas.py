"""What the subscriptions' API, pages, portal and CLI take and give: a subscription with its
items, price and contract dates, a change, a pause, a cancellation, the history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from patron.subscriptions.schedule import MAX_COUNT
from patron.subscriptions.terms import MAX_NOTICE_DAYS, MAX_TERM_MONTHS

FIRST_YEAR, LAST_YEAR = 1970, 9998


def _plausible(day: date) -> date:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"must lie between the years {FIRST_YEAR} and {LAST_YEAR}")
    return day


# A calendar date in a plausible year (a year 1 or 9999 would overflow the arithmetic).
Day = Annotated[date, AfterValidator(_plausible)]


class Unit(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class CancelReason(StrEnum):
    """Why a customer leaves (``models.CANCEL_REASONS``); free text goes into the note."""

    too_expensive = "too_expensive"
    too_much_product = "too_much_product"
    quality = "quality"
    delivery_problems = "delivery_problems"
    switching_supplier = "switching_supplier"
    no_longer_needed = "no_longer_needed"
    moving = "moving"
    other = "other"


class Source(StrEnum):
    api = "api"
    staff = "staff"
    portal = "portal"
    offer = "offer"
    import_ = "import"
    demo = "demo"


Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]
Sku = Annotated[str, Field(min_length=1, max_length=64)]


class Interval(BaseModel):
    """Every ``count`` days, weeks or months."""

    model_config = ConfigDict(extra="forbid")
    unit: Unit
    count: int = Field(default=1, ge=1, le=MAX_COUNT)


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    quantity: Decimal = Field(default=Decimal(1), gt=0, le=100_000, decimal_places=3)
    unit_price: Decimal | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        decimal_places=2,
        description="The agreed price per unit before the discount; empty: the list price.",
    )


Items = Annotated[list[ItemIn], Field(min_length=1, max_length=50)]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="The shop's reference; empty: Patron makes one (S-000123). The same key and "
        "content again answers with the subscription made the first time.",
    )
    customer: str = Field(
        min_length=1, max_length=64, description="The customer's external id or Patron number."
    )
    items: Items
    interval: Interval
    first_due: Day | None = Field(
        default=None, description="The first delivery's date (local); empty: the start date."
    )
    started_on: Day | None = Field(
        default=None, description="The contract's start (local date); empty: today."
    )
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        description="An IANA zone; empty: the customer's, else the shop's.",
    )
    discount_percent: Percent | None = None
    benefit: str | None = Field(
        default=None, max_length=200, description="A benefit instead of or besides a discount."
    )
    minimum_term_months: int = Field(default=0, ge=0, le=MAX_TERM_MONTHS)
    notice_days: int = Field(default=0, ge=0, le=MAX_NOTICE_DAYS)
    renewal_months: int = Field(default=0, ge=0, le=MAX_TERM_MONTHS)
    source: Source = Source.api


class SubscriptionUpdate(BaseModel):
    """A partial change: only the fields given change (``null`` discount or benefit: none)."""

    model_config = ConfigDict(extra="forbid")
    items: Items | None = None
    interval: Interval | None = None
    next_due: Day | None = None
    discount_percent: Percent | None = None
    benefit: str | None = Field(default=None, max_length=200)


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: Day | None = Field(
        default=None,
        description="The first day it runs again (local); empty: until resumed. At most 183 "
        "days ahead.",
    )


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: CancelReason
    note: str | None = Field(default=None, max_length=500)


class IntervalIn(Interval):
    """A new rhythm from the next delivery on."""


class ItemPublic(BaseModel):
    line_no: int
    sku: str
    product_name: str | None
    quantity: Decimal
    unit_price: Decimal | None = Field(
        description="The agreed price per unit, else the list price (empty: neither is known)."
    )
    effective_price: Decimal | None = Field(description="The unit price after the discount.")
    line_total: Decimal | None


class IntervalPublic(BaseModel):
    unit: str
    count: int
    anchor_day: int | None


class SubscriptionPublic(BaseModel):
    key: str
    customer: str = Field(description="The customer's external id, else their Patron number.")
    customer_id: int
    customer_name: str | None
    status: str = Field(description="active, paused or cancelled (runs until ends_on).")
    interval: IntervalPublic
    time_zone: str
    next_due: date | None
    paused_until: date | None
    items: list[ItemPublic]
    currency: str
    discount_percent: Decimal | None
    benefit: str | None
    delivery_value: Decimal | None = Field(description="One delivery's value after the discount.")
    monthly_value: Decimal | None = Field(
        description="The delivery value per month on average (its share of MRR)."
    )
    started_on: date
    minimum_term_months: int
    notice_days: int
    renewal_months: int
    term_ends_on: date | None
    notice_deadline: date | None
    earliest_end: date | None = Field(
        description="The last day of delivery if cancelled today; empty once cancelled."
    )
    ends_on: date | None
    cancel_requested_at: datetime | None
    cancel_reason: str | None
    cancel_note: str | None
    source: str
    created_at: datetime
    updated_at: datetime


class SubscriptionsPublic(BaseModel):
    data: list[SubscriptionPublic]
    count: int


class CancelTerms(BaseModel):
    """What a cancellation today means: the term, its notice deadline, the last delivery day."""

    term_ends_on: date | None
    notice_deadline: date | None
    earliest_end: date
    notice_days: int


class ChangePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: str
    at: datetime
    actor: str
    reason: str | None
    details: dict[str, Any] | None


class HistoryPublic(BaseModel):
    key: str
    data: list[ChangePublic]
