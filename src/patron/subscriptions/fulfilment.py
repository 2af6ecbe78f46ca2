"""The shop's side of a delivery: the list of what is due (export), and the order that fulfils it.

The shop fulfils a delivery with a normal order that carries the delivery's reference
(``orders.subscription_ref``, a column of the order import); ``link_orders`` links such orders
to their deliveries in one statement, each round of the worker. A shop that tells Patron only
afterwards names the order with ``fulfil``. An order links only to a delivery of its own
customer (or when it is anonymous); a reference that matches no delivery is reported
(``unmatched_references``), never guessed at.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from patron.customers.models import Order
from patron.errors import Conflict, NotFound, PatronError
from patron.subscriptions.deliveries import customer_keys
from patron.subscriptions.models import DELIVERY_STATUSES, Subscription, SubscriptionDelivery

OPEN = ("due", "announced")
EXPORT_LIMIT = 50_000


class DeliveryItem(BaseModel):
    sku: str
    name: str | None
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal | None
    currency: str


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    reference: str
    subscription: str
    customer: str
    due_on: date
    status: str
    currency: str
    items: list[DeliveryItem]
    total: Decimal | None
    benefit: str | None
    announced_at: datetime | None
    order: str | None
    fulfilled_at: datetime | None


class DeliveriesPublic(BaseModel):
    data: list[DeliveryPublic]
    count: int


class DeliveryProblem(PatronError):
    code = "deliveries.invalid"
    status = 422


# --- linking orders -----------------------------------------------------------------------------


def _matching_order() -> Any:
    """The first order (by number) that quotes a delivery's reference, of its customer or none
    (aliased tables: it sits inside another subquery over orders)."""
    order, owner = aliased(Order), aliased(Subscription)
    return (
        select(func.min(order.id))
        .select_from(order)
        .join(owner, owner.id == SubscriptionDelivery.subscription_id)
        .where(
            order.subscription_ref == SubscriptionDelivery.reference,
            or_(order.customer_id == owner.customer_id, order.customer_id.is_(None)),
        )
        .scalar_subquery()
    )


def link_orders(session: Session, *, now: datetime) -> int:
    """Mark every delivery whose reference an order quotes as fulfilled by that order (the
    first, when several do), in one UPDATE; how many. Idempotent: linked deliveries are left
    alone. A skipped or cancelled delivery that was shipped anyway counts as fulfilled: the
    order says what happened. ``fulfilled_at`` is when the order was placed. Commits."""
    order_id = _matching_order()
    placed = select(Order.placed_at).where(Order.id == order_id).scalar_subquery()
    result = session.execute(
        update(SubscriptionDelivery)
        .where(SubscriptionDelivery.order_id.is_(None), order_id.is_not(None))
        .values(status="fulfilled", order_id=order_id, fulfilled_at=func.coalesce(placed, now))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def unmatched_references(session: Session, *, limit: int = 100) -> list[tuple[str, str]]:
    """Orders that quote a reference no delivery of theirs has: (order, reference), newest
    first. A typo in the shop, or a delivery of another customer."""
    linked = exists().where(SubscriptionDelivery.order_id == Order.id)
    query = (
        select(Order.external_id, Order.subscription_ref)
        .where(Order.subscription_ref.is_not(None), ~linked)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return [(str(order), str(ref)) for order, ref in session.execute(query)]


def link_after_import(session: Session, *, now: datetime) -> dict[str, int]:
    """``link_orders`` right after an order import, for its summary: the deliveries fulfilled
    now and the orders in the store whose reference matches no delivery of theirs (only the
    counts that are not zero, so a shop without subscriptions sees nothing new)."""
    counts = {
        "subscription_deliveries_fulfilled": link_orders(session, now=now),
        "subscription_refs_unmatched": len(unmatched_references(session, limit=EXPORT_LIMIT)),
    }
    return {name: count for name, count in counts.items() if count}


def reference_of(key: str, due_on: str) -> str:
    """A reference from its two parts (as the API's path carries them)."""
    return f"{key}/{due_on}"


def delivery_exists(session: Session, ref: str) -> bool:
    found = select(SubscriptionDelivery.id).where(SubscriptionDelivery.reference == ref.strip())
    return session.scalar(found) is not None


def fulfil(session: Session, ref: str, *, order: str, now: datetime) -> DeliveryPublic:
    """The shop says which order fulfilled a delivery. The order gets the reference, the
    delivery the order; asking again with the same order changes nothing. Commits."""
    delivery = session.scalar(
        select(SubscriptionDelivery)
        .where(SubscriptionDelivery.reference == ref.strip())
        .with_for_update()
    )
    if delivery is None:
        raise NotFound(
            f"no subscription delivery with reference {ref!r}",
            code="deliveries.not_found",
            details={"reference": ref},
        )
    found = session.scalar(select(Order).where(Order.external_id == order.strip()))
    if found is None:
        raise NotFound(
            f"no order {order!r}: import the order first",
            code="orders.not_found",
            details={"order": order},
        )
    _check_fulfilment(session, delivery, found)
    delivery.status, delivery.order_id = "fulfilled", found.id
    delivery.fulfilled_at = delivery.fulfilled_at or found.placed_at
    found.subscription_ref = delivery.reference
    session.commit()
    return deliveries_public(session, [delivery])[0]


def _check_fulfilment(session: Session, delivery: SubscriptionDelivery, order: Order) -> None:
    if delivery.order_id is not None and delivery.order_id != order.id:
        other = session.scalar(select(Order.external_id).where(Order.id == delivery.order_id))
        raise Conflict(
            f"delivery {delivery.reference} was fulfilled by order {other}",
            code="deliveries.already_fulfilled",
            details={"reference": delivery.reference, "order": other},
        )
    if order.subscription_ref not in (None, delivery.reference):
        raise Conflict(
            f"order {order.external_id} fulfils delivery {order.subscription_ref}",
            code="deliveries.order_taken",
            details={"order": order.external_id, "reference": order.subscription_ref},
        )
    owner = session.scalar(
        select(Subscription.customer_id).where(Subscription.id == delivery.subscription_id)
    )
    if order.customer_id is not None and order.customer_id != owner:
        raise Conflict(
            f"order {order.external_id} is another customer's",
            code="deliveries.other_customer",
            details={"order": order.external_id, "reference": delivery.reference},
        )


# --- the due list and its export -----------------------------------------------------------------


def due_deliveries(
    session: Session,
    *,
    status: Sequence[str] = ("announced",),
    since: date | None = None,
    until: date | None = None,
    limit: int = EXPORT_LIMIT,
) -> DeliveriesPublic:
    """Deliveries by due day (``since``/``until`` inclusive) and status, the earliest first."""
    unknown = sorted(set(status) - set(DELIVERY_STATUSES))
    if unknown or not status:
        raise DeliveryProblem(
            f"unknown delivery status {', '.join(unknown) or '(none)'}; choose from "
            f"{', '.join(DELIVERY_STATUSES)}",
            details={"field": "status", "status": unknown},
        )
    if since is not None and until is not None and since > until:
        raise DeliveryProblem(f"from ({since}) is after to ({until})", details={"field": "from"})
    query = select(SubscriptionDelivery).where(SubscriptionDelivery.status.in_(list(status)))
    if since is not None:
        query = query.where(SubscriptionDelivery.due_on >= since)
    if until is not None:
        query = query.where(SubscriptionDelivery.due_on <= until)
    rows = session.scalars(
        query.order_by(SubscriptionDelivery.due_on, SubscriptionDelivery.id).limit(limit)
    ).all()
    data = deliveries_public(session, rows)
    return DeliveriesPublic(data=data, count=len(data))


def deliveries_public(
    session: Session, rows: Sequence[SubscriptionDelivery]
) -> list[DeliveryPublic]:
    subscription_ids = sorted({row.subscription_id for row in rows})
    subscriptions = {
        s.id: s
        for s in session.scalars(select(Subscription).where(Subscription.id.in_(subscription_ids)))
    }
    keys = customer_keys(session, [s.customer_id for s in subscriptions.values()])
    order_ids = sorted({row.order_id for row in rows if row.order_id is not None})
    orders = dict(
        session.execute(select(Order.id, Order.external_id).where(Order.id.in_(order_ids))).all()
    )
    found = []
    for row in rows:
        owner = subscriptions[row.subscription_id]
        items = [DeliveryItem.model_validate(item) for item in row.items]
        amounts = [item.amount for item in items]
        found.append(
            DeliveryPublic(
                reference=row.reference,
                subscription=owner.key,
                customer=keys[owner.customer_id],
                due_on=row.due_on,
                status=row.status,
                currency=owner.currency,
                items=items,
                total=None
                if not amounts or None in amounts
                else sum((a for a in amounts if a is not None), Decimal(0)),
                benefit=owner.benefit,
                announced_at=row.announced_at,
                order=orders.get(row.order_id) if row.order_id is not None else None,
                fulfilled_at=row.fulfilled_at,
            )
        )
    return found


CSV_COLUMNS = (
    "reference",
    "subscription",
    "customer",
    "due_on",
    "status",
    "line",
    "sku",
    "name",
    "quantity",
    "unit_price",
    "amount",
    "currency",
    "benefit",
)


def to_csv(deliveries: DeliveriesPublic) -> str:
    """One row per item of each delivery (the shape a warehouse's pick list takes)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for d in deliveries.data:
        for n, item in enumerate(d.items, start=1):
            writer.writerow(
                (
                    d.reference,
                    d.subscription,
                    d.customer,
                    d.due_on.isoformat(),
                    d.status,
                    n,
                    item.sku,
                    item.name or "",
                    item.quantity,
                    "" if item.unit_price is None else item.unit_price,
                    "" if item.amount is None else item.amount,
                    item.currency,
                    d.benefit or "",
                )
            )
    return out.getvalue()


def to_json(deliveries: DeliveriesPublic) -> str:
    return json.dumps(deliveries.model_dump(mode="json"), ensure_ascii=False, indent=2)
