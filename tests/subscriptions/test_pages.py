"""The staff pages of subscriptions (SQLite and PostgreSQL): the list with its filters and key
figures, a subscription's page and its forms (pause, resume, skip, cancel with a reason), the
report with its charts, and the customer 360's section with the one-click offer."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.cases.helpers import snapshot
from patron.db import utcnow
from patron.engage.models import Message
from patron.subscriptions.models import Subscription, SubscriptionChange
from patron.web.app import create_app
from subscriptions.shop import settings, subscription


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    site = settings(database_url=database_url, environment="test", control_share=0.0)
    return create_app(site, engine=engine)


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> dict[str, int]:
    """ANNA subscribes monthly to espresso (9.00 − 10 %, from 60 days ago); BEN's weekly tea
    was cancelled; CARL buys espresso every 28 days and may be offered a subscription."""
    today = utcnow().date()
    with sessions() as session:
        espresso = make.product(session, sku="ESP-1000", name="Espresso beans 1 kg")
        tea = make.product(session, sku="TEA-100", name="Green tea 100 g")
        anna = make.customer(session, external_id="ANNA", name="Anna Berg", language="de")
        ben = make.customer(session, external_id="BEN", name="Ben Ek")
        carl = make.customer(session, external_id="CARL", name="Carl Dahl", language="en")
        make.consent(session, carl)
        make.order(session, anna, placed_at=make.at(-400))  # the overview has a time span
        subscription(
            session,
            anna,
            [(espresso, 2, "9.00")],
            key="S-ANNA",
            started_on=today - timedelta(days=60),
            next_due=today + timedelta(days=3),
            anchor_day=(today + timedelta(days=3)).day,
            discount_percent=Decimal(10),
            minimum_term_months=12,
            notice_days=30,
            renewal_months=12,
            term_ends_on=today + timedelta(days=300),
        )
        subscription(
            session,
            ben,
            [(tea, 1, None)],
            key="S-BEN",
            interval_unit="week",
            interval_count=1,
            anchor_day=None,
            started_on=today - timedelta(days=100),
            status="cancelled",
            ends_on=today - timedelta(days=5),
            next_due=None,
            cancel_reason="quality",
        )
        snapshot(
            session,
            utcnow() - timedelta(days=1),
            {carl.id: {"subscription_product": "ESP-1000", "subscription_interval_days": 28.0}},
        )
        session.commit()
        return {"ANNA": anna.id, "BEN": ben.id, "CARL": carl.id}


@pytest.fixture
def marketer(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with make.browser(app, sessions, "marketer") as client:
        yield client


@pytest.fixture
def analyst(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with make.browser(app, sessions, "analyst") as client:
        yield client


def _csrf(client: TestClient, path: str) -> str:
    return make.csrf_token(client.get(path).text)


def test_the_list_filters_and_shows_the_key_figures(
    marketer: TestClient, shop: dict[str, int]
) -> None:
    page = marketer.get("/subscriptions")
    assert page.status_code == 200
    assert 'data-subscription="S-ANNA"' in page.text
    assert 'data-subscription="S-BEN"' not in page.text  # ended: not running
    assert "Espresso beans 1 kg" in page.text
    # 2 × (9.00 − 10 %) = 16.20 a month
    assert re.search(r'data-kpi="mrr">.*?16[.,]20', page.text, re.S)
    assert 'data-candidate="{}"'.format(shop["CARL"]) in page.text
    ended = marketer.get("/subscriptions?status=ended")
    assert 'data-subscription="S-BEN"' in ended.text
    assert 'data-subscription="S-ANNA"' not in ended.text
    weekly = marketer.get("/subscriptions?status=all&unit=week")
    assert 'data-subscription="S-BEN"' in weekly.text
    assert 'data-subscription="S-ANNA"' not in weekly.text
    soon = marketer.get("/subscriptions?due=soon")
    assert 'data-subscription="S-ANNA"' in soon.text  # due in 3 days
    assert marketer.get("/subscriptions?status=bogus").status_code == 422


def test_a_subscription_page_shows_price_contract_and_next_deliveries(
    marketer: TestClient, shop: dict[str, int]
) -> None:
    page = marketer.get("/subscriptions/S-ANNA")
    assert page.status_code == 200
    assert 'data-figure="monthly-value"' in page.text
    upcoming = re.findall(r'data-due="([0-9-]+)"', page.text)
    first = date.fromisoformat(upcoming[0])
    assert first == utcnow().date() + timedelta(days=3)
    assert len(upcoming) == 6
    assert all(later > earlier for earlier, later in itertools.pairwise(upcoming))
    assert 'data-date="notice-deadline"' in page.text
    assert 'data-date="earliest-end"' in page.text
    assert 'data-action="cancel"' in page.text
    assert marketer.get("/subscriptions/NOPE").status_code == 404


def test_pause_resume_skip_and_cancel_through_the_forms(
    marketer: TestClient, sessions: sessionmaker[Session], shop: dict[str, int]
) -> None:
    token = _csrf(marketer, "/subscriptions/S-ANNA")
    until = (utcnow().date() + timedelta(days=30)).isoformat()
    paused = marketer.post(
        "/subscriptions/S-ANNA/pause", data={"csrf_token": token, "until": until}
    )
    assert paused.status_code == 200
    assert 'data-testid="paused"' in paused.text
    bad = marketer.post("/subscriptions/S-ANNA/pause", data={"csrf_token": token, "until": "x"})
    assert 'data-testid="error"' in bad.text
    marketer.post("/subscriptions/S-ANNA/resume", data={"csrf_token": token})
    skipped = marketer.post("/subscriptions/S-ANNA/skip", data={"csrf_token": token})
    assert 'data-testid="done"' in skipped.text
    refused = marketer.post(
        "/subscriptions/S-ANNA/cancel", data={"csrf_token": token, "reason": "bored"}
    )
    assert "reason must be one of" in refused.text
    cancelled = marketer.post(
        "/subscriptions/S-ANNA/cancel",
        data={"csrf_token": token, "reason": "too_expensive", "note": "budget"},
    )
    assert 'data-date="ends-on"' in cancelled.text
    with sessions() as session:
        row = session.scalars(select(Subscription).where(Subscription.key == "S-ANNA")).one()
        kinds = list(
            session.scalars(
                select(SubscriptionChange.kind)
                .where(SubscriptionChange.subscription_id == row.id)
                .order_by(SubscriptionChange.id)
            )
        )
        actors = set(
            session.scalars(
                select(SubscriptionChange.actor).where(SubscriptionChange.subscription_id == row.id)
            )
        )
    assert (row.status, row.cancel_reason, row.cancel_note) == (
        "cancelled",
        "too_expensive",
        "budget",
    )
    assert kinds == ["paused", "resumed", "skipped", "cancelled"]
    assert all(actor.startswith("user:") for actor in actors)


def test_an_analyst_reads_but_cannot_change(analyst: TestClient, shop: dict[str, int]) -> None:
    page = analyst.get("/subscriptions/S-ANNA")
    assert page.status_code == 200
    assert 'data-action="cancel"' not in page.text
    assert 'data-action="offer-all"' not in analyst.get("/subscriptions").text
    token = make.csrf_token(page.text)
    refused = analyst.post("/subscriptions/S-ANNA/skip", data={"csrf_token": token})
    assert refused.status_code == 403


def test_the_report_page_draws_its_charts(marketer: TestClient, shop: dict[str, int]) -> None:
    page = marketer.get("/subscriptions/reports")
    assert page.status_code == 200
    for chart in ("chart-mrr", "chart-churn", "chart-reasons"):
        spec = re.search(
            rf'<script type="application/json" id="{chart}">(.*?)</script>', page.text, re.S
        )
        assert spec is not None, chart
        assert json.loads(spec.group(1))["data"]["values"], chart
    assert 'data-testid="clv-note"' in page.text
    backwards = marketer.get("/subscriptions/reports?from=2027-01-02&to=2027-01-01")
    assert 'data-testid="error"' in backwards.text


def test_the_360_offers_a_candidate_a_subscription_in_one_click(
    marketer: TestClient, sessions: sessionmaker[Session], shop: dict[str, int]
) -> None:
    carl = shop["CARL"]
    page = marketer.get(f"/customers/{carl}")
    assert 'data-testid="subscription-candidate"' in page.text
    assert "every 4 weeks" in page.text or "alle 4 Wochen" in page.text
    token = make.csrf_token(page.text)
    done = marketer.post(
        f"/subscriptions/offers/customers/{carl}",
        data={"csrf_token": token, "discount": "10", "benefit": "free delivery"},
    )
    assert 'data-testid="offer-done"' in done.text
    with sessions() as session:
        message = session.scalars(select(Message).where(Message.customer_id == carl)).one()
    assert "every 4 weeks" in message.subject
    again = marketer.post(f"/subscriptions/offers/customers/{carl}", data={"csrf_token": token})
    assert 'data-testid="offer-error"' in again.text
    anna = marketer.get(f"/customers/{shop['ANNA']}")
    assert 'data-subscription="S-ANNA"' in anna.text
    assert 'data-testid="subscription-candidate"' not in anna.text


def test_offering_to_all_candidates_from_the_list(
    marketer: TestClient, sessions: sessionmaker[Session], shop: dict[str, int]
) -> None:
    token = _csrf(marketer, "/subscriptions")
    wrong = marketer.post("/subscriptions/offers", data={"csrf_token": token, "url": "ftp://x"})
    assert 'data-testid="error"' in wrong.text
    done = marketer.post("/subscriptions/offers", data={"csrf_token": token, "discount": "5"})
    assert 'data-testid="offered"' in done.text
    with sessions() as session:
        sent = list(session.scalars(select(Message.customer_id)))
    assert set(sent) <= {shop["CARL"]}  # CARL, unless the holdout drew him
