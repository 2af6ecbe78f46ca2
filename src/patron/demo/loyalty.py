"""The demo shop's loyalty programme with a history: ``programme.yaml`` set up, then the shop's
orders, returns, some reviews and reward redemptions replayed through the loyalty service.

Each booking goes through ``patron.loyalty.service`` in its own transaction, at the instant it
happened, exactly as a shop's integration would book it: lots vest, expire and count toward
tiers as they would have. That costs about 8 ms per booking on a small machine, far too
slow for the 27,000 orders of the default 10,000 customers, so only a sample of the customers
are members, each with their *whole* three-year history (so 24-month expiry and the 12-month
tier window show). The sample is drawn with the demo's seed, the likelier the more often a
customer bought (regulars join clubs), until it holds ``ORDER_SHARE`` of the orders but at most
``MAX_PURCHASES``: 800 orders of some 80 members in the default demo (about 8 s more at its
first start), some 80 orders of 15 members in a test's demo of 300 customers.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.customers.models import Customer, Order, OrderLine, Product, Return
from patron.demo.bulk import Progress
from patron.errors import Conflict
from patron.loyalty import models, service, setup, upkeep
from patron.loyalty.ledger import InsufficientPoints
from patron.loyalty.programme import ProgrammeSpec, read_spec
from patron.loyalty.schemas import (
    EventIn,
    PurchaseIn,
    PurchaseLineIn,
    RedeemIn,
    ReturnIn,
    ReturnLineIn,
)
from patron.outbox.models import OutboxEvent, WebhookDelivery

_Row = Any  # a result row of the shop's tables, read by attribute
PROGRAMME_FILE = Path(__file__).with_name("programme.yaml")
ACTOR = "demo"
ORDER_SHARE = 0.1  # of the shop's orders, made by club members …
MAX_PURCHASES = 800  # … but no more than this: what fits the demo's start-up budget
REVIEW_SHARE = 0.06  # of the members' orders, reviewed a few days later
REDEEM_CHANCE = 0.2  # at a purchase with enough points, the member redeems a reward …
SAVING_UP = 500  # … less often one that costs fewer points than this
REPORT_EVERY = 25  # bookings between two progress reports
# Children before parents: what ``reset`` deletes, so that the demo's customers can go too.
TABLES: tuple[type[Any], ...] = (
    WebhookDelivery,
    OutboxEvent,
    models.VoucherUse,
    models.Redemption,
    models.Voucher,
    models.Reward,
    models.Allocation,
    models.Entry,
    models.Lot,
    models.Event,
    models.Account,
    models.AuditRecord,
    models.Programme,
)


@dataclass(frozen=True)
class LoyaltySummary:
    """What the replay booked."""

    programme: str
    members: int
    purchases: int
    returns: int
    reviews: int
    redemptions: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Booking:
    at: datetime
    key: str  # the idempotency key: the demo's bookings can be told apart and are never repeated
    customer: str
    payload: PurchaseIn | ReturnIn | EventIn


def reset(connection: Connection) -> None:
    """Delete the loyalty programmes, their ledgers and the events they sent to the outbox."""
    for model in TABLES:
        connection.execute(delete(model))


def read_programme(path: Path = PROGRAMME_FILE) -> ProgrammeSpec:
    return read_spec(yaml.safe_load(path.read_text(encoding="utf-8")), source=path.name)


def build(
    sessions: sessionmaker[Session],
    *,
    seed: int,
    now: datetime,
    progress: Progress | None = None,
    max_purchases: int = MAX_PURCHASES,
) -> LoyaltySummary:
    """Set up the demo programme and replay the members' history up to ``now``; then vest,
    expire and review tiers as of ``now``, as the worker would have done all along."""
    started = time.perf_counter()
    rng = random.Random(seed)
    spec = read_programme()
    with sessions() as session:
        members = _members(session, rng, max_purchases)
        bookings = sorted(_bookings(session, members, rng, now), key=lambda b: b.at)
        opened = bookings[0].at - timedelta(days=1) if bookings else now
        setup.set_up(session, spec=spec, actor=ACTOR, now=opened)
        rewards = _Rewards(spec, rng)
        counts: dict[type, int] = defaultdict(int)
        for done, booking in enumerate(bookings, start=1):
            _book(session, spec.code, booking, rewards)
            counts[type(booking.payload)] += 1
            if progress is not None and (done % REPORT_EVERY == 0 or done == len(bookings)):
                progress("loyalty club history", done, len(bookings))
        upkeep.run_all(session, as_of=now)
    return LoyaltySummary(
        programme=spec.code,
        members=len(members),
        purchases=counts[PurchaseIn],
        returns=counts[ReturnIn],
        reviews=counts[EventIn],
        redemptions=rewards.redeemed,
        seconds=round(time.perf_counter() - started, 2),
    )


# --- what happened -----------------------------------------------------------------------------


def _members(session: Session, rng: random.Random, max_purchases: int) -> dict[int, str]:
    """Customer number → key of the customers drawn into the club.

    A weighted draw without replacement (Efraimidis–Spirakis: the largest ``u ** (1 / w)``), the
    weight being the customer's number of orders.
    """
    buyers: list[_Row] = list(
        session.execute(
            select(Order.customer_id, Customer.external_id, func.count())
            .join(Customer, Customer.id == Order.customer_id)
            .group_by(Order.customer_id, Customer.external_id)
            .order_by(Order.customer_id)
        )
    )
    budget = min(max_purchases, round(ORDER_SHARE * sum(count for *_, count in buyers)))
    drawn = sorted(buyers, key=lambda buyer: rng.random() ** (1 / buyer[2]), reverse=True)
    members: dict[int, str] = {}
    orders = 0
    for customer_id, external_id, count in drawn:
        if orders + count <= budget:
            members[customer_id] = external_id or str(customer_id)
            orders += count
    return members


def _bookings(
    session: Session, members: dict[int, str], rng: random.Random, now: datetime
) -> Iterator[_Booking]:
    """The members' purchases with some reviews, then their returns; in no particular order."""
    ids = sorted(members)
    orders: list[_Row] = list(
        session.execute(
            select(Order.id, Order.external_id, Order.customer_id, Order.placed_at, Order.currency)
            .where(Order.customer_id.in_(ids), Order.placed_at <= now)
            .order_by(Order.id)
        )
    )
    lines = _lines(session, ids)
    position: dict[int, tuple[int, Decimal]] = {}  # order line → (index in its purchase, quantity)
    for order in orders:
        customer = members[order.customer_id]
        for index, line in enumerate(lines[order.id]):
            position[line.id] = (index, line.quantity)
        purchase = _purchase(customer, order, lines[order.id])
        yield _Booking(order.placed_at, f"demo:purchase:{order.external_id}", customer, purchase)
        reviewed = order.placed_at + timedelta(days=rng.uniform(2, 12))
        if rng.random() < REVIEW_SHARE and reviewed <= now:
            review = EventIn(customer=customer, type="review", reference=f"R-{order.external_id}")
            yield _Booking(reviewed, f"demo:review:{order.external_id}", customer, review)
    yield from _returns(session, members, orders, position, now)


