"""The demo shop's subscribers: their deliveries are real orders carrying the delivery's
reference, the worker has the coming deliveries to announce (once), and the subscription report
finds what the simulation put in (cancellations at the simulated dropouts, with their reasons)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from patron import schema
from patron.analytics.scoring import ScoringSettings
from patron.analytics.service import analyze_store
from patron.config import Environment, Settings, load_settings
from patron.customers.models import Customer, Order, OrderLine
from patron.db import make_engine, session_factory
from patron.demo import service
from patron.demo import subscriptions as demo
from patron.demo.models import DemoCustomerTruth
from patron.subscriptions import reports, upkeep
from patron.subscriptions.models import (
    CANCEL_REASONS,
    Subscription,
    SubscriptionDelivery,
    SubscriptionItem,
)
from patron.web.app import create_app

SIZE = 4_000
SEED = 5
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Settings]]:
    path: Path = tmp_path_factory.mktemp("demo-subscriptions") / "patron.db"
    engine = make_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    settings = load_settings(database_url=f"sqlite:///{path}", environment="test")
    service.generate(engine, customers=SIZE, seed=SEED)
    demo.build(session_factory(engine), seed=SEED, settings=settings, now=NOW)
    analyze_store(engine, ScoringSettings())
    yield engine, settings
    engine.dispose()


def test_each_fulfilled_delivery_is_an_order_of_the_subscriber_with_the_product_and_reference(
    shop: tuple[Engine, Settings],
) -> None:
    engine, _settings = shop
    with Session(engine) as session:
        rows = session.execute(
            select(
                SubscriptionDelivery.reference,
                Subscription.customer_id,
                SubscriptionItem.product_id,
                Order.customer_id,
                Order.subscription_ref,
                Order.id,
            )
            .join(Subscription, Subscription.id == SubscriptionDelivery.subscription_id)
            .join(SubscriptionItem, SubscriptionItem.subscription_id == Subscription.id)
            .join(Order, Order.id == SubscriptionDelivery.order_id)
            .where(SubscriptionDelivery.status == "fulfilled")
        ).all()
        bought = {
            (order_id, product_id)
            for order_id, product_id in session.execute(
                select(OrderLine.order_id, OrderLine.product_id)
            )
        }
        subscriptions = session.scalar(select(func.count()).select_from(Subscription))
    assert subscriptions is not None
    assert subscriptions >= 20
    assert len(rows) >= 2 * subscriptions  # at least two deliveries each
    for reference, subscriber, product, buyer, quoted, order_id in rows:
        assert buyer == subscriber
        assert quoted == reference
        assert (order_id, product) in bought


def test_subscribers_who_dropped_out_cancelled_with_a_reason_and_the_others_run_on(
    shop: tuple[Engine, Settings],
) -> None:
    engine, settings = shop
    with Session(engine) as session:
        dropped = set(
            session.scalars(
                select(DemoCustomerTruth.customer_id).where(
                    DemoCustomerTruth.dropped_out_at.is_not(None)
                )
            )
        )
        subscriptions = session.scalars(select(Subscription)).all()
        for row in subscriptions:
            today = NOW.astimezone(ZoneInfo(row.time_zone or settings.timezone)).date()
            if row.customer_id in dropped:
                assert row.status == "cancelled"
                assert row.cancel_reason in CANCEL_REASONS
                assert row.ends_on is not None
                assert row.ends_on >= row.started_on
            else:
                assert row.status in ("active", "paused")
                assert row.next_due is not None
                assert row.next_due >= today
            if row.status == "paused":
                assert row.paused_until is not None
                assert row.paused_until > today
        statuses = Counter(row.status for row in subscriptions)
    assert statuses["active"] > statuses["cancelled"] > 0


def test_the_worker_announces_the_coming_deliveries_once(shop: tuple[Engine, Settings]) -> None:
    engine, settings = shop
    sessions = session_factory(engine)
    later = NOW + timedelta(days=1)
    with sessions() as session:
        horizon = later.date() + timedelta(days=settings.subscription_announce_days + 1)
        coming = session.scalar(
            select(func.count())
            .select_from(Subscription)
            .where(Subscription.status == "active", Subscription.next_due <= horizon)
        )
        first = upkeep.run_due(session, settings=settings, now=later)
    with sessions() as session:
        again = upkeep.run_due(session, settings=settings, now=later)
        announced = session.scalar(
            select(func.count())
            .select_from(SubscriptionDelivery)
            .where(SubscriptionDelivery.status == "announced")
        )
    assert coming, "the demo should have deliveries due in its first days"
    assert announced is not None
    assert 0 < announced <= coming
    assert sum(first.values()) > 0
    assert again.get("announced", 0) == 0


def test_the_report_finds_the_reasons_put_in_and_subscribers_worth_more(
    shop: tuple[Engine, Settings],
) -> None:
    engine, settings = shop
    with Session(engine) as session:
        report = reports.report(
            session, settings=settings, now=NOW, since=datetime(2020, 1, 1).date()
        )
        cancelled = Counter(
            session.scalars(
                select(Subscription.cancel_reason).where(
                    Subscription.status == "cancelled",
                    Subscription.ends_on <= NOW.date(),
                )
            )
        )
    assert report.mrr.mrr > 0
    assert report.revenue.delivery_orders > 0
    assert report.revenue.delivery_share is not None
    assert 0 < report.revenue.delivery_share < 1
    found = {row.reason: row.cancellations for row in report.churn.reasons if row.cancellations}
    assert found == dict(cancelled)
    # by construction: subscribers are the regular buyers (an association, as the report says)
    clv = report.clv
    assert clv.difference is not None
    assert clv.low is not None
    assert clv.difference > 0
    assert clv.low > 0


def test_a_demo_subscriber_signs_in_to_the_portal_with_the_link_the_page_shows(
    shop: tuple[Engine, Settings],
) -> None:
    """What ``make demo`` prints: a subscriber's address; in the demo the portal shows the
    one-time link instead of mailing it, and the subscriber sees their subscription."""
    engine, settings = shop
    guest = demo.portal_guest(session_factory(engine))
    assert guest is not None
    with Session(engine) as session:
        key = session.scalar(
            select(Subscription.key)
            .join(Customer, Customer.id == Subscription.customer_id)
            .where(Customer.email == guest, Subscription.status == "active")
        )
    app = create_app(settings.model_copy(update={"environment": Environment.demo}), engine=engine)
    with TestClient(app) as phone:
        form = phone.get("/portal/sign-in").text
        sent = phone.post("/portal/sign-in", data={"csrf_token": _token(form), "email": guest}).text
        link = re.search(r'href="[^"]*(/portal/sign-in/[A-Za-z0-9_-]+)"', sent)
        assert link, "the demo page shows the sign-in link"
        button = phone.get(link[1]).text
        phone.post(link[1], data={"csrf_token": _token(button)})
        page = phone.get("/portal/subscriptions", follow_redirects=False)
    assert page.status_code == 200
    assert f'data-subscription="{key}"' in page.text


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form token"
    return found[1]
