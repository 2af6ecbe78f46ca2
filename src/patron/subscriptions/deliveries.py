"""The worker's side of the rhythm: paused subscriptions run again, due deliveries are opened
and announced to the shop, and cancelled ones end.

A delivery is opened ``subscription_announce_days`` before it is due, on the calendar of the
subscription's own time zone: at 23:30 UTC on 30 November it is already 1 December in Berlin
but not yet in New York. Opening one writes its row (reference ``<key>/<due_on>``, the items
and prices as they are that day) and the ``subscription.due`` webhook event in one
transaction, and moves ``next_due`` one step along the rhythm. Each delivery is opened exactly
once: the subscriptions are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (a second
worker passes over what the first holds), and (subscription, due_on) is unique, inserted with
ON CONFLICT DO NOTHING, with the event keyed by the reference.

The webhook names the customer by their key (external id, else number) and nothing more
personal: the shop holds the address it ships to; Patron does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Table, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.config import Settings
from patron.customers.models import Customer, Product
from patron.outbox import service as outbox
from patron.subscriptions import pricing, schedule
from patron.subscriptions.models import (
    Subscription,
    SubscriptionChange,
    SubscriptionDelivery,
    SubscriptionItem,
)

WORKER = "worker"
# A subscription far behind (a worker stopped for months) catches up a few deliveries per round
# rather than flooding the shop in one.
CATCH_UP = 12
CENT = Decimal("0.01")
# Local dates differ from the UTC date by at most a day (UTC-12 … UTC+14): rows due by the UTC
# date plus this are the candidates; each is then checked on its own calendar.
ZONE_SLACK = timedelta(days=1)


def zone(name: str | None, settings: Settings) -> ZoneInfo:
    """A subscription's time zone; the shop's when the stored name is unknown here."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return settings.tz


def local_today(row: Subscription, settings: Settings, now: datetime) -> date:
    return schedule.local_today(now, zone(row.time_zone, settings))


def customer_keys(session: Session, customer_ids: Sequence[int]) -> dict[int, str]:
    """How the shop knows each customer: their external id, else their number."""
    if not customer_ids:
        return {}
    rows = session.execute(
        select(Customer.id, Customer.external_id).where(Customer.id.in_(sorted(set(customer_ids))))
    )
    return {int(i): external or str(i) for i, external in rows}


def change(
    session: Session,
    row: Subscription,
    kind: str,
    *,
    now: datetime,
    details: dict[str, Any] | None = None,
    actor: str = WORKER,
) -> SubscriptionChange:
    """A line of the subscription's history (the worker's, unless said otherwise)."""
    made = SubscriptionChange(
        subscription_id=row.id, kind=kind, at=now, actor=actor, details=details
    )
    session.add(made)
    return made


def event(
    session: Session, row: Subscription, topic: str, *, customer: str, now: datetime, **more: Any
) -> None:
    """A webhook event about a subscription the worker changed, keyed so it is sent once."""
    payload = {
        "subscription": row.key,
        "customer": customer,
        "status": row.status,
        "actor": WORKER,
        **more,
    }
    suffix = ":".join(str(v) for v in more.values())
    outbox.enqueue(session, topic=topic, payload=payload, key=f"{topic}:{row.id}:{suffix}", now=now)


# --- pauses that end ----------------------------------------------------------------------------


def resume_paused(session: Session, *, settings: Settings, now: datetime) -> int:
    """Paused subscriptions whose pause ends run again; how many. Commits.

    A pause ends ``subscription_announce_days`` before ``paused_until``, so that the first
    delivery after it is announced to the shop in time; no delivery falls before
    ``paused_until`` (the rhythm's next date on or after it, ``schedule.resume_on``).
    """
    days = settings.subscription_announce_days
    horizon = now.date() + timedelta(days=days) + ZONE_SLACK
    rows = session.scalars(
        select(Subscription)
        .where(
            Subscription.status == "paused",
            Subscription.paused_until.is_not(None),
            Subscription.paused_until <= horizon,
        )
        .order_by(Subscription.id)
        .with_for_update(skip_locked=True)
    ).all()
    keys = customer_keys(session, [r.customer_id for r in rows])
    resumed = 0
    for row in rows:
        until = cast(date, row.paused_until)
        if not schedule.is_due(until, local_today(row, settings, now), days):
            continue
        next_due = schedule.resume_on(schedule.rhythm_of(row), row.next_due or until, until)
        row.status, row.paused_until, row.next_due = "active", None, next_due
        change(session, row, "resumed", now=now, details={"next_due": next_due.isoformat()})
        event(
            session,
            row,
            "subscription.resumed",
            customer=keys[row.customer_id],
            now=now,
            next_due=next_due.isoformat(),
        )
        resumed += 1
    session.commit()
    return resumed


# --- due deliveries -----------------------------------------------------------------------------


def open_due(session: Session, *, settings: Settings, now: datetime) -> dict[str, int]:
    """Open and announce every delivery due within ``subscription_announce_days`` of each
    subscription's local today, and move its ``next_due`` on; commits. The counts of
    deliveries announced and of subscriptions whose next date passed its end (``ends_on``).
    """
    days = settings.subscription_announce_days
    horizon = now.date() + timedelta(days=days) + ZONE_SLACK
    rows = session.scalars(
        select(Subscription)
        .where(
            Subscription.status.in_(("active", "cancelled")),
            Subscription.next_due.is_not(None),
            Subscription.next_due <= horizon,
        )
        .order_by(Subscription.id)
        .with_for_update(skip_locked=True)
    ).all()
    items = snapshot_items(session, rows)
    keys = customer_keys(session, [r.customer_id for r in rows])
    counts = {"announced": 0}
    for row in rows:
        today = local_today(row, settings, now)
        rhythm = schedule.rhythm_of(row)
        for _ in range(CATCH_UP):
            due = row.next_due
            if due is None or not schedule.is_due(due, today, days):
                break
            if row.ends_on is not None and due > row.ends_on:
                break  # the contract ends first; ``end_finished`` clears the date
            if _announce(session, row, due, items[row.id], customer=keys[row.customer_id], now=now):
                counts["announced"] += 1
            row.next_due = schedule.next_after(rhythm, due)
    session.commit()
    return counts