def _lines(session: Session, customer_ids: list[int]) -> dict[int, list[_Row]]:
    """Order → its lines in order, with the product's sku and category."""
    found: dict[int, list[_Row]] = defaultdict(list)
    for line in session.execute(
        select(
            OrderLine.id,
            OrderLine.order_id,
            OrderLine.kind,
            OrderLine.amount,
            OrderLine.quantity,
            Product.sku,
            Product.category,
        )
        .join(Order, Order.id == OrderLine.order_id)
        .outerjoin(Product, Product.id == OrderLine.product_id)
        .where(Order.customer_id.in_(customer_ids))
        .order_by(OrderLine.order_id, OrderLine.line_no)
    ):
        found[line.order_id].append(line)
    return found


def _purchase(customer: str, order: _Row, lines: list[_Row]) -> PurchaseIn:
    return PurchaseIn(
        customer=customer,
        order=order.external_id,
        currency=order.currency,
        occurred_at=order.placed_at,
        lines=[
            PurchaseLineIn(
                amount=line.amount,
                # goods sold earn; bookkeeping lines (stock corrections, write-offs) do not
                kind="product" if line.kind == "sale" else "fee",
                sku=line.sku,
                category=line.category,
                quantity=line.quantity,
            )
            for line in lines
        ],
    )


