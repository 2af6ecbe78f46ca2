"""The report pages as signed-in staff see them: a campaign's delivery, totals and uplift with a
sentence on significance, the "so far" note while windows run, imported experiments; German for
a German user; refused without ``campaigns:read``."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from engage.test_reports import buy, campaign, line, member, message
from patron.config import load_settings
from patron.db import utcnow
from patron.engage import experiments
from patron.web.app import create_app


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    return create_app(load_settings(database_url=database_url, environment="test"), engine=engine)


@pytest.fixture
def marketer(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with make.browser(app, sessions, "marketer") as browser:
        yield browser


def _page(browser: TestClient, path: str) -> str:
    response = browser.get(path)
    assert response.status_code == 200, response.text
    return htmllib.unescape(response.text)


def _cell(page: str, row: str, figure: str) -> str:
    found = re.search(rf'{row}.*?data-figure="{figure}">([^<]*)<', page, re.S)
    assert found is not None, (row, figure)
    return found[1].strip()


def _build(sessions: sessionmaker[Session], *, days_ago: float, strong: bool) -> int:
    """Eight held out and eight treated (variant A), assigned ``days_ago``; treated customers buy
    100.00 each (``strong``) or as much as the held out, who buy 10.00 every other one."""
    assigned = utcnow() - timedelta(days=days_ago)
    with sessions.begin() as session:
        spring = campaign(session, variants=("A",))
        for n in range(16):
            customer = make.customer(session)
            group = "holdout" if n < 8 else "A"
            row = member(session, spring, customer, group, assigned)
            if group == "A":
                message(session, spring, row, "sent" if n % 4 else "bounced")
                if strong:
                    buy(
                        session,
                        customer,
                        assigned + timedelta(days=1),
                        line("100.00", cost="60.00"),
                    )
            if (group == "holdout" or not strong) and n % 2:
                buy(session, customer, assigned + timedelta(days=1), line("10.00"))
        return spring.id


def test_a_finished_campaign_with_a_clear_effect(
    marketer: TestClient, sessions: sessionmaker[Session]
) -> None:
    campaign_id = _build(sessions, days_ago=40, strong=True)
    page = _page(marketer, f"/campaigns/{campaign_id}/report")
    assert 'data-testid="running"' not in page
    assert _cell(page, 'data-variant="A"', "assigned") == "8"
    assert _cell(page, 'data-variant="total"', "sent") == "8"
    assert _cell(page, 'data-variant="total"', "delivered") == "6"
    assert _cell(page, 'data-variant="total"', "bounced") == "2"
    # a marketing e-mail campaign with tracking on (the default): none opened is a measured 0
    assert _cell(page, 'data-variant="total"', "opened") == "0"
    assert "Held out: 8 customers" in page
    assert _cell(page, 'data-group="treatment"', "revenue") == "€800.00"
    assert _cell(page, 'data-group="holdout"', "revenue") == "€40.00"
    assert _cell(page, 'data-group="treatment"', "margin") == "€320.00"
    revenue = page.split('data-outcome="revenue"')[1].split("</section>")[0]
    assert 'data-verdict="more"' in revenue
    assert "significant at 95%" in revenue
    assert _cell(revenue, 'data-compared="treatment"', "difference") == "€95.00"
    assert _cell(revenue, 'data-compared="treatment"', "incremental") == "€760.00"
    assert _cell(revenue, 'data-compared="A"', "difference") == "€95.00"


def test_a_running_campaign_says_its_figures_are_so_far(
    marketer: TestClient, sessions: sessionmaker[Session]
) -> None:
    campaign_id = _build(sessions, days_ago=5, strong=False)
    page = _page(marketer, f"/campaigns/{campaign_id}/report")
    assert 'data-testid="running"' in page
    assert "these are the figures so far" in page
    assert re.search(r'data-outcome="revenue".*?data-verdict="unclear"', page, re.S)
    assert "may well be chance" in page


def test_in_german_for_a_german_user(app: FastAPI, sessions: sessionmaker[Session]) -> None:
    with make.browser(app, sessions, "analyst", language="de") as browser:
        campaign_id = _build(sessions, days_ago=5, strong=True)
        page = _page(browser, f"/campaigns/{campaign_id}/report")
    assert "Zustellung" in page
    assert "signifikant" in page
    assert "bisherigen Zahlen" in page
    assert "Delivery" not in page


def test_without_campaigns_read_the_page_is_refused(
    app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    with make.browser(app, sessions, "service_agent") as agent:
        campaign_id = _build(sessions, days_ago=40, strong=True)
        for path in (f"/campaigns/{campaign_id}/report", "/experiments"):
            response = agent.get(path)
            assert response.status_code == 403
            assert 'data-error-code="auth.forbidden"' in response.text


def test_unknown_campaigns_and_experiments_are_not_found(marketer: TestClient) -> None:
    assert marketer.get("/campaigns/999999/report").status_code == 404
    assert marketer.get("/experiments/nothing%20here").status_code == 404


def test_imported_experiments_are_listed_and_reported(
    marketer: TestClient, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    assert 'data-testid="no-experiments"' in _page(marketer, "/experiments")
    path = tmp_path / "mailing.csv"
    path.write_text(
        "customer,group,revenue\na,control,1\nb,control,3\nc,A,10\nd,A,12\ne,B,4\nf,B,6\n",
        encoding="utf-8",
    )
    with sessions() as session:
        experiments.import_results(
            session, path=path, name="Autumn mailing", holdout="control", now=utcnow()
        )
    listed = _page(marketer, "/experiments")
    assert 'href="/experiments/Autumn%20mailing"' in listed
    assert "mailing.csv" in listed
    page = _page(marketer, "/experiments/Autumn%20mailing")
    assert "Holdout (control)" in page
    assert re.search(r'data-group="A">2<', page)
    revenue = page.split('data-outcome="revenue"')[1]
    assert _cell(revenue, 'data-compared="treatment"', "difference") == "6.00"
    assert _cell(revenue, 'data-compared="B"', "difference") == "3.00"
    assert _cell(revenue, 'data-compared="treatment"', "incremental") == "24.00"
