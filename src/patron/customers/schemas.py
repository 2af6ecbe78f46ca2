"""What the knowledge store shows to the outside: one set of schemas for the JSON API and the CLI.

Money stays exact (``Decimal``, a string in JSON) and instants carry their offset, so an
integrator never has to guess a currency's rounding or a time zone.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer


def _iso_with_offset(value: datetime) -> str:
    return value.isoformat()


# Pydantic writes UTC as "Z"; "+00:00" reads the same to machines and plainer to people.
Instant = Annotated[datetime, PlainSerializer(_iso_with_offset, when_used="json")]


class CustomerSort(StrEnum):
    """The orders a customer list can come in; a leading ``-`` means descending."""

    name = "name"
    name_desc = "-name"
    external_id = "external_id"
    external_id_desc = "-external_id"
    created_at = "created_at"
    created_at_desc = "-created_at"


class _FromRows(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CustomerPublic(_FromRows):
    id: int
    external_id: str | None
    kind: str
    name: str | None
    email: str | None
    phone: str | None
    birthday: date | None
    language: str | None
    country: str | None
    city: str | None
    time_zone: str | None
    first_contact_at: Instant | None
    acquisition_channel: str | None
    account_manager_id: int | None
    created_at: Instant
    updated_at: Instant


class CustomersPublic(BaseModel):
    """One page of customers; ``count`` is the number of all matches, not of this page."""

    data: list[CustomerPublic]
    count: int


class OrderLinePublic(BaseModel):
    line_no: int
    kind: str
    product_id: int | None
    sku: str | None
    product_name: str | None
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    amount: Decimal


class OrderPublic(BaseModel):
    """An order with its lines; ``total`` is the sum of its sale lines, in the order's currency."""

    id: int
    external_id: str
    placed_at: Instant
    channel: str | None
    store: str | None
    currency: str
    status: str
    total: Decimal
    lines: list[OrderLinePublic]


class ReturnPublic(BaseModel):
    id: int
    document: str
    line_no: int
    kind: str
    returned_at: Instant
    order_line_id: int | None
    product_id: int | None
    sku: str | None
    product_name: str | None
    quantity: Decimal
    amount: Decimal
    reason: str | None


class InteractionPublic(BaseModel):
    id: int
    kind: str
    occurred_at: Instant
    product_id: int | None
    product_name: str | None
    note: str | None
    payload: dict[str, Any] | None


class ConsentState(_FromRows):
    """The latest consent event for one channel and purpose (no entry: never asked, no consent)."""

    channel: str
    purpose: str
    granted: bool
    source: str
    recorded_at: Instant


class Customer360Public(BaseModel):
    """Everything the store knows about one customer, newest first within each list."""

    profile: CustomerPublic
    consent: list[ConsentState]
    orders: list[OrderPublic]
    returns: list[ReturnPublic]
    interactions: list[InteractionPublic]


class StoreStats(BaseModel):
    """Row counts of the knowledge store. Anonymous sales are orders without a known customer."""

    customers: int
    anonymous_sales: int
    orders: int
    order_lines: int
    returns: int
    products: int
    interactions: int
    consents: int


# --- what the pages show: a page of the list, one customer's overview -----------------------


class OrderActivity(BaseModel):
    """How much one customer has bought: their number of orders and when they last bought."""

    customer_id: int
    orders: int
    last_purchase_at: Instant | None


class CurrencyRevenue(BaseModel):
    """A customer's revenue in one currency: sale lines, minus what came back, makes ``net``."""

    currency: str
    gross: Decimal
    returned: Decimal
    net: Decimal


class CustomerFigures(BaseModel):
    """Key figures of one customer. ``returns`` counts return documents, not their lines."""

    orders: int
    first_purchase_at: Instant | None
    last_purchase_at: Instant | None
    returns: int
    interactions: int
    revenue: list[CurrencyRevenue]


class OrderSummary(BaseModel):
    """An order as the timeline shows it: its total, how many items, the first product names."""

    id: int
    external_id: str
    placed_at: Instant
    channel: str | None
    store: str | None
    currency: str
    status: str
    total: Decimal
    items: Decimal
    lines: int
    product_names: list[str]


class TimelineEntry(BaseModel):
    """One event of a customer's history: an order, a returned line or an interaction.

    Exactly one of ``order``, ``returned`` and ``interaction`` is set, as ``kind`` says;
    ``currency`` is that of a return's amount (its order's, else the customer's usual one).
    """

    kind: str  # "order", "return" or "interaction"
    at: Instant
    order: OrderSummary | None = None
    returned: ReturnPublic | None = None
    interaction: InteractionPublic | None = None
    currency: str | None = None


class CustomerOverview(BaseModel):
    """What the customer 360 page shows: the newest ``timeline`` entries of ``timeline_total``."""

    profile: CustomerPublic
    account_manager: str | None
    consent: list[ConsentState]
    figures: CustomerFigures
    timeline: list[TimelineEntry]
    timeline_total: int
