"""The survey API, pages and command line, end to end (SQLite and PostgreSQL): create, record,
invite (through the real outbox and SMTP server to the answer page), and report."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import factories as make
from care.surveys.conftest import NOW, case
from care.surveys.test_service import FEATURES
from engage.smtp_sink import Sink, running_sink
from patron.care.models import Case, SurveyResponse
from patron.care.surveys import service
from patron.cli import app as cli_app
from patron.config import Settings, load_settings
from patron.db import utcnow
from patron.engage import sending
from patron.web.app import create_app

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def api(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with sessions() as session:
        token = make.api_token(session, "cases:read", "cases:write")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_surveys_are_created_and_read_over_the_api(api: TestClient) -> None:
    made = api.post(
        "/api/v1/surveys",
        json={"key": "delivery", "name": "Delivery", "kind": "kano", "features": FEATURES},
    )
    assert made.status_code == 201, made.text
    assert [f["key"] for f in made.json()["questions"]["features"]] == ["same_day", "gift_wrap"]
    again = api.post("/api/v1/surveys", json={"key": "delivery", "name": "x", "kind": "nps"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "survey.exists"
    bad = api.post("/api/v1/surveys", json={"key": "k", "name": "x", "kind": "kano"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["field"] == "features"
    assert api.get("/api/v1/surveys/nps").json()["kind"] == "nps"  # built in
    assert api.get("/api/v1/surveys/nope").status_code == 404
    listed = api.get("/api/v1/surveys").json()
    assert listed["count"] == 1  # reading the built-in survey created nothing


def test_answers_are_recorded_idempotently_and_reported(
    api: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        customers = [make.customer(session, external_id=f"K{n}") for n in range(3)]
        case_ids = [
            case(session, customers[0].id, category="delivery").id,
            case(session, customers[1].id, category="billing").id,
        ]
        session.commit()
    body = {"customer": "K0", "reference": f"case:{case_ids[0]}", "score": 4}
    first = api.post("/api/v1/surveys/csat/responses", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["case_id"] == case_ids[0]
    repeated = api.post("/api/v1/surveys/csat/responses", json=body | {"score": 5})
    assert (repeated.status_code, repeated.json()["id"]) == (200, first.json()["id"])
    api.post(
        "/api/v1/surveys/csat/responses",
        json={"customer": "K1", "reference": f"case:{case_ids[1]}", "score": 1.0},
    )
    refused = api.post("/api/v1/surveys/csat/responses", json={"customer": "K2", "score": 9})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["field"] == "score"
    assert api.post("/api/v1/surveys/x/responses", json=body).status_code == 404
    when = (NOW - timedelta(days=3)).isoformat()
    for customer, score in (("K0", 10), ("K1", 9), ("K2", 0)):
        answered = api.post(
            "/api/v1/surveys/nps/responses",
            json={"customer": customer, "score": score, "answered_at": when},
        )
        assert answered.status_code == 201
    with sessions() as session:
        cases = {c.id: c.csat_score for c in session.scalars(select(Case))}
    assert cases == {case_ids[0]: 5, case_ids[1]: 1}

    csat = api.get("/api/v1/reports/csat-by-category").json()
    assert [(r["group"], r["n"], r["mean"]) for r in csat["rows"]] == [
        ("billing", 1, 1.0),
        ("delivery", 1, 5.0),
    ]
    nps = api.get("/api/v1/reports/nps", params={"by": "month"}).json()
    # 10, 9 promoters, 0 a detractor: 100 * (2 - 1) / 3
    assert [(r["period"], r["n"]) for r in nps["rows"]] == [("2026-02-01", 3)]
    assert nps["overall"]["nps"] == pytest.approx(100 / 3)
    assert api.get("/api/v1/reports/nps", params={"by": "shoe size"}).status_code == 422
    segments = api.get("/api/v1/reports/nps", params={"by": "abc"}).json()
    assert segments["snapshot_id"] is None
    assert [(r["group"], r["n"]) for r in segments["rows"]] == [("", 3)]
    report = api.get("/api/v1/surveys/csat/report").json()
    assert report["csat"]["n"] == 2
    assert report["kano"] is None


def _smtp_settings(database_url: str, sink: Sink) -> Settings:
    return load_settings(
        database_url=database_url,
        environment="test",
        secret_key="a-survey-test-secret-of-more-than-thirty-two-characters",
        shop_name="Fjord & Co",
        public_url="https://shop.example",
        language="en",
        email_from="Fjord <shop@shop.example>",
        smtp_host=sink.host,
        smtp_port=sink.port,
        smtp_security="none",
    )


def test_an_invitation_reaches_the_customer_whose_link_stores_the_answer(
    engine: Any, database_url: str, sessions: sessionmaker[Session]
) -> None:
    with running_sink() as sink:
        settings = _smtp_settings(database_url, sink)
        app = create_app(settings, engine=engine)
        with sessions() as session:
            customer = make.customer(session, external_id="K9", language="de")
            case_id = case(session, customer.id).id
            session.commit()
            token = make.api_token(session, "cases:write")
        auth = {"Authorization": f"Bearer {token}"}
        with TestClient(app, headers=auth) as client:
            body = {"customer": "K9", "reference": f"case:{case_id}"}
            sent = client.post("/api/v1/surveys/csat/invitations", json=body)
            assert sent.status_code == 201, sent.text
            assert sent.json()["purpose"] == "transactional"
            again = client.post("/api/v1/surveys/csat/invitations", json=body)
            assert (again.status_code, again.json()["id"]) == (200, sent.json()["id"])
            missing = client.post("/api/v1/surveys/csat/invitations", json={"customer": "K9"})
            assert missing.status_code == 422
        run = sending.send_due(sessions, settings, now_fn=utcnow)
        assert run.sent == 1
        received = sink.all()
        assert len(received) == 1
        message = received[0].message
        assert message["To"].addresses[0].addr_spec == customer.email
        body_html = message.get_body(("html",)).get_content()
        link = re.search(r'href="(https://shop\.example/s/[^"]+)"', body_html)
        assert link is not None, body_html
        assert "Jetzt antworten" in body_html
    with TestClient(app) as phone:
        path = link[1].removeprefix("https://shop.example")
        page = phone.get(path)
        assert "Wie zufrieden sind Sie damit" in page.text
        assert phone.post(path, data={"score": "4"}).status_code == 200
    with sessions() as session:
        stored = session.scalars(select(SurveyResponse)).one()
        assert (stored.case_id, stored.score, stored.reference) == (case_id, 4.0, f"case:{case_id}")
        found = session.get(Case, case_id)
        assert found is not None
        assert found.csat_score == 4


def test_staff_pages_create_list_close_and_report(
    app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    browser = make.browser(app, sessions, "service_agent")
    listing = browser.get("/surveys")
    assert listing.status_code == 200
    features = "\n".join(
        [
            "same_day de: Am selben Tag | Wenn ja? | Wenn nein?",
            "same_day en: Same day | If so? | If not?",
            "# a comment line",
            "gift_wrap de: Verpackung | Mit? | Ohne?",
            "gift_wrap en: Wrapping | With? | Without?",
        ]
    )
    form = {
        "csrf_token": make.csrf_token(listing.text),
        "key": "delivery",
        "name": "Delivery features",
        "kind": "kano",
        "features": features,
    }
    made = browser.post("/surveys/new", data=form, follow_redirects=False)
    assert made.status_code == 303
    assert made.headers["location"] == "/surveys/delivery?done=created"
    wrong = browser.post(
        "/surveys/new",
        data=form | {"key": "other", "features": "same_day de: only a name"},
        follow_redirects=False,
    )
    assert "error=" in wrong.headers["location"]
    assert "line+1" in wrong.headers["location"]
    with sessions() as session:
        for answer in (
            {"same_day": [1, 3], "gift_wrap": [3, 3]},
            {"same_day": [1, 3], "gift_wrap": [2, 5]},
        ):
            service.answer(
                session,
                survey="delivery",
                customer_id=make.customer(session).id,
                answers=answer,
                now=NOW,
            )
    report = browser.get("/surveys/delivery")
    assert report.status_code == 200
    assert '<script src="/vendor/vega.js" defer></script>' in report.text
    assert 'data-chart="chart-kano"' in report.text
    assert 'data-chart="chart-better-worse"' in report.text
    spec = re.search(
        r'<script type="application/json" id="chart-kano">(.*?)</script>', report.text, re.S
    )
    assert spec is not None
    assert json.loads(spec[1])["encoding"]["x"]["stack"] == "normalize"
    row = re.search(r'<tr data-feature="same_day">.*?</tr>', report.text, re.S)
    assert row is not None
    assert 'data-dominant="A"' in row[0]
    listing = browser.get("/surveys")
    assert re.search(r'data-survey="delivery".*?data-responses>2<', listing.text, re.S)
    closed = browser.post(
        "/surveys/delivery/status",
        data={"csrf_token": make.csrf_token(report.text), "status": "closed"},
        follow_redirects=False,
    )
    assert closed.headers["location"] == "/surveys/delivery?done=closed"
    assert 'data-status="closed"' in browser.get("/surveys/delivery").text
    nps = browser.get("/surveys/reports/nps?by=loyalty_type")
    assert nps.status_code == 200
    assert 'aria-current="page" data-by="loyalty_type"' in nps.text
    assert browser.get("/surveys/nps").status_code == 200
    assert browser.get("/surveys/no-such-survey").status_code == 404
    # German staff see the same pages in German
    german = make.browser(app, sessions, "account_manager", language="de")
    page = german.get("/surveys/delivery")
    assert page.status_code == 200
    assert '<html lang="de"' in page.text
    assert german.get("/surveys/reports/nps").status_code == 200


def test_the_command_line(cli_env: str, tmp_path: Any, sessions: sessionmaker[Session]) -> None:
    features = tmp_path / "features.yaml"
    features.write_text(json.dumps(FEATURES), encoding="utf-8")
    made = runner.invoke(
        cli_app,
        [
            "survey",
            "create",
            "delivery",
            "--name",
            "Delivery",
            "--kind",
            "kano",
            "--features",
            str(features),
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["kind"] == "kano"
    listed = runner.invoke(cli_app, ["survey", "list"])
    assert "delivery" in listed.output
    with sessions() as session:
        customer = make.customer(session, external_id="K5")
        session.commit()
        service.answer(
            session,
            survey="delivery",
            customer_id=customer.id,
            answers={"same_day": [1, 5], "gift_wrap": [3, 3]},
            now=NOW,
        )
    report = runner.invoke(cli_app, ["survey", "report", "delivery", "--json"])
    assert report.exit_code == 0, report.output
    rows = json.loads(report.output)["kano"]
    assert [(r["feature"], r["dominant"]) for r in rows] == [("same_day", "O"), ("gift_wrap", "I")]
    shown = runner.invoke(cli_app, ["survey", "report", "delivery"])
    assert "same_day" in shown.output
    # the customer has an e-mail address: the invitation is queued for the worker
    sent = runner.invoke(
        cli_app, ["survey", "send", "nps", "--customer", "K5", "--reference", "order:1"]
    )
    assert sent.exit_code == 0, sent.output
    assert "Invitation queued" in sent.output
    bad = runner.invoke(cli_app, ["survey", "create", "x", "--name", "X", "--kind", "kano"])
    assert bad.exit_code != 0
    by_segment = runner.invoke(cli_app, ["survey", "report", "nps", "--by", "abc"])
    assert by_segment.exit_code == 0, by_segment.output
