"""The demo shop's subscribers: regular buyers of a consumable who took a delivery contract.

What the simulation assumes, so the reports have something true to find:

- A customer who ordered the same replenishable product on at least ``MIN_ORDERS`` orders is a
  regular buyer; ``SUBSCRIBE_SHARE`` of them (``SUBSCRIBE_SHARE_GONE`` of those who dropped
  out later) took a subscription for it, starting with one of their earlier orders, at the
  rhythm of their own gaps (rounded as the offer of a subscription rounds it). Their later
  orders with that product are the subscription's fulfilled deliveries (the order carries
  the delivery's reference, as a shop's would).
- Subscribers who dropped out in the simulation (their true dropout moment) cancelled then,
  for a reason drawn from ``REASONS``; a few active ones are paused over the turn of the year.
- Half the contracts have a minimum term (6 or 12 months, 30 days' notice, renewed by 3 or 6
  months), half run open-ended with 14 days' notice; a subscriber pays ``DISCOUNTS`` less or
  gets free delivery.

Subscribers are regular buyers by construction, so their CLV is higher than others': the
report's comparison with similar non-subscribers is an association, which is what it says.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from statistics import mean, median
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.config import Settings
from patron.customers.models import Customer, Order, OrderLine, Product
from patron.demo.models import DemoCustomerTruth
from patron.loyalty.models import Account
from patron.subscriptions import offers, schedule, terms
from patron.subscriptions.models import (
    Subscription,
    SubscriptionChange,
    SubscriptionDelivery,
    SubscriptionItem,
)

MIN_ORDERS = 3
SUBSCRIBE_SHARE = 0.6  # of the regular buyers still buying; of those who later dropped out:
SUBSCRIBE_SHARE_GONE = 0.3
PAUSE_SHARE = 0.06
OFFER_SHARE = 0.3  # subscriptions that followed an "offer a subscription" message
DISCOUNTS = (Decimal(5), Decimal(10))
BENEFIT = "free delivery"
REASONS = {
    "too_much_product": 0.3,
    "too_expensive": 0.22,
    "no_longer_needed": 0.18,
    "switching_supplier": 0.12,
    "delivery_problems": 0.1,
    "quality": 0.05,
    "moving": 0.03,
}
# Children before parents: what ``reset`` deletes.
TABLES = (SubscriptionChange, SubscriptionDelivery, SubscriptionItem, Subscription)


@dataclass(frozen=True)
class SubscriptionSummary:
    subscriptions: int
    active: int
    paused: int
    cancelled: int
    deliveries: int


@dataclass(frozen=True)
class _Purchase:
    order_id: int
    placed_at: datetime
    quantity: Decimal


def build(
    sessions: sessionmaker[Session], *, seed: int, settings: Settings, now: datetime
) -> SubscriptionSummary:
    """Subscriptions of the demo's regular buyers, their fulfilled deliveries (the orders they
    placed since), cancellations at their dropout and a few pauses; next deliveries on or after
    ``now``, so the worker has the coming ones to announce and none of the past."""
    rng = random.Random(seed + 9)
    counts: dict[str, int] = defaultdict(int)
    with sessions() as session:
        regulars = _regular_buyers(session)
        zones = dict(
            session.execute(
                select(Customer.id, Customer.time_zone).where(Customer.id.in_(list(regulars)))
            ).all()
            if regulars
            else []
        )
        dropped = dict(
            session.execute(
                select(DemoCustomerTruth.customer_id, DemoCustomerTruth.dropped_out_at).where(
                    DemoCustomerTruth.dropped_out_at.is_not(None)
                )
            ).all()
        )
        prices = dict(session.execute(select(Product.id, Product.price)).all())
        for number, customer_id in enumerate(sorted(regulars), start=1):
            share = SUBSCRIBE_SHARE_GONE if customer_id in dropped else SUBSCRIBE_SHARE
            if rng.random() >= share:
                continue
            product_id, purchases = regulars[customer_id]
            status = _subscribe(
                session,
                rng,
                number=number,
                customer_id=customer_id,
                product_id=product_id,
                price=prices.get(product_id),
                purchases=purchases,
                zone=zones.get(customer_id) or settings.timezone,
                dropped_at=dropped.get(customer_id),
                settings=settings,
                now=now,
            )
            counts[status] += 1
        session.flush()
        deliveries = session.query(SubscriptionDelivery).count()
        session.commit()
    total = sum(counts.values())
    return SubscriptionSummary(
        total, counts["active"], counts["paused"], counts["cancelled"], deliveries
    )


def _regular_buyers(session: Session) -> dict[int, tuple[int, list[_Purchase]]]:
    """Each regular buyer's most often ordered replenishable product and its orders."""
    lines = (
        select(
            Order.customer_id, OrderLine.product_id, Order.id, Order.placed_at, OrderLine.quantity
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(
            Order.customer_id.is_not(None),
            Order.status == "completed",
            Product.replenishable.is_(True),
            OrderLine.kind == "sale",
        )
    )
    bought: dict[tuple[int, int], dict[int, _Purchase]] = defaultdict(dict)
    for customer_id, product_id, order_id, placed_at, quantity in session.execute(lines):
        if customer_id is None or product_id is None:
            continue
        orders = bought[(customer_id, product_id)]
        if order_id not in orders:  # one purchase per order, whatever its lines
            orders[order_id] = _Purchase(order_id, placed_at, Decimal(quantity))
    best: dict[int, tuple[int, list[_Purchase]]] = {}
    for (customer_id, product_id), orders in bought.items():
        if len(orders) < MIN_ORDERS:
            continue
        known = best.get(customer_id)
        if known is None or (len(orders), -product_id) > (len(known[1]), -known[0]):
            purchases = sorted(orders.values(), key=lambda p: (p.placed_at, p.order_id))
            best[customer_id] = (product_id, purchases)
    return best


def _rhythm(purchases: list[_Purchase]) -> schedule.Rhythm:
    """The buyer's own rhythm (the median gap of their orders), rounded as Patron's offer of a
    subscription rounds a candidate's interval."""
    gaps = [
        (later.placed_at - earlier.placed_at).days
        for earlier, later in itertools.pairwise(purchases)
    ]
    return offers.suggest_rhythm(max(7, median(gaps)) if gaps else 30)


def _subscribe(
    session: Session,
    rng: random.Random,
    *,
    number: int,
    customer_id: int,
    product_id: int,
    price: Decimal | None,
    purchases: list[_Purchase],
    zone: str,
    dropped_at: datetime | None,
    settings: Settings,
    now: datetime,
) -> str:
    tz = ZoneInfo(zone)
    begin = rng.randint(0, len(purchases) - MIN_ORDERS + 1)  # at least two deliveries follow
    delivered = purchases[begin:]
    started_at = delivered[0].placed_at
    started_on = started_at.astimezone(tz).date()
    rhythm = _rhythm(delivered)
    rhythm = schedule.month_anchor(rhythm, started_on)
    contract = _contract(rng, started_on)
    key = f"S-{number:06d}"
    subscription = Subscription(
        key=key,
        customer_id=customer_id,
        interval_unit=rhythm.unit,
        interval_count=rhythm.count,
        anchor_day=rhythm.anchor_day,
        time_zone=zone,
        status="active",
        discount_percent=rng.choice(DISCOUNTS) if rng.random() < 0.7 else None,
        benefit=BENEFIT if rng.random() < 0.5 else None,
        currency=settings.currency,
        started_on=started_on,
        minimum_term_months=contract.minimum_term_months,
        notice_days=contract.notice_days,
        renewal_months=contract.renewal_months,
        term_ends_on=terms.term_in_force(contract, now.astimezone(tz).date()),
        source="offer" if rng.random() < OFFER_SHARE else "api",
        created_at=started_at,
        updated_at=started_at,
    )
    session.add(subscription)
    session.flush()
    quantity = Decimal(round(mean(float(p.quantity) for p in delivered)) or 1)
    session.add(
        SubscriptionItem(
            subscription_id=subscription.id,
            line_no=1,
            product_id=product_id,
            quantity=quantity,
            unit_price=price,
        )
    )
    _change(session, subscription, "created", started_at, actor=subscription.source)
    ended = dropped_at is not None and dropped_at < now
    days: set[date] = set()
    for purchase in delivered:
        if ended and dropped_at is not None and purchase.placed_at > dropped_at:
            break
        due_on = purchase.placed_at.astimezone(tz).date()
        if due_on not in days:  # two orders on one day: the first fulfils that day's delivery
            days.add(due_on)
            _deliver(session, subscription, purchase, due_on, product_id, price, quantity)
    local_today = now.astimezone(tz).date()
    subscription.next_due = _on_or_after(rhythm, started_on, local_today)
    if ended and dropped_at is not None:
        return _cancel(session, rng, subscription, dropped_at, tz, local_today)
    if rng.random() < PAUSE_SHARE:
        paused_at = now - timedelta(days=rng.randint(1, 20))
        subscription.status = "paused"
        subscription.paused_until = local_today + timedelta(days=rng.choice((21, 35, 49)))
        _change(
            session,
            subscription,
            "paused",
            paused_at,
            actor="portal",
            details={"until": subscription.paused_until.isoformat()},
        )
        return "paused"
    return "active"


def _contract(rng: random.Random, started_on: date) -> terms.Contract:
    if rng.random() < 0.5:
        return terms.Contract(started_on, rng.choice((6, 12)), 30, rng.choice((3, 6)))
    return terms.Contract(started_on, 0, 14, 0)


def _on_or_after(rhythm: schedule.Rhythm, start: date, day: date) -> date:
    """The first date of the series from ``start`` on or after ``day``."""
    return schedule.resume_on(rhythm, start, day)


def _deliver(
    session: Session,
    subscription: Subscription,
    purchase: _Purchase,
    due_on: date,
    product_id: int,
    price: Decimal | None,
    quantity: Decimal,
) -> None:
    reference = f"{subscription.key}/{due_on.isoformat()}"
    unit = (price or Decimal(0)) * (1 - (subscription.discount_percent or Decimal(0)) / 100)
    session.add(
        SubscriptionDelivery(
            subscription_id=subscription.id,
            reference=reference,
            due_on=due_on,
            status="fulfilled",
            items=[
                {
                    "line_no": 1,
                    "product_id": product_id,
                    "quantity": str(quantity),
                    "unit_price": str(unit.quantize(Decimal("0.01"))),
                }
            ],
            announced_at=purchase.placed_at - timedelta(days=3),
            order_id=purchase.order_id,
            fulfilled_at=purchase.placed_at,
            created_at=purchase.placed_at - timedelta(days=3),
        )
    )
    session.execute(
        update(Order).where(Order.id == purchase.order_id).values(subscription_ref=reference)
    )


def _cancel(
    session: Session,
    rng: random.Random,
    subscription: Subscription,
    dropped_at: datetime,
    tz: ZoneInfo,
    local_today: date,
) -> str:
    """Cancelled when the customer dropped out; deliveries go on until the contract ends."""
    asked_on = dropped_at.astimezone(tz).date()
    contract = terms.Contract(
        subscription.started_on,
        subscription.minimum_term_months,
        subscription.notice_days,
        subscription.renewal_months,
    )
    term_end = terms.term_in_force(contract, asked_on)
    subscription.status = "cancelled"
    subscription.cancel_requested_at = dropped_at
    subscription.ends_on = terms.earliest_end(contract, term_end, asked_on)
    subscription.term_ends_on = term_end
    subscription.cancel_reason = rng.choices(list(REASONS), weights=list(REASONS.values()))[0]
    reason = subscription.cancel_reason
    _change(session, subscription, "cancelled", dropped_at, actor="portal", reason=reason)
    if subscription.ends_on < local_today:
        subscription.next_due = None
        ended_at = datetime.combine(subscription.ends_on, datetime.min.time(), tz).astimezone(UTC)
        _change(session, subscription, "ended", max(ended_at, dropped_at), actor="worker")
    elif subscription.next_due is not None and subscription.next_due > subscription.ends_on:
        subscription.next_due = None
    return "cancelled"


def _change(
    session: Session,
    subscription: Subscription,
    kind: str,
    at: datetime,
    *,
    actor: str,
    reason: str | None = None,
    details: dict[str, str] | None = None,
) -> None:
    session.add(
        SubscriptionChange(
            subscription_id=subscription.id,
            kind=kind,
            at=at,
            actor=actor,
            reason=reason,
            details=details,
        )
    )


def reset(connection: Connection) -> None:
    connection.execute(update(Order).values(subscription_ref=None))
    for model in TABLES:
        connection.execute(delete(model))


def portal_guest(sessions: sessionmaker[Session]) -> str | None:
    """The e-mail address of a demo subscriber to try the customer portal as: an active
    subscriber with an address, a member of the loyalty club if one is (so the portal shows
    points and a tier too); the demo shows the sign-in link instead of mailing it."""
    member = select(Account.id).where(Account.customer_id == Customer.id).exists()
    with sessions() as session:
        found = session.execute(
            select(Customer.email)
            .join(Subscription, Subscription.customer_id == Customer.id)
            .where(Subscription.status == "active", Customer.email.is_not(None))
            .order_by(member.desc(), Subscription.id)
            .limit(1)
        ).scalar_one_or_none()
    return found
