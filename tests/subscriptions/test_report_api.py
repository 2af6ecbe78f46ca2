"""The report and offer routes of the JSON API: the report's figures, its bounded period, the
candidates, and an offer with its refusals in the one error shape; and the same from the
command line (``patron subscription report``, ``offer``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import factories as make
from care.cases.helpers import snapshot
from patron.cli import app as cli
from patron.db import make_engine, session_factory, utcnow
from patron.web.app import create_app
from subscriptions.shop import settings, subscription

API = "/api/v1"


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    site = settings(database_url=database_url, environment="test", control_share=0.0)
    return create_app(site, engine=engine)


@pytest.fixture
def api(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with sessions() as session:
        token = make.api_token(session, "subscriptions:read", "subscriptions:write", name="shop")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> None:
    """ANNA subscribes (20.00 a month); CARL buys espresso every 14 days, with consent."""
    today = utcnow().date()
    with sessions() as session:
        espresso = make.product(session, sku="ESP-1000", name="Espresso beans 1 kg")
        anna = make.customer(session, external_id="ANNA")
        carl = make.customer(session, external_id="CARL", language="en")
        make.consent(session, carl)
        subscription(
            session,
            anna,
            [(espresso, 2, None)],
            started_on=today - timedelta(days=40),
            next_due=today + timedelta(days=5),
        )
        snapshot(
            session,
            utcnow() - timedelta(days=1),
            {carl.id: {"subscription_product": "ESP-1000", "subscription_interval_days": 14.0}},
        )
        session.commit()


def test_the_report_over_the_api(api: TestClient, shop: None) -> None:
    response = api.get(f"{API}/reports/subscriptions")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["active"]["in_force"] == 1
    assert Decimal(body["mrr"]["mrr"]) == Decimal("20.00")
    assert len(body["mrr"]["by_month"]) == 12
    assert len(body["churn"]["by_month"]) == 12
    assert "not proof" in body["clv"]["note"]
    chosen = api.get(
        f"{API}/reports/subscriptions", params={"from": "2026-01-01", "to": "2026-06-30"}
    )
    assert chosen.json()["revenue"]["since"] == "2026-01-01"
    for params, code in (
        ({"from": "2026-07-01", "to": "2026-06-30"}, "subscriptions.report_invalid"),
        ({"from": "1900-01-01", "to": "2026-06-30"}, "request.invalid"),
        ({"to": "not-a-day"}, "request.invalid"),
    ):
        refused = api.get(f"{API}/reports/subscriptions", params=params)
        assert refused.status_code == 422, params
        assert refused.json()["error"]["code"] == code


def test_candidates_and_an_offer_over_the_api(api: TestClient, shop: None) -> None:
    found = api.get(f"{API}/subscription-offers/candidates").json()
    assert found["count"] == 1
    assert found["data"][0]["customer"] == "CARL"
    assert (found["data"][0]["unit"], found["data"][0]["count"]) == ("week", 2)
    made = api.post(
        f"{API}/subscription-offers", json={"customer": "CARL", "benefit": "free delivery"}
    )
    assert made.status_code == 200, made.text
    assert made.json()["queued"] == 1
    again = api.post(f"{API}/subscription-offers", json={"customer": "CARL"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "subscription_offers.offered_recently"
    subscriber = api.post(f"{API}/subscription-offers", json={"customer": "ANNA"})
    assert subscriber.json()["error"]["code"] == "subscription_offers.not_candidate"
    unknown = api.post(f"{API}/subscription-offers", json={"customer": "NOBODY"})
    assert unknown.status_code == 404
    wrong = api.post(f"{API}/subscription-offers", json={"url": "javascript:alert(1)"})
    assert wrong.status_code == 422
    report = api.get(f"{API}/reports/subscriptions").json()
    assert report["offers"]["offered"] == 1


# --- the command line --------------------------------------------------------------------------


def test_report_and_offer_from_the_command_line(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATRON_CONTROL_SHARE", "0")
    engine = make_engine(cli_env)
    sessions = session_factory(engine)
    today = utcnow().date()
    with sessions() as session:
        espresso = make.product(session, sku="ESP-1000", name="Espresso beans 1 kg")
        anna = make.customer(session, external_id="ANNA")
        carl = make.customer(session, external_id="CARL", language="en")
        make.consent(session, carl)
        subscription(session, anna, [(espresso, 1, None)], started_on=today - timedelta(days=40))
        snapshot(
            session,
            utcnow() - timedelta(days=1),
            {carl.id: {"subscription_product": "ESP-1000", "subscription_interval_days": 30.0}},
        )
        session.commit()
    engine.dispose()
    runner = CliRunner(env={"COLUMNS": "200"})
    shown = runner.invoke(cli, ["subscription", "report"])
    assert shown.exit_code == 0, shown.output
    assert "1 subscriptions in force" in shown.output
    found = runner.invoke(cli, ["subscription", "report", "--json"])
    assert Decimal(json.loads(found.stdout)["mrr"]["mrr"]) == Decimal("10.00")
    backwards = runner.invoke(
        cli, ["subscription", "report", "--from", "2027-02-01", "--to", "2027-01-01"]
    )
    assert getattr(backwards.exception, "code", None) == "subscriptions.report_invalid"
    listed = runner.invoke(cli, ["subscription", "offer", "--candidates", "--json"])
    assert json.loads(listed.stdout)["count"] == 1
    bad = runner.invoke(cli, ["subscription", "offer", "--discount", "200"])
    assert getattr(bad.exception, "code", None) == "request.invalid"
    assert "--discount" in str(bad.exception)
    made = runner.invoke(cli, ["subscription", "offer", "--customer", "CARL", "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["queued"] == 1
