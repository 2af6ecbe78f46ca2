"""The staff list of subscriptions: filtered by status, rhythm and how soon the next delivery
is due, newest first, one row each with its customer, products and monthly value; and one
subscription's deliveries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from patron.customers.models import Customer, Product
from patron.subscriptions import fulfilment, pricing, schedule
from patron.subscriptions.models import Subscription, SubscriptionDelivery, SubscriptionItem

# What the status filter offers: running (not ended), each status, or everything.
STATUS_FILTERS = ("running", "active", "paused", "cancelled", "ended", "all")
LIMIT = 200


class ListRow(BaseModel):
    key: str
    customer_id: int
    customer: str
    customer_name: str | None
    status: str
    unit: str
    count: int
    next_due: date | None
    paused_until: date | None
    ends_on: date | None
    products: list[str]
    monthly_value: Decimal | None
    currency: str


class ListPublic(BaseModel):
    data: list[ListRow]
    count: int


def browse(
    session: Session,
    *,
    today: date,
    status: str = "running",
    unit: str | None = None,
    due_within: int | None = None,
    limit: int = LIMIT,
) -> ListPublic:
    """Subscriptions matching the filters, newest first (at most ``limit``), and how many match.
    ``due_within``: active ones whose next delivery is due within that many days of ``today``."""
    where = _filters(today, status, unit, due_within)
    count = session.scalar(select(func.count()).select_from(Subscription).where(*where)) or 0
    rows = session.execute(
        select(Subscription, Customer.external_id, Customer.name)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where(*where)
        .order_by(Subscription.id.desc())
        .limit(limit)
    ).all()
    lines = _lines(session, [row[0].id for row in rows])
    return ListPublic(data=[_row(s, e, n, lines[s.id]) for s, e, n in rows], count=count)


def _filters(
    today: date, status: str, unit: str | None, due_within: int | None
) -> list[ColumnElement[bool]]:
    ended = (Subscription.status == "cancelled") & Subscription.next_due.is_(None)
    where: list[ColumnElement[bool]] = []
    if status == "running":
        where.append(~ended)
    elif status == "ended":
        where.append(ended)
    elif status in ("active", "paused", "cancelled"):
        where.append(Subscription.status == status)
    if unit in schedule.UNITS:
        where.append(Subscription.interval_unit == unit)
    if due_within is not None:
        where.append(Subscription.status != "paused")
        where.append(Subscription.next_due.is_not(None))
        where.append(Subscription.next_due <= today + timedelta(days=max(due_within, 0)))
        where.append(
            or_(Subscription.ends_on.is_(None), Subscription.next_due <= Subscription.ends_on)
        )
    return where


def _lines(session: Session, ids: Sequence[int]) -> dict[int, list[tuple[str, Decimal | None]]]:
    """Per subscription: (product name, line total after the discount) of each item."""
    found: dict[int, list[tuple[str, Decimal | None]]] = defaultdict(list)
    if not ids:
        return found
    rows = session.execute(
        select(
            SubscriptionItem.subscription_id,
            Product.name,
            Product.sku,
            SubscriptionItem.quantity,
            func.coalesce(SubscriptionItem.unit_price, Product.price),
            Subscription.discount_percent,
        )
        .join(Product, Product.id == SubscriptionItem.product_id)
        .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
        .where(SubscriptionItem.subscription_id.in_(ids))
        .order_by(SubscriptionItem.subscription_id, SubscriptionItem.line_no)
    )
    for subscription_id, name, sku, quantity, agreed, discount in rows:
        price = pricing.unit_price(_decimal(agreed), _decimal(discount))
        found[subscription_id].append(
            (name or sku, pricing.line_total(price, Decimal(str(quantity))))
        )
    return found


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _row(
    row: Subscription,
    external_id: str | None,
    name: str | None,
    lines: list[tuple[str, Decimal | None]],
) -> ListRow:
    rhythm = schedule.rhythm_of(row)
    per_delivery = pricing.delivery_value(total for _, total in lines) if lines else None
    return ListRow(
        key=row.key,
        customer_id=row.customer_id,
        customer=external_id or str(row.customer_id),
        customer_name=name,
        status=row.status,
        unit=row.interval_unit,
        count=row.interval_count,
        next_due=row.next_due,
        paused_until=row.paused_until,
        ends_on=row.ends_on,
        products=[product for product, _ in lines],
        monthly_value=pricing.monthly_value(rhythm, per_delivery),
        currency=row.currency,
    )


def deliveries_of(
    session: Session, subscription_id: int, *, limit: int = 50
) -> list[fulfilment.DeliveryPublic]:
    """A subscription's deliveries, the newest due day first, each with the order that
    fulfilled it."""
    rows = session.scalars(
        select(SubscriptionDelivery)
        .where(SubscriptionDelivery.subscription_id == subscription_id)
        .order_by(SubscriptionDelivery.due_on.desc(), SubscriptionDelivery.id.desc())
        .limit(limit)
    ).all()
    return fulfilment.deliveries_public(session, rows)
