"""The analytics page and the scores on the customer 360, as signed-in users see them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.analytics.scoring import Scoring, ScoringSettings
from patron.analytics.service import analyze_store, report_html
from patron.analytics.snapshots import CustomerScore
from patron.config import load_settings
from patron.customers.models import Customer
from patron.db import session_factory
from patron.demo import service as demo
from patron.web.app import create_app

CHARTS = (
    "chart-pareto",
    "chart-abc",
    "chart-rfm",
    "chart-segments",
    "chart-clv",
    "chart-p-alive",
    "chart-lifecycle",
    "chart-loyalty",
    "chart-cohorts",
)
SPEC = re.compile(r'<script type="application/json" id="(chart-[\w-]+)">(.*?)</script>', re.S)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    return create_app(load_settings(database_url=database_url, environment="test"), engine=engine)


@pytest.fixture
def analyst(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with make.browser(app, sessions, "analyst") as browser:
        yield browser


@pytest.fixture
def analysis(engine: Engine) -> tuple[Scoring, int]:
    """The demo store scored: the run and its snapshot's id."""
    demo.generate(engine, customers=300, seed=11)
    return analyze_store(engine, ScoringSettings(holdout_share=0))


@pytest.fixture
def snapshot_id(analysis: tuple[Scoring, int]) -> int:
    return analysis[1]


def _page(browser: TestClient, path: str) -> str:
    response = browser.get(path)
    assert response.status_code == 200, response.text
    return response.text


def _kpi(html: str, name: str) -> str:
    found = re.search(rf'data-kpi="{name}">.*?<div class="value">(.*?)</div>', html, re.S)
    assert found is not None, name
    return found[1]


def test_without_a_snapshot_the_page_explains_how_to_make_one(analyst: TestClient) -> None:
    html = _page(analyst, "/analytics")
    assert 'data-testid="analytics-empty"' in html
    assert "<code>patron analyze</code>" in html
    assert "data-chart" not in html


def test_key_figures_are_those_of_the_stored_scores(
    analyst: TestClient, sessions: sessionmaker[Session], snapshot_id: int
) -> None:
    with sessions() as session:
        scored = CustomerScore.snapshot_id == snapshot_id
        customers = session.scalar(select(func.count()).where(scored))
        by_class = session.execute(
            select(CustomerScore.abc, CustomerScore.revenue).where(
                scored, CustomerScore.abc.is_not(None)
            )
        ).all()
        p_alive = session.scalar(select(func.avg(CustomerScore.p_alive)).where(scored))
        clv = session.scalar(select(func.sum(CustomerScore.clv)).where(scored))
        unprofitable = session.scalar(select(func.count()).where(scored, CustomerScore.profit < 0))
        subscriptions = session.scalar(
            select(func.count()).where(scored, CustomerScore.subscription_product.is_not(None))
        )
    html = _page(analyst, "/analytics")
    value = [(abc, max(revenue or 0.0, 0.0)) for abc, revenue in by_class]  # as ABC ranks
    a_share = sum(v for abc, v in value if abc == "A") / sum(v for _abc, v in value)
    assert _kpi(html, "customers") == f"{customers:,}"
    assert _kpi(html, "a-share") == f"{a_share:.1%}"
    assert _kpi(html, "p-alive") == f"{p_alive:.1%}"
    assert _kpi(html, "clv") == f"€{clv:,.2f}"
    assert _kpi(html, "unprofitable") == f"{unprofitable:,}"
    assert _kpi(html, "subscriptions") == f"{subscriptions:,}"


def test_the_page_and_the_report_show_the_same_key_figures(
    app: FastAPI, analyst: TestClient, analysis: tuple[Scoring, int]
) -> None:
    result, _snapshot_id = analysis
    page = _page(analyst, "/analytics")
    report = report_html(result, title="Report", currency=app.state.settings.currency)
    shared = ("customers", "a-share", "p-alive", "clv", "unprofitable", "subscriptions")
    assert {name: _kpi(report, name) for name in shared} == {
        name: _kpi(page, name) for name in shared
    }
    label = re.compile(r'data-kpi="a-share">\s*<div class="label">(.*?)</div>', re.S)
    assert label.findall(report) == label.findall(page) == ["Revenue from A customers"]


def test_every_chart_has_a_spec_and_a_plain_table(analyst: TestClient, snapshot_id: int) -> None:
    html = _page(analyst, "/analytics")
    specs = {name: json.loads(text) for name, text in SPEC.findall(html)}
    assert list(specs) == list(CHARTS)
    for name, spec in specs.items():
        assert "data" in spec or "layer" in spec, name
        assert f'<div class="chart" data-chart="{name}">' in html
    tables = re.findall(r'data-chart="(chart-[\w-]+)">\s*<table class="chart-fallback data">', html)
    assert tables == list(CHARTS)
    assert '<script src="/vendor/vega.js" defer></script>' in html


