"""Fixtures of the portal tests: settings, the web app, a customer's phone, and a small shop
with a member of the demo programme, a subscription, a case and a survey answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from loyalty.shop import demo_document, purchase
from patron.config import Settings, load_settings
from patron.db import utcnow
from patron.loyalty import service as loyalty
from patron.loyalty import setup
from patron.loyalty.programme import read_spec
from patron.portal import access
from patron.subscriptions import service as subscriptions
from patron.subscriptions.schemas import SubscriptionCreate
from patron.web.app import create_app

SECRET = "a-portal-test-secret-of-more-than-thirty-two-characters"
PHONE = {"Accept": "text/html", "User-Agent": "Mozilla/5.0 (iPhone)"}


def portal_settings(database_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "secret_key": SECRET,
        "shop_name": "Fjord & Co",
        "public_url": "https://shop.example",
        "language": "en",
        "email_from": "Fjord <shop@shop.example>",
        "portal_colour": "#0a5c36",
        "portal_accent": "#f2b705",
    }
    return load_settings(**(values | changes))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return portal_settings(database_url)


@pytest.fixture
def app(engine: Engine, settings: Settings) -> FastAPI:
    return create_app(settings, engine=engine)


@pytest.fixture
def phone(app: FastAPI) -> Iterator[TestClient]:
    """A customer's phone browser (plain http, so the portal's cookies are not Secure here)."""
    with TestClient(app, headers=PHONE) as client:
        yield client


@dataclass(frozen=True)
class Shop:
    anna: int  # a member with points, a subscription, a case and a survey answer
    ben: int  # another customer with a subscription of his own
    anna_subscription: str
    ben_subscription: str


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form token"
    return found[1]


def build_shop(sessions: sessionmaker[Session], settings: Settings) -> Shop:
    """Anna (ANNA, de) bought for 700 € a month ago: 800 points (with the first-purchase
    bonus), Silver; she has a monthly coffee subscription. Ben (BEN) has one of his own."""
    now = utcnow()
    with sessions() as session:
        anna = make.customer(
            session, external_id="ANNA", name="Anna Berg", email="anna@example.org", language="de"
        )
        ben = make.customer(session, external_id="BEN", name="Ben Olsen", email="ben@example.org")
        make.product(session, sku="COFFEE-1", name="Espresso beans 1 kg")
        session.commit()
        ids = anna.id, ben.id
        setup.set_up(session, spec=read_spec(demo_document()), actor="test", now=now)
        loyalty.record_purchase(
            session,
            programme_code="club",
            key="p-anna-1",
            purchase=purchase("ANNA", "O-1", "700.00"),
            actor="test",
            now=now - timedelta(days=30),
        )
        keys = []
        for who in ("ANNA", "BEN"):
            made = subscriptions.create(
                session,
                SubscriptionCreate.model_validate(
                    {
                        "customer": who,
                        "items": [{"sku": "COFFEE-1", "quantity": 2, "unit_price": "18.50"}],
                        "interval": {"unit": "month", "count": 1},
                        "first_due": (now + timedelta(days=10)).date().isoformat(),
                        "started_on": (now - timedelta(days=60)).date().isoformat(),
                        "minimum_term_months": 6,
                        "notice_days": 30,
                        "renewal_months": 3,
                        "discount_percent": "10",
                    }
                ),
                settings=settings,
                actor="test",
                now=now,
            )
            keys.append(made.key)
    return Shop(ids[0], ids[1], keys[0], keys[1])


@pytest.fixture
def shop(sessions: sessionmaker[Session], settings: Settings) -> Shop:
    return build_shop(sessions, settings)


def sign_in(
    client: TestClient, sessions: sessionmaker[Session], settings: Settings, email: str
) -> None:
    """Sign the browser in through a link made by the service (the e-mail itself is tested in
    test_sign_in)."""
    with sessions() as session:
        asked = access.ask_for_link(session, email=email, settings=settings, now=utcnow())
    assert asked.url is not None, asked.reason
    path = asked.url.removeprefix("https://shop.example")
    page = client.get(path)
    assert page.status_code == 200
    done = client.post(path, data={"csrf_token": form_token(page.text)}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/portal"
