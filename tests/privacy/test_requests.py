"""Erasure requests: one open per person, approval erases, rejection keeps the data with a
reason, decisions are idempotent, bad numbers are clear errors; the API, the staff pages and
the command line on top."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import factories as make
from patron.cli import app as cli
from patron.config import load_settings
from patron.customers.models import Customer
from patron.db import make_engine, session_factory
from patron.errors import Conflict, NotFound, PatronError
from patron.outbox.models import OutboxEvent
from patron.privacy import service
from patron.web.app import create_app
from privacy import people

NOW = people.NOW


def _person(sessions: sessionmaker[Session], **fields: object) -> int:
    with sessions.begin() as session:
        return make.customer(session, **fields).id


def test_one_open_request_per_person_and_approval_erases(sessions: sessionmaker[Session]) -> None:
    anna = _person(sessions, name="Anna Berg", email="anna@example.org")
    with sessions() as session:
        first = service.request_erasure(session, anna, source="portal", now=NOW)
        again = service.request_erasure(session, anna, source="api", now=NOW)
        assert again == first
        assert [r.id for r in service.pending(session)] == [first.id]
        assert service.request_of(session, anna) == first
        done = service.approve(session, first.id, user_id=None, now=NOW)
        assert done.status == "done"
        assert service.approve(session, first.id, user_id=None, now=NOW) == done  # idempotent
        assert service.pending(session) == []
        assert session.get(Customer, anna).email is None  # type: ignore[union-attr]
        topics = session.scalars(select(OutboxEvent.topic)).all()
        assert topics.count("customer.erased") == 1
        with pytest.raises(Conflict) as erased:
            service.request_erasure(session, anna, source="portal", now=NOW)
        assert erased.value.code == "privacy.already_erased"
        with pytest.raises(Conflict) as decided:
            service.reject(session, first.id, user_id=None, note="too late", now=NOW)
        assert decided.value.code == "privacy.decided"


def test_a_rejected_request_keeps_the_data_and_says_why(sessions: sessionmaker[Session]) -> None:
    anna = _person(sessions, name="Anna Berg", email="anna@example.org")
    with sessions() as session:
        asked = service.request_erasure(session, anna, source="portal", now=NOW)
        with pytest.raises(PatronError) as empty:
            service.reject(session, asked.id, user_id=None, note="  ", now=NOW)
        assert (empty.value.code, empty.value.details["field"]) == ("privacy.invalid", "note")
        rejected = service.reject(
            session, asked.id, user_id=None, note="open payment dispute", now=NOW
        )
        assert (rejected.status, rejected.note) == ("rejected", "open payment dispute")
        assert service.reject(session, asked.id, user_id=None, note="x", now=NOW) == rejected
        with pytest.raises(Conflict):
            service.approve(session, asked.id, user_id=None, now=NOW)
        assert session.get(Customer, anna).email == "anna@example.org"  # type: ignore[union-attr]
        # asking again opens a new request
        assert service.request_erasure(session, anna, source="portal", now=NOW).id != asked.id


def test_bad_numbers_and_sources_are_clear_errors(sessions: sessionmaker[Session]) -> None:
    anna = _person(sessions)
    with sessions() as session:
        with pytest.raises(NotFound) as no_request:
            service.approve(session, 4711, user_id=None, now=NOW)
        assert no_request.value.code == "privacy.request_not_found"
        with pytest.raises(NotFound) as no_customer:
            service.request_erasure(session, 10**12, source="portal", now=NOW)
        assert no_customer.value.code == "customers.not_found"
        with pytest.raises(PatronError) as source:
            service.request_erasure(session, anna, source="fax", now=NOW)
        assert source.value.code == "privacy.invalid"
        assert service.pending(session) == []


# --- the API ----------------------------------------------------------------------------------


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    settings = load_settings(database_url=database_url, environment="test")
    return create_app(settings, engine=engine)


@pytest.fixture
def api(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with sessions() as session:
        token = make.api_token(session, "privacy:manage", name="dpo")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_export_request_and_decide_over_the_api(
    api: TestClient, sessions: sessionmaker[Session]
) -> None:
    anna = _person(sessions, external_id="ANNA", name="Anna Berg", email="anna@example.org")
    _person(sessions, external_id="BEN", name="Ben Ek", email="ben@example.org")
    exported = api.get("/api/v1/customers/ANNA/export")
    assert exported.status_code == 200
    assert 'filename="person-' in exported.headers["content-disposition"]
    assert exported.json()["customer"]["email"] == "anna@example.org"
    assert api.get("/api/v1/customers/NOBODY/export").json()["error"]["code"] == (
        "customers.not_found"
    )
    asked = api.post("/api/v1/customers/ANNA/erasure", json={})
    assert asked.status_code == 200
    assert asked.json()["status"] == "requested"
    assert api.post("/api/v1/customers/ANNA/erasure").json()["id"] == asked.json()["id"]
    listed = api.get("/api/v1/erasure-requests", params={"status": "requested"}).json()
    assert [r["id"] for r in listed["data"]] == [asked.json()["id"]]
    wrong = api.post("/api/v1/customers/BEN/erasure", json={"mode": "now"})
    assert wrong.status_code == 422
    assert api.post("/api/v1/erasure-requests/99999/approve").status_code == 404
    bare = api.post(f"/api/v1/erasure-requests/{asked.json()['id']}/reject", json={"note": ""})
    assert bare.status_code == 422
    approved = api.post(f"/api/v1/erasure-requests/{asked.json()['id']}/approve")
    assert approved.json()["status"] == "done"
    assert approved.json()["summary"]["anonymised"]["customers"] == 1
    ben = api.post("/api/v1/customers/BEN/erasure", json={"mode": "erase"}).json()
    assert (ben["status"], ben["source"]) == ("done", "staff")
    with sessions() as session:
        erased = session.scalars(select(Customer).where(Customer.erased_at.is_not(None))).all()
        assert {c.id for c in erased} >= {anna}
        assert all(c.email is None for c in erased)


def test_the_api_needs_privacy_manage(app: FastAPI, sessions: sessionmaker[Session]) -> None:
    _person(sessions, external_id="ANNA")
    with sessions() as session:
        token = make.api_token(session, "customers:read", name="shop")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        refused = client.get("/api/v1/customers/ANNA/export")
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["permission"] == "privacy:manage"


# --- the pages --------------------------------------------------------------------------------


def test_staff_approve_and_reject_on_the_privacy_page(
    app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    anna = _person(sessions, name="Anna Berg", email="anna@example.org")
    ben = _person(sessions, name="Ben Ek", email="ben@example.org")
    with sessions() as session:
        first = service.request_erasure(session, anna, source="portal", now=NOW)
        second = service.request_erasure(session, ben, source="portal", now=NOW)
    admin = make.browser(app, sessions, "admin")
    listing = admin.get("/privacy")
    assert listing.status_code == 200
    assert f'data-request="{first.id}"' in listing.text
    token = make.csrf_token(listing.text)
    approved = admin.post(
        f"/privacy/requests/{first.id}/approve", data={"csrf_token": token}, follow_redirects=True
    )
    assert 'data-testid="done"' in approved.text
    empty = admin.post(
        f"/privacy/requests/{second.id}/reject",
        data={"csrf_token": token, "note": ""},
        follow_redirects=True,
    )
    assert 'data-testid="error"' in empty.text
    rejected = admin.post(
        f"/privacy/requests/{second.id}/reject",
        data={"csrf_token": token, "note": "open dispute"},
        follow_redirects=True,
    )
    assert 'data-status="rejected"' in rejected.text
    assert "open dispute" in rejected.text
    download = admin.get(f"/privacy/customers/{ben}/export")
    assert download.json()["customer"]["name"] == "Ben Ek"
    with sessions() as session:
        assert session.get(Customer, anna).erased_at is not None  # type: ignore[union-attr]
        assert session.get(Customer, ben).erased_at is None  # type: ignore[union-attr]


def test_the_customer_360_offers_export_and_erase_to_privacy_managers_only(
    app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    anna = _person(sessions, name="Anna Berg", email="anna@example.org")
    marketer = make.browser(app, sessions, "marketer")
    assert 'data-section="privacy"' not in marketer.get(f"/customers/{anna}").text
    admin = make.browser(app, sessions, "admin")
    page = admin.get(f"/customers/{anna}")
    assert 'data-section="privacy"' in page.text
    token = make.csrf_token(page.text)
    unconfirmed = admin.post(
        f"/privacy/customers/{anna}/erase", data={"csrf_token": token}, follow_redirects=True
    )
    assert 'data-testid="error"' in unconfirmed.text
    admin.post(f"/privacy/customers/{anna}/erase", data={"csrf_token": token, "confirm": "yes"})
    after = admin.get(f"/customers/{anna}")
    assert 'data-testid="erased"' in after.text
    assert "Anna Berg" not in after.text


# --- the command line -------------------------------------------------------------------------

runner = CliRunner(env={"COLUMNS": "200"})


def _json(args: list[str]) -> object:
    ran = runner.invoke(cli, [*args, "--json"])
    assert ran.exit_code == 0, (ran.output, ran.exception)
    return json.loads(ran.stdout)


def test_export_request_approve_reject_and_erase_from_the_command_line(
    cli_env: str, tmp_path: object
) -> None:
    engine = make_engine(cli_env)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        make.customer(session, external_id="ANNA", name="Anna Berg", email="anna@example.org")
        make.customer(session, external_id="BEN", name="Ben Ek", email="ben@example.org")
        make.customer(session, external_id="CARL", name="Carl Wu", email="carl@example.org")
    engine.dispose()
    ran = runner.invoke(cli, ["privacy", "export", "ANNA", "-o", "anna.json"])
    assert ran.exit_code == 0, ran.output
    with open("anna.json", encoding="utf-8") as file:
        assert json.load(file)["customer"]["email"] == "anna@example.org"
    asked = _json(["privacy", "request", "ANNA"])
    other = _json(["privacy", "request", "BEN"])
    listed = _json(["privacy", "requests", "--status", "requested"])
    assert [r["id"] for r in listed["data"]] == [asked["id"], other["id"]]  # type: ignore[index]
    done = _json(["privacy", "approve", str(asked["id"])])  # type: ignore[index]
    assert done["status"] == "done"  # type: ignore[index]
    rejected = _json(["privacy", "reject", str(other["id"]), "--reason", "dispute"])  # type: ignore[index]
    assert rejected["note"] == "dispute"  # type: ignore[index]
    refused = runner.invoke(cli, ["privacy", "erase", "CARL"])
    assert isinstance(refused.exception, PatronError)
    assert refused.exception.code == "privacy.unconfirmed"
    assert _json(["privacy", "erase", "CARL", "--yes"])["status"] == "done"  # type: ignore[index]
    missing = runner.invoke(cli, ["privacy", "approve", "4711"])
    assert isinstance(missing.exception, NotFound)
    assert missing.exception.code == "privacy.request_not_found"