def test_a_run_with_a_holdout_adds_tracking_and_the_model_comparison(
    engine: Engine, analyst: TestClient
) -> None:
    demo.generate(engine, customers=300, seed=11)
    result, _ = analyze_store(engine, ScoringSettings(holdout_share=0.25))
    assert result.tracking is not None
    assert result.comparison is not None
    html = _page(analyst, "/analytics")
    specs = {name: json.loads(text) for name, text in SPEC.findall(html)}
    assert list(specs) == [*CHARTS, "chart-tracking", "chart-models"]
    # the charts draw the run's own rows, kept in the snapshot
    tracking = json.dumps(specs["chart-tracking"])
    last = result.tracking.to_pylist()[-1]
    assert f"{last['actual']:g}" in tracking or str(last["actual"]) in tracking
    models = specs["chart-models"]
    drawn = {row["model"]: row["predicted_total"] for row in models["data"]["values"]}
    expected = dict(
        zip(
            result.comparison["model"].to_pylist(),
            result.comparison["predicted_total"].to_pylist(),
            strict=True,
        )
    )
    assert drawn.keys() == expected.keys()
    for model, total in expected.items():
        assert drawn[model] == pytest.approx(total)


def test_segment_tables_and_the_top_customers(
    analyst: TestClient, sessions: sessionmaker[Session], snapshot_id: int
) -> None:
    with sessions() as session:
        scored = CustomerScore.snapshot_id == snapshot_id
        a_customers = session.scalar(select(func.count()).where(scored, CustomerScore.abc == "A"))
        best = session.execute(
            select(Customer.id, Customer.external_id)
            .join(CustomerScore, CustomerScore.customer_id == Customer.id)
            .where(scored, CustomerScore.clv.is_not(None))
            .order_by(CustomerScore.clv.desc(), Customer.id)
            .limit(10)
        ).all()
    html = _page(analyst, "/analytics")
    abc = re.search(r'data-segments="abc">(.*?)</table>', html, re.S)
    assert abc is not None
    row = re.search(r'<tr data-value="A"><td>A</td><td class="num">([\d,]+)</td>', abc[1])
    assert row is not None
    assert row[1] == f"{a_customers:,}"
    top = re.search(r'data-section="top-customers">(.*?)</section>', html, re.S)
    assert top is not None
    assert re.findall(r'data-customer-id="(\d+)"', top[1]) == [str(c.id) for c in best]
    assert f'href="/customers/{best[0].external_id}"' in top[1]  # to their 360


def test_the_360_shows_the_scores_with_their_explanations(
    analyst: TestClient, sessions: sessionmaker[Session], snapshot_id: int
) -> None:
    with sessions() as session:
        row = session.execute(
            select(Customer.external_id, CustomerScore)
            .join(CustomerScore, CustomerScore.customer_id == Customer.id)
            .where(
                CustomerScore.snapshot_id == snapshot_id,
                CustomerScore.frequency > 0,
                CustomerScore.p_alive.is_not(None),
            )
            .order_by(Customer.id)
            .limit(1)
        ).one()
        key, score = row[0], row[1]
    html = _page(analyst, f"/customers/{key}")
    section = re.search(r'<section class="card" data-section="scores">(.*?)</section>', html, re.S)
    assert section is not None
    assert 'data-placeholder="scores"' not in html
    scores = dict(re.findall(r'<tr data-score="(\w+)">.*?<strong>(.*?)</strong>', section[1], re.S))
    assert scores["abc"] == score.abc
    assert scores["rfm"] == f"{score.r_score}-{score.f_score}-{score.m_score}"
    assert scores["p_alive"] == f"{score.p_alive:.2f}"
    assert scores["clv"] == f"€{score.clv:,.2f}"
    assert "usually buys every" in section[1]


def test_a_customer_added_after_the_analysis_is_not_scored_yet(
    analyst: TestClient, sessions: sessionmaker[Session], snapshot_id: int
) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="NEW-1")
    html = _page(analyst, "/customers/NEW-1")
    assert 'data-testid="not-scored"' in html
    assert "<code>patron analyze</code>" in html


def test_the_360_keeps_its_placeholder_for_who_may_not_see_analytics(
    app: FastAPI, sessions: sessionmaker[Session], snapshot_id: int
) -> None:
    with make.browser(app, sessions, "service_agent") as agent:
        html = _page(agent, "/customers/1")
        assert agent.get("/analytics").status_code == 403
    assert 'data-section="scores"' not in html
    assert 'data-placeholder="scores"' in html
    assert 'href="/analytics"' not in html


def test_analytics_follows_overview_in_the_navigation(analyst: TestClient) -> None:
    html = _page(analyst, "/overview")
    nav = re.search(r'<nav class="mainnav".*?</nav>', html, re.S)
    assert nav is not None
    assert re.findall(r'href="(/[\w-]+)"', nav[0])[:3] == ["/overview", "/analytics", "/customers"]


def test_in_german(app: FastAPI, sessions: sessionmaker[Session], snapshot_id: int) -> None:
    with sessions() as session:
        clv = session.scalar(
            select(func.sum(CustomerScore.clv)).where(CustomerScore.snapshot_id == snapshot_id)
        )
        key = session.scalar(
            select(Customer.external_id)
            .join(CustomerScore, CustomerScore.customer_id == Customer.id)
            .where(CustomerScore.frequency > 0, CustomerScore.p_alive.is_not(None))
            .order_by(Customer.id)
        )
    with make.browser(app, sessions, "analyst", language="de") as browser:
        page = _page(browser, "/analytics")
        detail = _page(browser, f"/customers/{key}")
    assert "<h1>Analysen</h1>" in page
    assert "Umsatz von A-Kunden" in page
    total = f"{clv:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    assert _kpi(page, "clv") == f"{total}\xa0€"
    assert "<h2>Segmente</h2>" in page
    assert "Aktivitätswahrscheinlichkeit" in detail
    assert "kauft gewöhnlich" in detail