def reference(key: str, due_on: date) -> str:
    """What the shop quotes on the order that fulfils a delivery."""
    return f"{key}/{due_on.isoformat()}"


def _announce(
    session: Session,
    row: Subscription,
    due: date,
    items: list[dict[str, Any]],
    *,
    customer: str,
    now: datetime,
) -> bool:
    """The delivery's row and its ``subscription.due`` event; False when it was there already
    (a skip recorded it, or another worker was quicker)."""
    ref = reference(row.key, due)
    values = {
        "subscription_id": row.id,
        "reference": ref,
        "due_on": due,
        "status": "announced",
        "items": items,
        "announced_at": now,
        "created_at": now,
    }
    connection = session.connection()
    added = connection.execute(_INSERT[connection.dialect.name].values(values)).first()
    if added is None:
        return False
    outbox.enqueue(
        session,
        topic="subscription.due",
        payload={
            "reference": ref,
            "subscription": row.key,
            "customer": customer,
            "due_on": due.isoformat(),
            "currency": row.currency,
            "items": items,
            "total": total(items),
            "benefit": row.benefit,
        },
        key=f"subscription.due:{ref}",
        now=now,
    )
    return True


_DELIVERIES = cast("Table", SubscriptionDelivery.__table__)
_INSERT = {
    name: dialect.insert(_DELIVERIES)
    .on_conflict_do_nothing(index_elements=[_DELIVERIES.c.subscription_id, _DELIVERIES.c.due_on])
    .returning(_DELIVERIES.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def snapshot_items(
    session: Session, rows: Sequence[Subscription]
) -> dict[int, list[dict[str, Any]]]:
    """Each subscription's items as a delivery keeps them: sku, name, quantity, the unit price
    after the subscriber discount, the line amount and the currency (amounts as text, exact)."""
    found: dict[int, list[dict[str, Any]]] = {row.id: [] for row in rows}
    if not rows:
        return found
    by_id = {row.id: row for row in rows}
    query = (
        select(SubscriptionItem, Product.sku, Product.name, Product.price)
        .join(Product, Product.id == SubscriptionItem.product_id)
        .where(SubscriptionItem.subscription_id.in_(sorted(by_id)))
        .order_by(SubscriptionItem.subscription_id, SubscriptionItem.line_no)
    )
    for item, sku, name, list_price in session.execute(query):
        row = by_id[item.subscription_id]
        unit = pricing.unit_price(
            item.unit_price if item.unit_price is not None else list_price, row.discount_percent
        )
        amount = pricing.line_total(unit, item.quantity)
        found[row.id].append(
            {
                "sku": sku,
                "name": name,
                "quantity": _number(item.quantity),
                "unit_price": _money(unit),
                "amount": _money(amount),
                "currency": row.currency,
            }
        )
    return found


def total(items: Sequence[dict[str, Any]]) -> str | None:
    """The sum of the line amounts; None when a line has no price (the shop prices it)."""
    amounts = [item.get("amount") for item in items]
    if not amounts or any(a is None for a in amounts):
        return None
    return _money(sum((Decimal(str(a)) for a in amounts), Decimal(0)))


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT))


def _number(value: Decimal) -> str:
    """A quantity as plain text without trailing zeros ("2", "1.5")."""
    return format(value.normalize(), "f")


# --- contracts that end ---------------------------------------------------------------------------


def end_finished(session: Session, *, settings: Settings, now: datetime) -> int:
    """Cancelled subscriptions whose last day (``ends_on``) has passed end: no next date, an
    ``ended`` change and a ``subscription.ended`` event, once; deliveries still open after that
    day are cancelled. How many ended. Commits."""
    horizon = now.date() + ZONE_SLACK
    ended = exists().where(
        SubscriptionChange.subscription_id == Subscription.id, SubscriptionChange.kind == "ended"
    )
    rows = session.scalars(
        select(Subscription)
        .where(Subscription.ends_on.is_not(None), Subscription.ends_on < horizon, ~ended)
        .order_by(Subscription.id)
        .with_for_update(skip_locked=True)
    ).all()
    keys = customer_keys(session, [r.customer_id for r in rows])
    count = 0
    for row in rows:
        last = cast(date, row.ends_on)
        if last >= local_today(row, settings, now):
            continue
        row.next_due = None
        for delivery in session.scalars(
            select(SubscriptionDelivery).where(
                SubscriptionDelivery.subscription_id == row.id,
                SubscriptionDelivery.status.in_(("due", "announced")),
                SubscriptionDelivery.due_on > last,
            )
        ):
            delivery.status = "cancelled"
        change(session, row, "ended", now=now, details={"ends_on": last.isoformat()})
        event(
            session,
            row,
            "subscription.ended",
            customer=keys[row.customer_id],
            now=now,
            ends_on=last.isoformat(),
        )
        count += 1
    session.commit()
    return count
