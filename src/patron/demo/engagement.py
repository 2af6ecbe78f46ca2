"""The demo shop's engagement: the shipped templates, some journeys switched on, and one past
newsletter with a holdout whose true effect is known.

The newsletter went out on ``NEWSLETTER_AT`` through the real campaign run (control group,
consent, holdout draw, rendering, pacing), and its messages are then marked as sent, some
opened and clicked. Its effect is simulated: a treated customer places one extra order within
the report's window with probability ``TRUE_LIFT`` — the ground truth the campaign report's
uplift should recover within its confidence interval. Customers in the holdout get no such
order, so the difference is the newsletter's effect alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.config import Settings
from patron.customers.models import Order, OrderLine, Product
from patron.engage import campaigns, library
from patron.engage.models import (
    Campaign,
    CampaignMember,
    ConsentRequest,
    Experiment,
    ExperimentResult,
    Message,
    MessageTemplate,
    Suppression,
)
from patron.engage.schemas import CampaignCreate, VariantIn

NEWSLETTER_AT = datetime(2026, 9, 15, 8, 0, tzinfo=UTC)  # six weeks before the demo's "today"
NEWSLETTER_KEY = "demo-autumn-newsletter"
WINDOW_DAYS = 30
HOLDOUT_SHARE = 0.2
TRUE_LIFT = 0.06  # a treated customer's extra chance of an order within the window
OPENED, CLICKED = 0.45, 0.12  # of the sent messages
JOURNEYS = ("thank_you", "loyalty_welcome", "birthday", "tier_upgrade", "win_back", "feedback")
ACTOR = "demo"
# Children before parents: what ``reset`` deletes.
TABLES = (
    Message,
    CampaignMember,
    Campaign,
    MessageTemplate,
    Suppression,
    ConsentRequest,
    ExperimentResult,
    Experiment,
)


@dataclass(frozen=True)
class EngagementSummary:
    journeys: int
    newsletter_members: int
    newsletter_sent: int
    extra_orders: int


def build(
    sessions: sessionmaker[Session], *, seed: int, settings: Settings, now: datetime
) -> EngagementSummary:
    rng = random.Random(seed)
    with sessions() as session:
        library.install(session, now=NEWSLETTER_AT)
        session.commit()
        request = CampaignCreate(
            name="Autumn newsletter",
            key=NEWSLETTER_KEY,
            variants=[VariantIn(name="A", template="newsletter")],
            holdout_share=HOLDOUT_SHARE,
            window_days=WINDOW_DAYS,
        )
        made = campaigns.create(session, request, actor=ACTOR, now=NEWSLETTER_AT)
        campaigns.run(session, made.id, settings=settings, now=NEWSLETTER_AT)
        sent = _deliver(session, made.id, rng)
        extra = _effect(session, made.id, rng)
        for journey in JOURNEYS:
            campaigns.enable_journey(session, journey, actor=ACTOR, now=now)
        members = session.scalars(
            select(CampaignMember.id).where(CampaignMember.campaign_id == made.id)
        ).all()
    return EngagementSummary(len(JOURNEYS), len(members), sent, extra)


def _deliver(session: Session, campaign_id: int, rng: random.Random) -> int:
    """Mark the newsletter's messages as sent a few minutes after they were due; some opened,
    fewer clicked (a click implies an open)."""
    rows = session.execute(
        select(Message.id, Message.send_after)
        .where(Message.campaign_id == campaign_id)
        .order_by(Message.id)
    ).all()
    for message_id, due in rows:
        sent_at = due + timedelta(minutes=rng.randint(1, 20))
        opened = rng.random() < OPENED
        clicked = opened and rng.random() < CLICKED / OPENED
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(
                status="sent",
                attempts=1,
                sent_at=sent_at,
                opened_at=sent_at + timedelta(hours=rng.randint(1, 48)) if opened else None,
                clicked_at=sent_at + timedelta(hours=rng.randint(1, 48)) if clicked else None,
            )
        )
    session.commit()
    return len(rows)


def _effect(session: Session, campaign_id: int, rng: random.Random) -> int:
    """One extra order, within the window, for about ``TRUE_LIFT`` of the treated."""
    treated = session.execute(
        select(CampaignMember.id, CampaignMember.customer_id, CampaignMember.assigned_at)
        .where(CampaignMember.campaign_id == campaign_id, CampaignMember.group != "holdout")
        .order_by(CampaignMember.id)
    ).all()
    products = [
        (product_id, price)
        for product_id, price in session.execute(
            select(Product.id, Product.price)
            .where(Product.active.is_(True), Product.price.is_not(None))
            .order_by(Product.id)
        )
        if price is not None
    ]
    made = 0
    for member_id, customer_id, assigned_at in treated:
        if rng.random() >= TRUE_LIFT or not products:
            continue
        product_id, price = rng.choice(products)
        placed = assigned_at + timedelta(days=rng.uniform(0.5, WINDOW_DAYS - 1))
        quantity = Decimal(rng.randint(1, 2))
        order = Order(
            external_id=f"NL-{member_id}",
            customer_id=customer_id,
            placed_at=placed,
            channel="online",
            currency="EUR",
            status="completed",
        )
        order.lines = [
            OrderLine(
                line_no=1,
                product_id=product_id,
                quantity=quantity,
                unit_price=price,
                discount=Decimal(0),
                amount=quantity * price,
            )
        ]
        session.add(order)
        made += 1
    session.commit()
    return made


def reset(connection: Connection) -> None:
    """Delete every engagement row, so that the demo's customers can go too."""
    for model in TABLES:
        connection.execute(delete(model))
