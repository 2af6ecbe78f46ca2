"""Cases over the JSON API and on the staff pages (SQLite and PostgreSQL): opening with an
idempotency key, listing, answering, notes, the status flow's refusals, assignment, the report;
the queue, the case page's forms, the new-case form prefilled from the customer 360."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.cases.helpers import settings
from patron.care.models import Case, CaseEntry
from patron.engage.models import Message
from patron.web.app import create_app

API = "/api/v1"


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    return create_app(settings(database_url=database_url, environment="test"), engine=engine)


@pytest.fixture
def customers(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions.begin() as session:
        anna = make.customer(
            session, external_id="ANNA", name="Anna Berg", email="anna@example.org"
        )
        ben = make.customer(session, external_id="BEN", name="Ben Ek", email=None)
        make.order(session, anna, external_id="A-1")
        # a second, older order: the overview (where signing in lands) then draws a time span
        make.order(session, ben, external_id="B-0", placed_at=make.at(-400))
        return {"ANNA": anna.id, "BEN": ben.id}


@pytest.fixture
def api(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with sessions() as session:
        token = make.api_token(session, "cases:read", "cases:write", name="shop")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def _open(api: TestClient, **more: object) -> dict[str, object]:
    body = {"customer": "ANNA", "subject": "Broken cup", "description": "It broke."} | more
    response = api.post(f"{API}/cases", json=body)
    assert response.status_code in (200, 201), response.text
    found: dict[str, object] = response.json()
    return found


# --- the API -----------------------------------------------------------------------------------


def test_opening_over_the_api_is_idempotent_and_checks_its_input(
    api: TestClient, sessions: sessionmaker[Session], customers: dict[str, int]
) -> None:
    body = {
        "customer": "ANNA",
        "subject": "Broken cup",
        "description": "It broke.",
        "category": "damaged",
        "order": "A-1",
        "key": "shop-1",
    }
    first = api.post(f"{API}/cases", json=body)
    assert first.status_code == 201, first.text
    again = api.post(f"{API}/cases", json=body | {"subject": "other"})
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["subject"] == "Broken cup"
    made = first.json()
    assert made["customer_id"] == customers["ANNA"]
    assert made["order_external_id"] == "A-1"
    assert made["channel"] == "api"
    assert made["first_response_due"] is not None
    assert made["entries"][0]["kind"] == "customer"
    by_header = api.post(
        f"{API}/cases",
        json={"customer": "ANNA", "subject": "S", "description": "D"},
        headers={"Idempotency-Key": "shop-2"},
    )
    assert by_header.status_code == 201
    assert (
        api.post(
            f"{API}/cases",
            json={"customer": "ANNA", "subject": "S", "description": "D"},
            headers={"Idempotency-Key": "shop-2"},
        ).json()["id"]
        == by_header.json()["id"]
    )
    missing = api.post(
        f"{API}/cases", json={"customer": "NOBODY", "subject": "S", "description": "D"}
    )
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "customers.not_found")
    wrong = api.post(f"{API}/cases", json=body | {"key": None, "category": "weather"})
    assert wrong.status_code == 422
    assert wrong.json()["error"]["details"]["field"] == "category"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 2


def test_answering_noting_moving_and_assigning_over_the_api(
    api: TestClient, sessions: sessionmaker[Session], customers: dict[str, int]
) -> None:
    with sessions() as session:
        agent = make.user(session, "service_agent")
    case_id = _open(api)["id"]
    replied = api.post(f"{API}/cases/{case_id}/replies", json={"body": "Sorry!", "wait": True})
    assert replied.status_code == 201, replied.text
    assert replied.json()["kind"] == "reply"
    noted = api.post(f"{API}/cases/{case_id}/notes", json={"body": "Courier's fault."})
    assert (noted.status_code, noted.json()["kind"]) == (201, "note")
    assigned = api.post(
        f"{API}/cases/{case_id}/assign", json={"assignee_id": agent.id, "team": "returns"}
    )
    assert assigned.status_code == 200
    assert (assigned.json()["assignee"], assigned.json()["team"]) == (agent.email, "returns")
    closed = api.post(f"{API}/cases/{case_id}/status", json={"status": "closed"})
    assert closed.json()["status"] == "closed"
    refused = api.post(f"{API}/cases/{case_id}/status", json={"status": "in_progress"})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "cases.transition"
    assert refused.json()["error"]["details"]["from"] == "closed"
    one = api.get(f"{API}/cases/{case_id}").json()
    assert [e["kind"] for e in one["entries"]] == [
        "customer",
        "reply",
        "change",
        "note",
        "change",
        "change",
    ]
    assert one["first_response_at"] is not None
    assert api.get(f"{API}/cases/999999").json()["error"]["code"] == "cases.not_found"
    with sessions() as session:
        assert session.scalar(select(Message.subject)).endswith(f"[Case #{case_id}]")


def test_listing_filters_and_the_unreachable_and_the_report(
    api: TestClient, customers: dict[str, int]
) -> None:
    annas = _open(api, priority="urgent")["id"]
    bens = _open(api, customer="BEN", kind="question")["id"]
    unreachable = api.post(f"{API}/cases/{bens}/replies", json={"body": "Hello"})
    assert (unreachable.status_code, unreachable.json()["error"]["code"]) == (
        409,
        "message.unreachable",
    )
    assert (
        api.post(f"{API}/cases/{bens}/replies", json={"body": "Hi", "send": False}).status_code
        == 201
    )
    resolved = api.post(f"{API}/cases/{bens}/status", json={"status": "resolved"}).json()
    assert resolved["status"] == "resolved"
    assert "could not be sent" in resolved["entries"][-1]["body"]
    listed = api.get(f"{API}/cases", params={"open": "true"}).json()
    assert [c["id"] for c in listed["data"]] == [annas]
    assert listed["data"][0]["due_state"] in ("ok", "at_risk", "breached")
    every = api.get(f"{API}/cases").json()
    assert every["count"] == 2
    assert api.get(f"{API}/cases", params={"customer": "BEN"}).json()["data"][0]["id"] == bens
    assert api.get(f"{API}/cases", params={"kind": "question"}).json()["count"] == 1
    assert api.get(f"{API}/cases", params={"status": ["resolved", "closed"]}).json()["count"] == 1
    report = api.get(f"{API}/reports/service-recovery", params={"window_days": 30})
    assert report.status_code == 200
    groups = {g["group"]: g for g in report.json()["groups"]}
    assert groups["unresolved"]["customers"] == 1  # ANNA's complaint is open; BEN asked a question
    assert groups["resolved"]["customers"] == 0


# --- the pages ---------------------------------------------------------------------------------


def _token(page: str) -> str:
    return make.csrf_token(page)


def test_an_agent_opens_answers_and_resolves_a_case_on_the_pages(
    app: FastAPI, sessions: sessionmaker[Session], customers: dict[str, int]
) -> None:
    with make.browser(app, sessions, "service_agent", email="agent@shop.example") as agent:
        profile = agent.get(f"/customers/{customers['ANNA']}")
        assert 'data-section="cases"' in profile.text
        assert 'href="/cases/new?customer=ANNA"' in profile.text
        form = agent.get("/cases/new?customer=ANNA")
        assert 'name="customer" value="ANNA"' in form.text
        opened = agent.post(
            "/cases/new",
            data={
                "csrf_token": _token(form.text),
                "customer": "ANNA",
                "subject": "Wrong colour",
                "description": "Blue, not red.",
                "category": "wrong_item",
                "priority": "high",
                "channel": "phone",
                "order": "A-1",
            },
            follow_redirects=False,
        )
        assert opened.status_code == 303
        target = opened.headers["location"]
        case_id = int(re.search(r"/cases/(\d+)", target)[1])  # type: ignore[index]
        page = agent.get(target)
        assert f'data-case="{case_id}"' in page.text
        assert 'data-status="new"' in page.text
        assert 'data-action="reply"' in page.text
        assert 'data-deadline="first_response"' in page.text
        for move in ("in_progress", "waiting", "resolved", "closed"):
            assert (
                f'<button type="submit" class="button{" primary" if move == "resolved" else ""}" data-status="{move}">'
                in page.text
            )
        token = _token(page.text)
        agent.post(
            f"/cases/{case_id}/reply",
            data={"csrf_token": token, "body": "A red one is on its way.", "send": "true"},
        )
        agent.post(f"/cases/{case_id}/note", data={"csrf_token": token, "body": "Stock checked."})
        done = agent.post(
            f"/cases/{case_id}/status", data={"csrf_token": token, "status": "resolved"}
        )
        assert 'data-status="resolved"' in done.text
        refused = agent.post(
            f"/cases/{case_id}/status", data={"csrf_token": token, "status": "waiting"}
        )
        assert 'data-testid="error"' in refused.text
        assert "from resolved to waiting" in refused.text
        queue = agent.get("/cases", params={"status": "resolved"})
        assert f'data-case="{case_id}"' in queue.text
        assert agent.get("/cases").text.count("data-case=") == 0  # nothing open
        assert "A red one is on its way." in done.text
        assert "Stock checked." in done.text
    with sessions() as session:
        row = session.get_one(Case, case_id)
        assert (row.status, row.priority, row.category, row.created_by) == (
            "resolved",
            "high",
            "wrong_item",
            "agent@shop.example",
        )
        keys = set(session.scalars(select(Message.key)))
        assert f"t:case-csat:{case_id}" in keys
        assert len(keys) == 2
        authors = set(session.scalars(select(CaseEntry.author).where(CaseEntry.kind == "note")))
        assert authors == {"agent@shop.example"}


def test_the_queue_shows_the_badges_and_the_assign_form_lists_agents_only(
    app: FastAPI, api: TestClient, sessions: sessionmaker[Session], customers: dict[str, int]
) -> None:
    with sessions() as session:
        analyst = make.user(session, "analyst", email="analyst@shop.example")
    urgent = _open(api, priority="urgent")
    with make.browser(app, sessions, "service_agent", email="agent@shop.example") as agent:
        queue = agent.get("/cases")
        row = re.search(rf'<tr data-case="{urgent["id"]}"[^>]*data-due-state="(\w+)"', queue.text)
        assert row is not None
        assert row[1] == urgent["due_state"]
        assert f'data-due="{urgent["due_state"]}"' in queue.text
        page = agent.get(f"/cases/{urgent['id']}")
        assert ">agent@shop.example</option>" in page.text
        assert "analyst@shop.example" not in page.text
        agent_id = re.search(r'<option value="(\d+)">agent@shop.example</option>', page.text)
        assert agent_id is not None
        agent.post(
            f"/cases/{urgent['id']}/assign",
            data={"csrf_token": _token(page.text), "assignee": agent_id[1], "team": "desk"},
        )
        mine = agent.get("/cases", params={"view": "mine"})
        assert f'data-case="{urgent["id"]}"' in mine.text
        assert agent.get("/cases", params={"view": "unassigned"}).text.count("data-case=") == 0
        assert f'data-case="{urgent["id"]}"' in agent.get("/cases", params={"view": "team"}).text
        report = agent.get("/cases/report")
        assert 'data-group="unresolved"' in report.text
    with make.browser(app, sessions, "analyst") as reader:
        page = reader.get(f"/cases/{urgent['id']}")
        assert page.status_code == 200
        assert 'data-action="reply"' not in page.text
        assert reader.get("/cases/new").status_code == 403
    assert analyst.role == "analyst"


def test_the_pages_speak_german_to_a_german_user(
    app: FastAPI, api: TestClient, sessions: sessionmaker[Session], customers: dict[str, int]
) -> None:
    case_id = _open(api)["id"]
    with make.browser(app, sessions, "service_agent", language="de") as agent:
        for path in ("/cases", f"/cases/{case_id}", "/cases/new", "/cases/report"):
            page = agent.get(path)
            assert page.status_code == 200, path
            assert '<html lang="de"' in page.text, path
