"""The subscriptions' JSON API over a real store (SQLite and PostgreSQL): create idempotently,
read, change, pause, resume, skip, cancel, history; errors in the one shape, with their codes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.config import load_settings
from patron.outbox.models import OutboxEvent
from patron.subscriptions.models import Subscription
from patron.web.app import create_app

TODAY = date.today()  # the API works on the real clock; these tests only need days ahead


@pytest.fixture
def client(
    engine: Engine, database_url: str, sessions: sessionmaker[Session]
) -> Iterator[TestClient]:
    settings = load_settings(database_url=database_url, environment="test", timezone="UTC")
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA", name="Anna Berg", time_zone="Etc/GMT-14")
        make.product(session, sku="BEANS", name="Espresso beans", price=Decimal("20.00"))
    with sessions() as session:
        token = make.api_token(session, "subscriptions:read", "subscriptions:write", name="shop")
    with TestClient(
        create_app(settings, engine=engine), headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


BODY = {
    "customer": "ANNA",
    "items": [{"sku": "BEANS", "quantity": 1}],
    "interval": {"unit": "week", "count": 4},
    "discount_percent": "10",
    "benefit": "free delivery",
}


def later(days: int) -> str:
    return (TODAY + timedelta(days=days)).isoformat()


def test_create_is_idempotent_on_its_key(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    body = BODY | {"key": "SHOP-7", "first_due": later(5)}
    made = client.post("/api/v1/subscriptions", json=body)
    assert made.status_code == 201, made.text
    view = made.json()
    assert (view["key"], view["customer"], view["status"]) == ("SHOP-7", "ANNA", "active")
    assert view["items"][0]["effective_price"] == "18.00"
    assert view["monthly_value"] == "19.57"  # 18 × 52.1775 / 12 / 4
    again = client.post("/api/v1/subscriptions", json=body)
    assert again.status_code == 200
    assert again.json()["key"] == "SHOP-7"
    other = client.post("/api/v1/subscriptions", json=body | {"discount_percent": "20"})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "subscriptions.key_taken"
    header = client.post(
        "/api/v1/subscriptions",
        json=BODY | {"first_due": later(5)},
        headers={"Idempotency-Key": "H-1"},
    )
    assert header.status_code == 201
    assert header.json()["key"] == "H-1"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 2
        topics = session.scalars(select(OutboxEvent.topic)).all()
        assert topics == ["subscription.created", "subscription.created"]


def test_a_made_up_key_and_the_customer_s_list(client: TestClient) -> None:
    made = client.post("/api/v1/subscriptions", json=BODY).json()
    assert made["key"].startswith("S-")
    assert made["time_zone"] == "Etc/GMT-14"
    mine = client.get("/api/v1/customers/ANNA/subscriptions")
    assert [s["key"] for s in mine.json()] == [made["key"]]
    listed = client.get("/api/v1/subscriptions", params={"status": "active"}).json()
    assert listed["count"] == 1
    assert client.get("/api/v1/customers/NOBODY/subscriptions").status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"customer": "NOBODY"}, 404, "customers.not_found"),
        ({"items": [{"sku": "NOPE"}]}, 404, "products.not_found"),
        ({"interval": {"unit": "year", "count": 1}}, 422, "request.invalid"),
        ({"interval": {"unit": "day", "count": 0}}, 422, "request.invalid"),
        ({"first_due": "0001-01-01"}, 422, "request.invalid"),
        ({"time_zone": "Nowhere/Land"}, 422, "subscriptions.invalid"),
        ({"key": "has/slash"}, 422, "request.invalid"),
    ],
)
def test_bad_input_is_refused_with_its_code(
    client: TestClient, change: dict[str, object], status: int, code: str
) -> None:
    refused = client.post("/api/v1/subscriptions", json=BODY | change)
    assert refused.status_code == status, refused.text
    assert refused.json()["error"]["code"] == code


def test_the_life_of_a_subscription(client: TestClient) -> None:
    key = client.post("/api/v1/subscriptions", json=BODY | {"first_due": later(10)}).json()["key"]
    base = f"/api/v1/subscriptions/{key}"
    skipped = client.post(f"{base}/skip")
    assert skipped.status_code == 200
    assert skipped.json()["next_due"] == later(38)
    paused = client.post(f"{base}/pause", json={"until": later(60)})
    assert paused.json()["status"] == "paused"
    assert client.post(f"{base}/pause", json={}).status_code == 409
    resumed = client.post(f"{base}/resume")
    assert resumed.json()["status"] == "active"
    changed = client.patch(base, json={"benefit": None, "items": [{"sku": "BEANS", "quantity": 2}]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["benefit"], changed.json()["delivery_value"]) == (None, "36.00")
    weekly = client.post(f"{base}/interval", json={"unit": "month", "count": 1})
    assert weekly.json()["interval"]["unit"] == "month"
    terms = client.get(f"{base}/cancellation").json()
    assert terms["term_ends_on"] is None
    assert terms["notice_days"] == 0
    cancelled = client.post(f"{base}/cancel", json={"reason": "moving", "note": "abroad"})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert client.post(f"{base}/cancel", json={"reason": "moving"}).status_code == 409
    bad_reason = client.post(f"{base}/cancel", json={"reason": "bored"})
    assert bad_reason.status_code == 422
    kinds = [c["kind"] for c in client.get(f"{base}/history").json()["data"]]
    assert kinds == [
        "created",
        "skipped",
        "paused",
        "resumed",
        "changed",
        "interval_changed",
        "cancelled",
    ]
    actors = {c["actor"] for c in client.get(f"{base}/history").json()["data"]}
    assert len(actors) == 1
    assert actors.pop().startswith("apikey:")


def test_unknown_subscription_is_404_before_the_body(client: TestClient) -> None:
    for method, path in [
        ("GET", "/api/v1/subscriptions/S-404"),
        ("POST", "/api/v1/subscriptions/S-404/pause"),
        ("GET", "/api/v1/subscriptions/S-404/history"),
    ]:
        answer = client.request(method, path, json={})
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "subscriptions.not_found"


def test_reading_is_not_writing(
    engine: Engine, database_url: str, sessions: sessionmaker[Session]
) -> None:
    settings = load_settings(database_url=database_url, environment="test")
    with sessions() as session:
        token = make.api_token(session, "subscriptions:read", name="reader")
    with TestClient(
        create_app(settings, engine=engine), headers={"Authorization": f"Bearer {token}"}
    ) as reader:
        assert reader.get("/api/v1/subscriptions").status_code == 200
        refused = reader.post("/api/v1/subscriptions", json=BODY)
        assert refused.status_code == 403
