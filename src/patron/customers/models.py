"""Tables of the knowledge store. Money is exact (``Money``), instants are UTC (``UTCDateTime``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

import patron.access.models  # noqa: F401 - registers ``users``, which account_manager_id refers to
from patron.db import Base, utcnow
from patron.sqltypes import Money, Quantity, UTCDateTime

CUSTOMER_KINDS = ("person", "organisation")
LINE_KINDS = ("sale", "adjustment")
RETURN_KINDS = ("return", "cancellation")
INTERACTION_KINDS = (
    "visit",
    "product_view",
    "price_watch",
    "wishlist",
    "email_open",
    "email_click",
    "call",
    "meeting",
    "event_attendance",
)
CONSENT_CHANNELS = ("email", "sms", "phone", "post", "push")
CONSENT_PURPOSES = ("marketing", "transactional", "profiling", "surveys")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (CheckConstraint(_one_of("kind", CUSTOMER_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # ``info={"personal": True}``: names or describes the person; patron.privacy empties it.
    external_id: Mapped[str | None] = mapped_column(
        String(64), unique=True, info={"personal": True}
    )
    kind: Mapped[str] = mapped_column(String(16), default="person")
    name: Mapped[str | None] = mapped_column(String(200), index=True, info={"personal": True})
    email: Mapped[str | None] = mapped_column(String(254), index=True, info={"personal": True})
    phone: Mapped[str | None] = mapped_column(String(40), info={"personal": True})
    birthday: Mapped[date | None] = mapped_column(Date, info={"personal": True})
    language: Mapped[str | None] = mapped_column(String(8))
    country: Mapped[str | None] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(100), info={"personal": True})
    time_zone: Mapped[str | None] = mapped_column(String(64))
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acquisition_channel: Mapped[str | None] = mapped_column(String(64))
    # The staff user who looks after this customer (see patron.access).
    account_manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Set when the person was erased: the row stays (orders keep their customer for the books)
    # with every personal field emptied.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    orders: Mapped[list[Order]] = relationship(back_populates="customer")


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(300))
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    brand: Mapped[str | None] = mapped_column(String(100))
    creator: Mapped[str | None] = mapped_column(String(200))  # author, artist, designer
    price: Mapped[Decimal | None] = mapped_column(Money())
    unit_cost: Mapped[Decimal | None] = mapped_column(Money())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_partner: Mapped[bool] = mapped_column(Boolean, default=False)
    partner_name: Mapped[str | None] = mapped_column(String(100))
    replenishable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Order(Base):
    """A sale document. ``customer_id`` is empty for anonymous sales (shop revenue, no analytics)."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_placed", "customer_id", "placed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    channel: Mapped[str | None] = mapped_column(String(32))
    store: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="completed")
    # The subscription delivery this order fulfils (its reference, as in ``subscription.due``).
    subscription_ref: Mapped[str | None] = mapped_column(String(96), index=True)

    customer: Mapped[Customer | None] = relationship(back_populates="orders")
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.line_no", cascade="all, delete-orphan"
    )


class OrderLine(Base):
    """One line of an order. ``amount`` is the line's net revenue and is authoritative.

    ``kind`` is ``sale`` for goods sold (free items included, at amount 0) and ``adjustment``
    for bookkeeping lines (stock corrections, bad-debt write-offs) that are not revenue.
    """

    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint(_one_of("kind", LINE_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_price: Mapped[Decimal] = mapped_column(Money())
    discount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    unit_cost: Mapped[Decimal | None] = mapped_column(Money())
    amount: Mapped[Decimal] = mapped_column(Money())
    kind: Mapped[str] = mapped_column(String(16), default="sale")

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product | None] = relationship()


class Return(Base):
    """Goods that came back, or a cancelled line: positive quantity and refunded amount.

    ``document`` is the source's return or cancellation number; ``order_line_id`` points at the
    purchase it reverses when that purchase is known (empty when it predates the data).
    """

    __tablename__ = "returns"
    __table_args__ = (
        UniqueConstraint("document", "line_no"),
        CheckConstraint(_one_of("kind", RETURN_KINDS), name="kind"),
        Index("ix_returns_customer_returned", "customer_id", "returned_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[str] = mapped_column(String(64))
    line_no: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    order_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("order_lines.id", ondelete="SET NULL"), index=True
    )
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    amount: Mapped[Decimal] = mapped_column(Money())
    returned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16), default="return")
    reason: Mapped[str | None] = mapped_column(String(200))

    product: Mapped[Product | None] = relationship()
    order_line: Mapped[OrderLine | None] = relationship()


class Interaction(Base):
    """A contact or a signal of interest: visit, product view, price watch, e-mail click, meeting…"""

    __tablename__ = "interactions"
    __table_args__ = (
        CheckConstraint(_one_of("kind", INTERACTION_KINDS), name="kind"),
        Index("ix_interactions_customer_occurred", "customer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    note: Mapped[str | None] = mapped_column(Text, info={"personal": True})
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, info={"personal": True})


class Consent(Base):
    """One consent event; the history is append-only and the latest event per channel and purpose wins."""

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(_one_of("channel", CONSENT_CHANNELS), name="channel"),
        CheckConstraint(_one_of("purpose", CONSENT_PURPOSES), name="purpose"),
        Index("ix_consents_customer_channel", "customer_id", "channel", "purpose", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ImportRun(Base):
    """What each import did, for the audit trail: file, layout and the summary's counts."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(500))
    layout: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