def _returns(
    session: Session,
    members: dict[int, str],
    orders: list[_Row],
    position: dict[int, tuple[int, Decimal]],
    now: datetime,
) -> Iterator[_Booking]:
    """One return per document and order: the lines that came back, each with the share of its
    quantity (cancellations too: they take back points just the same)."""
    placed = {order.id: order for order in orders}
    documents: dict[tuple[str, int], list[_Row]] = defaultdict(list)
    for row in session.execute(
        select(
            Return.document,
            Return.order_line_id,
            Return.quantity,
            Return.returned_at,
            OrderLine.order_id,
        )
        .join(OrderLine, OrderLine.id == Return.order_line_id)
        .where(Return.customer_id.in_(sorted(members)), Return.returned_at <= now)
        .order_by(Return.id)
    ):
        if row.order_id in placed:
            documents[(row.document, row.order_id)].append(row)
    for (document, order_id), rows in documents.items():
        order = placed[order_id]
        customer = members[order.customer_id]
        shares: dict[int, Decimal] = defaultdict(Decimal)
        for row in rows:
            index, quantity = position[row.order_line_id]
            shares[index] += row.quantity / quantity
        returned = ReturnIn(
            customer=customer,
            order=order.external_id,
            lines=[ReturnLineIn(line=i, share=min(s, Decimal(1))) for i, s in shares.items()],
        )
        at = max(row.returned_at for row in rows)
        yield _Booking(at, f"demo:return:{document}:{order.external_id}", customer, returned)


# --- booking it --------------------------------------------------------------------------------


class _Rewards:
    """Which reward a member with enough points takes at the checkout, now and then: the dearest
    they can have, the cheap ones less often (members save up for a voucher)."""

    def __init__(self, spec: ProgrammeSpec, rng: random.Random) -> None:
        self.rewards = spec.rewards
        self.tiers = [tier.code for tier in spec.tiers.levels]
        self.rng = rng
        self.taken: dict[tuple[str, str], int] = defaultdict(int)
        self.redeemed = 0

    def pick(self, customer: str, available: int, tier: str | None) -> str | None:
        chance = self.rng.random()
        rank = self.tiers.index(tier) if tier in self.tiers else -1
        choices = [
            reward
            for reward in self.rewards
            if reward.cost <= available
            and (reward.min_tier is None or rank >= self.tiers.index(reward.min_tier))
            and (
                reward.per_member_limit is None
                or self.taken[(customer, reward.code)] < reward.per_member_limit
            )
        ]
        if not choices:
            return None
        dearest = max(choices, key=lambda reward: reward.cost)
        return dearest.code if chance < REDEEM_CHANCE * min(1, dearest.cost / SAVING_UP) else None

    def redeem(
        self, session: Session, programme: str, customer: str, order: str, at: datetime, reward: str
    ) -> None:
        try:
            service.redeem(
                session,
                programme_code=programme,
                key=f"demo:reward:{order}",
                request=RedeemIn(customer=customer, reward=reward),
                actor=None,
                now=at,
            )
        except (Conflict, InsufficientPoints):  # e.g. out of stock: the member keeps the points
            return
        self.taken[(customer, reward)] += 1
        self.redeemed += 1


def _book(session: Session, programme: str, booking: _Booking, rewards: _Rewards) -> None:
    payload, at = booking.payload, booking.at
    if isinstance(payload, ReturnIn):
        service.record_return(
            session, programme_code=programme, key=booking.key, returned=payload, actor=None, now=at
        )
    elif isinstance(payload, EventIn):
        service.record_event(
            session, programme_code=programme, key=booking.key, happened=payload, actor=None, now=at
        )
    else:
        booked = service.record_purchase(
            session, programme_code=programme, key=booking.key, purchase=payload, actor=None, now=at
        )
        balance = booked.booking.balance
        tier = balance.tier.code if balance.tier else None
        chosen = rewards.pick(booking.customer, balance.available, tier)
        if chosen is not None:
            rewards.redeem(session, programme, booking.customer, payload.order, at, chosen)
