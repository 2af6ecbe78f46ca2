"""Tables of subscriptions and delivery contracts.

A subscription is one customer's standing order: its items, its rhythm (every N days, weeks or
months), the next delivery's date, the price agreement (a discount on the items, or a benefit
such as free delivery) and the contract around it (start, minimum term, notice period,
renewal). Dates of deliveries and of the contract are calendar dates in the subscription's own
time zone (the customer's, else the shop's): a delivery due on 1 March is due on 1 March where
the customer lives.

Each due delivery becomes a row of ``subscription_deliveries`` with a ``reference`` the shop
fulfils against (export or the ``subscription.due`` webhook); the order that fulfils it arrives
as a normal order carrying that reference (``orders.subscription_ref``) and is linked here.
Every change (created, paused, skipped, interval changed, cancelled, renewed…) is kept in
``subscription_changes``, with who did it and, for a cancellation, why.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

import patron.customers.models  # noqa: F401 - registers ``customers``, ``products``, ``orders``
from patron.db import Base, utcnow
from patron.sqltypes import Money, Quantity, UTCDateTime

INTERVAL_UNITS = ("day", "week", "month")
STATUSES = ("active", "paused", "cancelled")
DELIVERY_STATUSES = ("due", "announced", "fulfilled", "skipped", "cancelled")
CHANGE_KINDS = (
    "created",
    "changed",
    "paused",
    "resumed",
    "skipped",
    "interval_changed",
    "cancel_requested",
    "cancelled",
    "renewed",
    "ended",
    "reminder",
    "renewal_notice",
)
# Why a customer leaves: the reasons the cancel forms offer (free text goes into ``note``).
CANCEL_REASONS = (
    "too_expensive",
    "too_much_product",
    "quality",
    "delivery_problems",
    "switching_supplier",
    "no_longer_needed",
    "moving",
    "other",
)
SOURCES = ("api", "staff", "portal", "offer", "import", "demo")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Subscription(Base):
    """A customer's standing order and the contract around it."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(_one_of("interval_unit", INTERVAL_UNITS), name="interval_unit"),
        CheckConstraint("interval_count BETWEEN 1 AND 366", name="interval_count"),
        CheckConstraint(_one_of("status", STATUSES), name="status"),
        CheckConstraint("anchor_day IS NULL OR anchor_day BETWEEN 1 AND 31", name="anchor_day"),
        CheckConstraint("minimum_term_months >= 0", name="minimum_term"),
        CheckConstraint("notice_days >= 0", name="notice_days"),
        CheckConstraint("renewal_months >= 0", name="renewal_months"),
        CheckConstraint(
            # no upper bound here: SQLite stores it in ten-thousandths (100 % is 1000000); the
            # schema keeps it to 0 … 100
            "discount_percent IS NULL OR discount_percent >= 0",
            name="discount_percent",
        ),
        Index("ix_subscriptions_status_next_due", "status", "next_due"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The shop's or ERP's own reference, or one Patron made (``S-000123``); unique.
    key: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    interval_unit: Mapped[str] = mapped_column(String(8))
    interval_count: Mapped[int] = mapped_column(Integer)
    # Monthly rhythms keep their day of the month across short months (31 → 28 Feb → 31 Mar).
    anchor_day: Mapped[int | None] = mapped_column(Integer)
    time_zone: Mapped[str] = mapped_column(String(64))
    next_due: Mapped[date | None] = mapped_column(Date)  # empty once cancelled and ended
    status: Mapped[str] = mapped_column(String(16), default="active")
    paused_until: Mapped[date | None] = mapped_column(Date)  # paused: the first day it runs again
    # price agreement: a discount on the items and/or a benefit ("free delivery", "priority")
    discount_percent: Mapped[Decimal | None] = mapped_column(Money())
    benefit: Mapped[str | None] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    # the contract
    started_on: Mapped[date] = mapped_column(Date)
    minimum_term_months: Mapped[int] = mapped_column(Integer, default=0)
    notice_days: Mapped[int] = mapped_column(Integer, default=0)
    # after the minimum term: renewed by this many months at a time (0: runs on, open-ended)
    renewal_months: Mapped[int] = mapped_column(Integer, default=0)
    term_ends_on: Mapped[date | None] = mapped_column(Date)  # end of the current term, if any
    # cancellation: when asked, the day it ends (term end respecting notice), why
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_on: Mapped[date | None] = mapped_column(Date)
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    # the customer's own words: emptied on erasure (``info``, see patron.privacy)
    cancel_note: Mapped[str | None] = mapped_column(String(500), info={"personal": True})
    # reminders sent once per term: the term end they were sent for
    reminded_for: Mapped[date | None] = mapped_column(Date)
    renewal_noticed_for: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SubscriptionItem(Base):
    """One product of a subscription, its quantity and the agreed unit price (empty: list price)."""

    __tablename__ = "subscription_items"
    __table_args__ = (UniqueConstraint("subscription_id", "line_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_price: Mapped[Decimal | None] = mapped_column(Money())


class SubscriptionDelivery(Base):
    """One due delivery: announced to the shop, then fulfilled by an order (or skipped)."""

    __tablename__ = "subscription_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "due_on"),
        CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status"),
        Index("ix_subscription_deliveries_status_due", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    # what the shop quotes on the order that fulfils it (``S-000123/2026-12-01``)
    reference: Mapped[str] = mapped_column(String(96), unique=True)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="due")
    # the items and prices as they were when it fell due
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SubscriptionChange(Base):
    """The history of a subscription: what changed, when, by whom, and why."""

    __tablename__ = "subscription_changes"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CHANGE_KINDS), name="kind"),
        Index("ix_subscription_changes_kind_at", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # ``api``, ``portal``, ``worker``, ``user:<id>``
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
