"""What the tests of the worker's subscription round share: settings, and subscriptions written
straight into the store (so these tests need nothing of the service but the tables)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from patron.config import Settings, load_settings
from patron.customers.models import Customer, Product
from patron.subscriptions.models import Subscription, SubscriptionItem

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
_serial = itertools.count(1)


def at(*parts: int, tz: ZoneInfo = BERLIN) -> datetime:
    """A wall-clock time in ``tz`` as the UTC instant the worker is given."""
    return datetime(*parts, tzinfo=tz).astimezone(UTC)  # type: ignore[misc]


def settings(**more: Any) -> Settings:
    values: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "subscription_announce_days": 0,
        "subscription_reminder_days": 14,
        "subscription_renewal_notice_days": 30,
        "email_from": "Shop <service@shop.example>",
        "smtp_security": "none",
        "shop_name": "Kaffeehaus Berg",
        "public_url": "https://shop.example",
        "secret_key": "subscriptions-test-secret-" + "x" * 20,
    }
    return load_settings(**(values | more))


def subscription(
    session: Session,
    customer: Customer,
    items: list[tuple[Product, int | str, str | None]],
    **fields: Any,
) -> Subscription:
    """A subscription of ``customer`` to (product, quantity, agreed unit price or None) items:
    monthly on the 1st from 1 December 2026 in Berlin unless ``fields`` say otherwise."""
    values: dict[str, Any] = {
        "key": f"S-{next(_serial):06d}",
        "interval_unit": "month",
        "interval_count": 1,
        "anchor_day": 1,
        "time_zone": "Europe/Berlin",
        "next_due": date(2026, 12, 1),
        "status": "active",
        "currency": "EUR",
        "started_on": date(2026, 12, 1),
        "minimum_term_months": 0,
        "notice_days": 0,
        "renewal_months": 0,
        "source": "api",
    }
    row = Subscription(customer_id=customer.id, **(values | fields))
    session.add(row)
    session.flush()
    for n, (product, quantity, price) in enumerate(items, start=1):
        session.add(
            SubscriptionItem(
                subscription_id=row.id,
                line_no=n,
                product_id=product.id,
                quantity=Decimal(quantity),
                unit_price=None if price is None else Decimal(price),
            )
        )
    session.flush()
    return row
