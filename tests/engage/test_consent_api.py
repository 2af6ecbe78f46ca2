"""The consent API over a real store (SQLite and PostgreSQL): consent changes, double opt-in and
the suppression list, as a shop's integration sees them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.config import load_settings
from patron.customers.models import Consent
from patron.db import utcnow
from patron.engage.messages import Outgoing, enqueue
from patron.engage.models import ConsentRequest, Message
from patron.web.app import create_app

API = "/api/v1"


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    settings = load_settings(
        database_url=database_url,
        environment="test",
        shop_name="Fjord & Co",
        public_url="https://shop.example",
    )
    return create_app(settings, engine=engine)


@pytest.fixture
def keys(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return {
            "write": make.api_token(session, "customers:read", "customers:write", name="shop"),
            "read": make.api_token(session, "customers:read", name="reader"),
        }


@pytest.fixture
def client(app: FastAPI, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {keys['write']}"}) as client:
        yield client


@pytest.fixture
def anna(sessions: sessionmaker[Session]) -> int:
    """ANNA agreed to e-mail marketing and has a newsletter and a receipt queued."""
    with sessions.begin() as session:
        customer = make.customer(session, external_id="ANNA", email="anna@example.org")
        make.consent(session, customer, channel="email", purpose="marketing", granted=True)
        enqueue(
            session,
            [
                _outgoing(customer.id, "news", "marketing"),
                _outgoing(customer.id, "receipt", "transactional"),
            ],
            now=utcnow(),
        )
        return customer.id


def _outgoing(
    customer_id: int | None, key: str, purpose: str, recipient: str = "anna@example.org"
) -> Outgoing:
    return Outgoing(
        key=key,
        customer_id=customer_id,
        channel="email",
        purpose=purpose,
        language="en",
        recipient=recipient,
        subject="Hi",
        html="<p>Hi</p>",
        text="Hi\n",
        send_after=utcnow(),
    )


def _statuses(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return dict(session.execute(select(Message.key, Message.status)).all())


def error(response: httpx2.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    code: str = body["error"]["code"]
    return code


def test_a_withdrawal_through_the_api_answers_the_new_state_and_stops_queued_marketing(
    client: TestClient, anna: int, sessions: sessionmaker[Session]
) -> None:
    response = client.post(
        f"{API}/customers/ANNA/consents",
        json={"channel": "email", "purpose": "marketing", "granted": False, "source": "hotline"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert {k: body[k] for k in ("customer_id", "channel", "purpose", "granted", "source")} == {
        "customer_id": anna,
        "channel": "email",
        "purpose": "marketing",
        "granted": False,
        "source": "hotline",
    }
    assert body["cancelled_messages"] == 1
    assert _statuses(sessions) == {"news": "cancelled", "receipt": "queued"}
    listed = client.get(f"{API}/customers/{anna}/consents")
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    [state] = listed.json()["data"]
    assert (state["channel"], state["granted"], state["source"]) == ("email", False, "hotline")


def test_the_api_refuses_what_it_cannot_record(
    client: TestClient, anna: int, sessions: sessionmaker[Session]
) -> None:
    change = {"channel": "fax", "purpose": "marketing", "granted": True}
    assert (
        error(client.post(f"{API}/customers/ANNA/consents", json=change), 400) == "consent.invalid"
    )
    change["channel"] = "email"
    missing = client.post(f"{API}/customers/NOBODY/consents", json=change)
    assert error(missing, 404) == "customers.not_found"
    assert error(client.post(f"{API}/customers/ANNA/consents", json={}), 422) == "request.invalid"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Consent)) == 1


def test_a_read_only_key_may_read_consent_but_not_change_it(
    app: FastAPI, keys: dict[str, str], anna: int
) -> None:
    with TestClient(app, headers={"X-API-Key": keys["read"]}) as reader:
        assert reader.get(f"{API}/customers/ANNA/consents").status_code == 200
        assert reader.get(f"{API}/suppressions").status_code == 200
        change = {"channel": "email", "purpose": "marketing", "granted": False}
        refused = reader.post(f"{API}/customers/ANNA/consents", json=change)
        assert error(refused, 403) == "auth.forbidden"
        assert error(reader.post(f"{API}/customers/ANNA/opt-in", json={}), 403) == "auth.forbidden"
        blocked = reader.post(f"{API}/suppressions", json={"channel": "email", "address": "a@b.c"})
        assert error(blocked, 403) == "auth.forbidden"


def test_starting_a_double_opt_in_queues_the_email_but_never_answers_the_link(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        make.customer(session, external_id="BEN", email="ben@example.org", language="de")
        make.customer(session, external_id="NOMAIL", email=None)
    response = client.post(f"{API}/customers/BEN/opt-in", json={"source": "checkout"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["channel"], body["purpose"], body["confirmed_at"]) == ("email", "marketing", None)
    with sessions() as session:
        request = session.scalars(select(ConsentRequest)).one()
        message = session.scalars(select(Message)).one()
    assert body["request_id"] == request.id
    assert (message.key, message.purpose) == (f"optin:{request.id}", "transactional")
    assert "https://shop.example/optin/" in message.html
    link_token = message.text.split("https://shop.example/optin/")[1].split(")")[0]
    assert link_token not in response.text
    refused = client.post(f"{API}/customers/NOMAIL/opt-in", json={})
    assert error(refused, 409) == "consent.no_address"


def test_the_suppression_list_through_the_api(
    client: TestClient, anna: int, sessions: sessionmaker[Session]
) -> None:
    added = client.post(
        f"{API}/suppressions",
        json={
            "channel": "email",
            "address": " Anna@Example.org",
            "reason": "complaint",
            "note": "FBL",
        },
    )
    assert added.status_code == 201, added.text
    body: dict[str, Any] = added.json()
    assert body["cancelled_messages"] == 2
    assert {k: body["suppression"][k] for k in ("channel", "address", "reason", "note")} == {
        "channel": "email",
        "address": "anna@example.org",
        "reason": "complaint",
        "note": "FBL",
    }
    assert _statuses(sessions) == {"news": "cancelled", "receipt": "cancelled"}
    listed = client.get(f"{API}/suppressions", params={"channel": "email"}).json()
    assert (listed["count"], listed["data"][0]["address"]) == (1, "anna@example.org")
    assert client.get(f"{API}/suppressions", params={"channel": "sms"}).json()["count"] == 0
    assert (
        error(client.get(f"{API}/suppressions", params={"channel": "fax"}), 400)
        == "consent.invalid"
    )
    bad = client.post(
        f"{API}/suppressions", json={"channel": "email", "address": "x", "reason": "manual"}
    )
    assert error(bad, 400) == "consent.invalid"

    assert client.delete(f"{API}/suppressions/email/ANNA@example.org").status_code == 204
    gone = client.delete(f"{API}/suppressions/email/anna@example.org")
    assert error(gone, 404) == "suppressions.not_found"
    assert client.get(f"{API}/suppressions").json() == {"data": [], "count": 0}
