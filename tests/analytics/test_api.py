"""The analytics API over a scored demo shop, on SQLite and PostgreSQL: scores and segments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.analytics.scoring import ScoringSettings
from patron.analytics.service import analyze_store
from patron.analytics.snapshots import SCORE_FIELDS, CustomerScore, ScoreSnapshot
from patron.config import load_settings
from patron.customers.models import Customer
from patron.db import session_factory
from patron.demo import service as demo
from patron.web.app import create_app

CUSTOMERS = 300
SEED = 7


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    return create_app(load_settings(database_url=database_url, environment="test"), engine=engine)


@pytest.fixture
def client(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """A client whose API key may read analytics."""
    with sessions() as session:
        token = make.api_token(session, "analytics:read")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture
def snapshot_id(engine: Engine) -> int:
    """A demo shop of a few hundred customers, scored once (no holdout)."""
    demo.generate(engine, customers=CUSTOMERS, seed=SEED)
    _result, snapshot_id = analyze_store(engine, ScoringSettings(holdout_share=0))
    return snapshot_id


def _stored(session: Session, snapshot_id: int, customer_id: int) -> CustomerScore:
    score = session.get(CustomerScore, (snapshot_id, customer_id))
    assert score is not None
    return score


def _json(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def test_scores_are_the_stored_ones_with_the_snapshot_and_an_explanation(
    client: TestClient, sessions: sessionmaker[Session], snapshot_id: int
) -> None:
    with sessions() as session:
        best = session.execute(
            select(Customer, CustomerScore)
            .join(CustomerScore, CustomerScore.customer_id == Customer.id)
            .where(CustomerScore.snapshot_id == snapshot_id, CustomerScore.clv.is_not(None))
            .order_by(CustomerScore.clv.desc())
            .limit(1)
        ).one()
        customer, score = best[0], best[1]
        snapshot = session.get(ScoreSnapshot, snapshot_id)
        assert snapshot is not None
    response = client.get(f"/api/v1/customers/{customer.external_id}/scores")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["customer_id"], body["external_id"]) == (customer.id, customer.external_id)
    assert body["snapshot"] == {
        "id": snapshot_id,
        "taken_at": snapshot.taken_at.isoformat(),
        "period_start": snapshot.period_start.isoformat(),
        "period_end": snapshot.period_end.isoformat(),
        "time_unit": "week",
        "model": "bgnbd",
        "customers": CUSTOMERS,
    }
    assert {name: body[name] for name in SCORE_FIELDS} == {
        name: _json(getattr(score, name)) for name in SCORE_FIELDS
    }
    assert body["abc"] == "A"  # the most valuable customer
    assert body["p_alive"] is not None
    explanation = body["explanation"]
    assert len(explanation) == 10
    assert explanation[0].startswith(f"ABC class {score.abc}: ")
    assert explanation[1].startswith(f"RFM {score.r_score}-{score.f_score}-{score.m_score}: ")
    assert explanation[2].startswith(f"P(alive) {score.p_alive:.2f}: ")
    # by Patron's number: the same answer
    assert client.get(f"/api/v1/customers/{customer.id}/scores").json() == body


def test_explanation_in_the_language_asked_for(
    client: TestClient, sessions: sessionmaker[Session], snapshot_id: int
) -> None:
    with sessions() as session:
        customer_id = session.scalar(
            select(CustomerScore.customer_id).where(
                CustomerScore.snapshot_id == snapshot_id, CustomerScore.p_alive.is_not(None)
            )
        )
    german = client.get(
        f"/api/v1/customers/{customer_id}/scores", headers={"Accept-Language": "de-DE"}
    ).json()
    assert german["explanation"][2].startswith("Aktivitätswahrscheinlichkeit ")
    assert (
        german["explanation"][2]
        .split(":")[0]
        .endswith(f"{german['p_alive']:.2f}".replace(".", ","))
    )


def test_a_lead_without_purchases_has_scores_without_values(
    client: TestClient, sessions: sessionmaker[Session], snapshot_id: int
) -> None:
    with sessions() as session:
        lead = session.scalar(
            select(CustomerScore).where(
                CustomerScore.snapshot_id == snapshot_id,
                CustomerScore.lifecycle_phase == "awareness",
            )
        )
        assert lead is not None, "the demo shop has leads"
    body = client.get(f"/api/v1/customers/{lead.customer_id}/scores").json()
    assert (body["abc"], body["purchase_days"], body["p_alive"]) == (lead.abc, None, None)
    abc, rfm, p_alive = body["explanation"][:3]
    assert abc == (f"ABC class {lead.abc}" if lead.abc else "ABC class") + ": no purchase yet"
    assert (rfm, p_alive) == ("RFM: no purchase yet", "P(alive): no purchase yet")
    awareness = "Lifecycle phase Awareness: a known contact who has not bought yet"
    assert awareness in body["explanation"]


def test_scores_come_from_the_newest_snapshot(
    client: TestClient, engine: Engine, snapshot_id: int
) -> None:
    _result, newer = analyze_store(engine, ScoringSettings(holdout_share=0, unit="day"))
    assert newer > snapshot_id
    body = client.get("/api/v1/customers/1/scores").json()
    assert (body["snapshot"]["id"], body["snapshot"]["time_unit"]) == (newer, "day")
    segments = client.get("/api/v1/analytics/segments").json()
    assert segments["snapshot"]["id"] == newer


def test_unknown_and_unscored_customers_are_404s_with_their_own_codes(
    client: TestClient, sessions: sessionmaker[Session], snapshot_id: int
) -> None:
    unknown = client.get("/api/v1/customers/nobody/scores")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "customers.not_found"
    with sessions.begin() as session:
        make.customer(session, external_id="NEW-1", name="Came after the analysis")
    unscored = client.get("/api/v1/customers/NEW-1/scores")
    assert unscored.status_code == 404
    error = unscored.json()["error"]
    assert error["code"] == "analytics.not_scored"
    assert "patron analyze" in error["message"]
    assert error["details"]["key"] == "NEW-1"


def test_nothing_scored_yet_is_a_404_for_both(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="K-1")
    segments = client.get("/api/v1/analytics/segments")
    assert segments.status_code == 404
    assert segments.json()["error"]["code"] == "analytics.no_snapshot"
    assert "patron analyze" in segments.json()["error"]["message"]
    scores = client.get("/api/v1/customers/K-1/scores")
    assert scores.json()["error"]["code"] == "analytics.not_scored"


def test_segments_count_the_stored_scores(
    client: TestClient, sessions: sessionmaker[Session], snapshot_id: int
) -> None:
    with sessions() as session:
        rows = session.scalars(
            select(CustomerScore).where(CustomerScore.snapshot_id == snapshot_id)
        ).all()
        assert session.scalar(select(func.count()).select_from(Customer)) == len(rows)
    body = client.get("/api/v1/analytics/segments").json()
    assert body["snapshot"]["id"] == snapshot_id
    for grouping in ("abc", "rfm_segment", "lifecycle_phase", "loyalty_type"):
        expected: dict[str | None, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        for row in rows:
            figures = expected[getattr(row, grouping)]
            figures[0] += 1
            figures[1] += row.revenue or 0.0
            figures[2] += row.clv or 0.0
        found = {g["value"]: [g["customers"], g["revenue"], g["clv"]] for g in body[grouping]}
        assert found.keys() == expected.keys(), grouping
        for value, (customers, revenue, clv) in expected.items():
            assert found[value][0] == customers
            assert found[value][1:] == pytest.approx([revenue, clv]), (grouping, value)
        counts = [g["customers"] for g in body[grouping]]
        assert counts == sorted(counts, reverse=True)  # largest group first


def test_scores_need_the_analytics_scope(
    app: FastAPI, sessions: sessionmaker[Session], snapshot_id: int
) -> None:
    with sessions() as session:
        token = make.api_token(session, "customers:read")
    with TestClient(app, headers={"X-API-Key": token}) as reader:
        for path in ("/api/v1/customers/1/scores", "/api/v1/analytics/segments"):
            response = reader.get(path)
            assert response.status_code == 403
            assert response.json()["error"]["details"]["permission"] == "analytics:read"
