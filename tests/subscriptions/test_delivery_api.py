"""The deliveries' API: the due list as JSON and as a CSV pick list, filtered by status and
day; a shop naming the order that fulfilled a delivery, idempotently, with clear refusals."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.subscriptions import deliveries
from patron.web.app import create_app
from subscriptions.shop import at, settings, subscription

URL = "/api/v1/subscription-deliveries"


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    return create_app(settings(database_url=database_url, environment="test"), engine=engine)


@pytest.fixture
def api(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with sessions.begin() as session:
        beans = make.product(session, sku="ESP-1000", name="Espresso", price=10)
        anna = make.customer(session, external_id="ANNA")
        ola = make.customer(session, external_id="OLA")
        subscription(session, anna, [(beans, 2, None)], key="S-1", benefit="free delivery")
        subscription(
            session, ola, [(beans, 1, "9.50")], key="S-2", interval_unit="week", anchor_day=None
        )
        make.order(session, anna, external_id="SO-1")
        make.order(session, ola, external_id="SO-2")
    with sessions() as session:
        for day in (1, 8):
            deliveries.open_due(session, settings=settings(), now=at(2026, 12, day, 8))
        token = make.api_token(session, "subscriptions:read", "subscriptions:write", name="shop")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_the_due_list_by_day_as_json_and_as_a_pick_list(api: TestClient) -> None:
    listed = api.get(URL)
    assert listed.status_code == 200, listed.text
    assert [(d["reference"], d["customer"], d["total"]) for d in listed.json()["data"]] == [
        ("S-1/2026-12-01", "ANNA", "20.00"),
        ("S-2/2026-12-01", "OLA", "9.50"),
        ("S-2/2026-12-08", "OLA", "9.50"),
    ]
    narrowed = api.get(URL, params={"from": "2026-12-02", "to": "2026-12-31"}).json()
    assert [d["reference"] for d in narrowed["data"]] == ["S-2/2026-12-08"]
    exported = api.get(URL, params={"format": "csv", "to": "2026-12-01"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["reference"], r["sku"], r["quantity"], r["amount"], r["benefit"]) for r in rows] == [
        ("S-1/2026-12-01", "ESP-1000", "2", "20.00", "free delivery"),
        ("S-2/2026-12-01", "ESP-1000", "1", "9.50", ""),
    ]


def test_bad_filters_are_refused_naming_the_field(api: TestClient) -> None:
    unknown = api.get(URL, params={"status": "lost"})
    assert unknown.status_code == 422
    backwards = api.get(URL, params={"from": "2026-12-31", "to": "2026-12-01"})
    assert backwards.status_code == 422
    assert backwards.json()["error"]["code"] == "deliveries.invalid"
    far = api.get(URL, params={"from": "0001-01-01"})
    assert far.status_code == 422


def test_the_shop_names_the_order_that_fulfilled_a_delivery(api: TestClient) -> None:
    done = api.post(f"{URL}/S-1/2026-12-01/fulfil", json={"order": "SO-1"})
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["order"]) == ("fulfilled", "SO-1")
    again = api.post(f"{URL}/S-1%2F2026-12-01/fulfil", json={"order": "SO-1"})  # encoded slash
    assert again.status_code == 200, again.text
    assert again.json() == done.json()
    other = api.post(f"{URL}/S-1/2026-12-01/fulfil", json={"order": "SO-2"})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "deliveries.already_fulfilled"
    taken = api.post(f"{URL}/S-2/2026-12-01/fulfil", json={"order": "SO-1"})
    assert taken.json()["error"]["code"] == "deliveries.order_taken"
    stranger = api.post(f"{URL}/S-2/2026-12-08/fulfil", json={"order": "SO-1"})
    assert stranger.status_code == 409
    nothing = api.post(f"{URL}/S-9/2026-12-01/fulfil", json={"order": "SO-2"})
    assert (nothing.status_code, nothing.json()["error"]["code"]) == (404, "deliveries.not_found")
    no_order = api.post(f"{URL}/S-2/2026-12-01/fulfil", json={"order": "SO-404"})
    assert (no_order.status_code, no_order.json()["error"]["code"]) == (404, "orders.not_found")
    fulfilled = api.get(URL, params={"status": "fulfilled"}).json()["data"]
    assert [d["reference"] for d in fulfilled] == ["S-1/2026-12-01"]


def test_reading_needs_subscriptions_read(app: FastAPI, sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        token = make.api_token(session, "cases:read", name="other")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get(URL).status_code == 403
