"""A person with rows in as many tables as the services and models allow, and an independent
look at the store: every table of the metadata, walked and searched in plain Python."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

import factories as make
import patron.access.models
import patron.analytics.snapshots
import patron.care.models
import patron.customers.models
import patron.demo.models
import patron.engage.models
import patron.loyalty.models
import patron.outbox.models
import patron.portal.models
import patron.privacy.models
import patron.recommend.models
import patron.subscriptions.models
from loyalty.shop import demo_document
from patron.care.cases import service as cases
from patron.care.models import AccountAssignment, Event, EventGuest, Task
from patron.care.surveys import service as surveys
from patron.config import Settings, load_settings
from patron.db import Base
from patron.demo.models import DemoCustomerTruth
from patron.engage import consent, library, transactional
from patron.engage.models import (
    Campaign,
    CampaignMember,
    ConsentRequest,
    Experiment,
    ExperimentResult,
    Suppression,
)
from patron.loyalty import service as loyalty
from patron.loyalty import setup
from patron.loyalty.programme import read_spec
from patron.loyalty.schemas import AdjustIn, PurchaseIn, PurchaseLineIn
from patron.portal.models import PortalLink, PortalSession
from patron.recommend.models import RecommendationBlock
from patron.subscriptions.models import (
    Subscription,
    SubscriptionChange,
    SubscriptionDelivery,
    SubscriptionItem,
)

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
SETTINGS: Settings = load_settings(timezone="Europe/Oslo", public_url="https://shop.example")
EMAIL = "Ingrid.Ostergaard@Example.no"
NAME = "Ingrid Østergaard"
PHONE = "+47 912 34 567"
OTHER_NAME = "Bo Lindqvist"
OTHER_EMAIL = "bo@example.se"


@dataclass(frozen=True)
class Built:
    person: int
    other: int
    orders: list[int]


def build(session: Session, *, key: str = "P-1", other_key: str = "P-2") -> Built:
    """Ingrid, with history everywhere, and Bo, another customer with some of his own."""
    library.install(session, now=NOW)
    setup.set_up(session, spec=read_spec(demo_document()), actor="test", now=NOW)
    person = make.customer(
        session,
        external_id=key,
        name=NAME,
        email=EMAIL,
        phone=PHONE,
        birthday=date(1980, 5, 17),
        city="Tromsø",
        language="nb",
        time_zone="Europe/Oslo",
    )
    other = make.customer(session, external_id=other_key, name=OTHER_NAME, email=OTHER_EMAIL)
    product = make.product(session)
    orders = []
    for who, number in ((person, 1), (person, 2), (other, 3)):
        order = make.order(
            session,
            who,
            external_id=f"{who.external_id}-O{number}",
            lines=[make.line(product, quantity=2, unit_price="12.50"), make.line(product)],
        )
        orders.append(order.id)
    first = session.get(patron.customers.models.Order, orders[0])
    assert first is not None
    make.return_(session, first.lines[0], reason="wrong size")
    make.interaction(session, person, note=f"Called {NAME} at {PHONE}", payload={"to": EMAIL})
    make.interaction(session, other, note="Bo asked about coffee")
    make.consent(session, person)
    make.consent(session, other)
    session.commit()
    _loyalty(session, key)
    _loyalty(session, other_key)
    consent.record_consent(
        session,
        customer_id=person.id,
        channel="email",
        purpose="marketing",
        granted=True,
        source="test",
        now=NOW,
    )
    _care(session, person.id, NAME, EMAIL, PHONE)
    _care(session, other.id, OTHER_NAME, OTHER_EMAIL, "+46 70 123 45 67")
    transactional.send(
        session,
        customer=key,
        template_key="thank_you",
        channel="email",
        key="thanks-1",
        variables={"order": {"number": "O-1", "date": "10.03.2026"}},
        settings=SETTINGS,
        now=NOW,
    )
    _direct_rows(session, person.id, product.id, key, NAME, PHONE)
    _direct_rows(session, other.id, product.id, other_key, OTHER_NAME, "+46 70 123 45 67")
    session.commit()
    return Built(person.id, other.id, orders)


def _loyalty(session: Session, key: str) -> None:
    lines = [PurchaseLineIn(amount=Decimal("120.50"), category="Coffee")]
    purchase = PurchaseIn(customer=key, order=f"{key}-L1", currency="EUR", lines=lines)
    loyalty.record_purchase(
        session, programme_code="club", key=f"buy-{key}", purchase=purchase, actor=None, now=NOW
    )
    loyalty.adjust(
        session,
        programme_code="club",
        key=f"adjust-{key}",
        request=AdjustIn(customer=key, points=50, reason="goodwill after the complaint"),
        actor="staff@example.com",
        now=NOW + timedelta(hours=1),
    )


def _care(session: Session, customer_id: int, name: str, email: str, phone: str) -> None:
    opened, _ = cases.open_case(
        session,
        customer=customer_id,
        subject="Broken grinder",
        description=f"Hello, this is {name}, call me on {phone}.",
        channel="email",
        author=email,
        settings=SETTINGS,
        now=NOW,
    )
    cases.add_note(
        session, case_id=opened.id, body=f"Spoke to {name}", author="agent@example.com", now=NOW
    )
    surveys.answer(
        session,
        survey="nps",
        customer_id=customer_id,
        reference="r1",
        score=9,
        comment=f"Great service, {name}",
        now=NOW,
    )


def _direct_rows(
    session: Session, customer_id: int, product_id: int, key: str, name: str, phone: str
) -> None:
    """Rows of areas without a service for them here: written as their models allow."""
    subscription = Subscription(
        key=f"S-{key}",
        customer_id=customer_id,
        interval_unit="month",
        interval_count=1,
        anchor_day=10,
        time_zone="Europe/Oslo",
        next_due=date(2026, 4, 10),
        status="active",
        currency="EUR",
        started_on=date(2026, 1, 10),
        source="api",
        cancel_note=f"{name} moves",
    )
    session.add(subscription)
    session.flush()
    session.add_all(
        [
            SubscriptionItem(
                subscription_id=subscription.id,
                line_no=1,
                product_id=product_id,
                quantity=Decimal(1),
                unit_price=Decimal("9.50"),
            ),
            SubscriptionDelivery(
                subscription_id=subscription.id,
                reference=f"S-{key}/2026-03-10",
                due_on=date(2026, 3, 10),
                status="announced",
                items=[{"sku": "X", "quantity": "1"}],
            ),
            SubscriptionChange(
                subscription_id=subscription.id, kind="created", actor="api", at=NOW
            ),
            PortalLink(
                customer_id=customer_id,
                token_hash=f"link-{key}".ljust(64, "0"),
                expires_at=NOW + timedelta(minutes=15),
            ),
            PortalSession(
                customer_id=customer_id,
                token_hash=f"session-{key}".ljust(64, "0"),
                expires_at=NOW + timedelta(days=1),
            ),
            ConsentRequest(
                customer_id=customer_id,
                channel="email",
                purpose="marketing",
                token_hash=f"optin-{key}".ljust(64, "0"),
                source="test",
                requested_at=NOW,
                expires_at=NOW + timedelta(days=3),
            ),
            RecommendationBlock(
                customer_id=customer_id, product_id=product_id, reason=f"{name} said no"
            ),
            Task(
                customer_id=customer_id,
                kind="call",
                title="Call back",
                note=f"{name}: {phone}",
                due_on=date(2026, 3, 11),
            ),
            DemoCustomerTruth(
                customer_id=customer_id, purchase_rate=0.1, dropout_probability=0.2, mean_spend=30.0
            ),
        ]
    )
    event = Event(key=f"fair-{key}", name="Fair", kind="trade_fair", starts_at=NOW)
    campaign = Campaign(key=f"camp-{key}", name="Spring", kind="one_off", variants=[])
    experiment = Experiment(
        name=f"exp-{key}",
        file_name="x.csv",
        holdout="control",
        metrics=["revenue"],
        rows=1,
        imported_at=NOW,
    )
    session.add_all([event, campaign, experiment])
    session.flush()
    manager = make.user(session, "account_manager")
    session.add_all(
        [
            EventGuest(event_id=event.id, customer_id=customer_id),
            CampaignMember(
                campaign_id=campaign.id, customer_id=customer_id, group="A", assigned_at=NOW
            ),
            ExperimentResult(
                experiment_id=experiment.id,
                customer=key,
                customer_id=customer_id,
                group="test",
                outcomes={"revenue": 1.0},
            ),
            AccountAssignment(customer_id=customer_id, manager_id=manager.id, source="manual"),
        ]
    )
    if key == "P-1":
        session.add(
            Suppression(channel="email", address=EMAIL.lower(), reason="unsubscribe", note=EMAIL)
        )


# --- the independent look -------------------------------------------------------------------


def tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def rows(session: Session, table: Table) -> list[dict[str, Any]]:
    return [dict(row) for row in session.execute(select(table)).mappings()]


def referring(session: Session, customer_id: int) -> dict[str, set[tuple[Any, ...]]]:
    """Per table, the primary keys of the rows that refer to the customer through foreign
    keys, directly or through other rows: whole tables read, the closure taken in Python."""
    everything = {table.name: (table, rows(session, table)) for table in tables()}
    mine: dict[str, list[dict[str, Any]]] = {
        "customers": [r for r in everything["customers"][1] if r["id"] == customer_id]
    }
    changed = True
    while changed:
        changed = False
        for name, (table, table_rows) in everything.items():
            for fk in table.foreign_key_constraints:
                parent = fk.referred_table.name
                if parent not in mine:
                    continue
                pairs = [(e.parent.name, e.column.name) for e in fk.elements]
                wanted = {tuple(p[c] for _, c in pairs) for p in mine[parent]}
                for row in table_rows:
                    if tuple(row[c] for c, _ in pairs) in wanted and row not in mine.setdefault(
                        name, []
                    ):
                        mine[name].append(row)
                        changed = True
    return {
        name: {tuple(r[c.name] for c in everything[name][0].primary_key.columns) for r in found}
        for name, found in mine.items()
        if found
    }


def texts(session: Session) -> Iterator[tuple[str, str, str]]:
    """(table, column, text) of every text and JSON value in the store."""
    for table in tables():
        for row in rows(session, table):
            for column, value in row.items():
                if isinstance(value, str):
                    yield table.name, column, value
                elif isinstance(value, dict | list):
                    yield table.name, column, json.dumps(value, ensure_ascii=False)


def traces(session: Session, *needles: str) -> list[tuple[str, str, str]]:
    """Where any needle occurs, ignoring case."""
    folded = [n.casefold() for n in needles]
    return [
        (table, column, text)
        for table, column, text in texts(session)
        if any(n in text.casefold() for n in folded)
    ]


def exact(session: Session, value: str) -> list[tuple[str, str]]:
    """(table, column) of every text or JSON value that is exactly ``value``."""

    def holds(found: Any) -> bool:
        if isinstance(found, dict):
            return any(holds(v) for v in found.values())
        if isinstance(found, list):
            return any(holds(v) for v in found)
        return found == value

    return [
        (table.name, column)
        for table in tables()
        for row in rows(session, table)
        for column, found in row.items()
        if holds(found)
    ]
