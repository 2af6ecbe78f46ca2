"""The loyalty API over the demo programme, on SQLite and PostgreSQL: what a shop's till sees."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.config import load_settings
from patron.customers.models import Customer
from patron.db import utcnow
from patron.loyalty.models import AuditRecord, Voucher
from patron.web.app import create_app

API = "/api/v1/loyalty"
CLUB = f"{API}/club"


@pytest.fixture
def app(engine: Engine, database_url: str, shop: sessionmaker[Session]) -> FastAPI:
    return create_app(load_settings(database_url=database_url, environment="test"), engine=engine)


@pytest.fixture
def token(shop: sessionmaker[Session]) -> str:
    """A till's key: it reports purchases and returns, reads members, redeems and adjusts."""
    with shop() as session:
        return make.api_token(session, "events:write", "loyalty:read", "loyalty:write")


@pytest.fixture
def client(app: FastAPI, token: str) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def post(
    client: TestClient, what: str, body: dict[str, Any], key: str | None = None
) -> httpx2.Response:
    """POST a booking under ``key`` (a new one by default)."""
    return client.post(
        f"{CLUB}/{what}", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())}
    )


def bought(customer: str, order: str, *amounts: str) -> dict[str, Any]:
    lines = [{"amount": amount, "category": "Pasta & Rice"} for amount in amounts]
    return {"customer": customer, "order": order, "currency": "EUR", "lines": lines}


def granted(customer: str, points: int) -> dict[str, Any]:
    return {"customer": customer, "points": points, "reason": "welcome gift"}


def error(response: httpx2.Response, status: int) -> str:
    """The error's code, once the status and the one error shape are checked."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    code: str = body["error"]["code"]
    return code


def exact(voucher: dict[str, Any]) -> dict[str, Any]:
    return voucher | {name: Decimal(voucher[name]) for name in ("value", "minimum_order")}


def entries(client: TestClient, customer: str) -> int:
    response = client.get(f"{CLUB}/members/{customer}/statement")
    assert response.status_code == 200, response.text
    count: int = response.json()["count"]
    return count


# --- bookings ------------------------------------------------------------------------------


def test_a_purchase_books_pending_points_and_the_balance_shows_them(client: TestClient) -> None:
    response = post(client, "purchases", bought("C2", "SO-1", "120.50", "9.99"))
    assert response.status_code == 201, response.text
    booking = response.json()
    assert "idempotent-replayed" not in response.headers
    # 130.49 € at one point per euro, floored, and the first-purchase bonus of 100
    assert (booking["operation"], booking["reference"], booking["points"]) == (
        "purchase",
        "SO-1",
        230,
    )
    assert booking["balance"]["balance"] == 230
    assert (booking["balance"]["available"], booking["balance"]["pending"]) == (0, 230)
    balance = client.get(f"{CLUB}/members/C2").json()
    assert balance == booking["balance"] | {"tier_review_at": balance["tier_review_at"]}
    assert (balance["programme"], balance["currency"], balance["tier"]["code"]) == (
        "club",
        "EUR",
        "bronze",
    )


def test_a_replay_answers_the_same_and_books_nothing(client: TestClient) -> None:
    first = post(client, "purchases", bought("C2", "SO-1", "40.00"), key="till-7:0001")
    count = entries(client, "C2")
    again = post(client, "purchases", bought("C2", "SO-1", "40.00"), key="till-7:0001")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert entries(client, "C2") == count
    assert client.get(f"{CLUB}/members/C2").json()["balance"] == first.json()["balance"]["balance"]


def test_the_same_key_with_another_body_is_refused(client: TestClient) -> None:
    assert post(client, "purchases", bought("C2", "SO-1", "40.00"), key="k-1").status_code == 201
    refused = post(client, "purchases", bought("C2", "SO-1", "41.00"), key="k-1")
    assert error(refused, 422) == "idempotency.mismatch"
    assert refused.json()["error"]["details"]["key"] == "k-1"
    # and a key is a key whatever the operation
    assert error(post(client, "adjustments", granted("C2", 5), key="k-1"), 422) == (
        "idempotency.mismatch"
    )


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "idempotency.missing"),
        ({"Idempotency-Key": "  "}, "idempotency.missing"),
        ({"Idempotency-Key": "x" * 201}, "idempotency.invalid"),
        ({"Idempotency-Key": "caf\u00e9"}, "idempotency.invalid"),
    ],
)
def test_a_booking_without_a_usable_key_is_refused(
    client: TestClient, headers: dict[str, str], code: str
) -> None:
    response = client.post(
        f"{CLUB}/purchases",
        json=bought("C2", "SO-1", "40.00"),
        headers={name.encode(): value.encode() for name, value in headers.items()},
    )
    assert error(response, 400) == code
    assert "Idempotency-Key" in response.json()["error"]["message"]
    assert error(client.get(f"{CLUB}/members/C2"), 404) == "loyalty.not_a_member"


def test_a_second_booking_of_one_order_under_another_key_is_a_conflict(
    client: TestClient,
) -> None:
    assert post(client, "purchases", bought("C2", "SO-1", "40.00")).status_code == 201
    assert error(post(client, "purchases", bought("C2", "SO-1", "40.00")), 409) == (
        "loyalty.duplicate_order"
    )


def test_pending_points_cannot_be_redeemed(client: TestClient) -> None:
    assert post(client, "purchases", bought("C2", "SO-1", "900.00")).status_code == 201
    refused = post(client, "redemptions", {"customer": "C2", "reward": "voucher-5"})
    assert error(refused, 409) == "points.insufficient"
    assert client.get(f"{CLUB}/members/C2").json()["available"] == 0


def test_a_return_of_half_a_line_takes_back_its_share(client: TestClient) -> None:
    post(client, "purchases", bought("C2", "SO-1", "10.00"))  # the first purchase, with its bonus
    second = post(client, "purchases", bought("C2", "SO-2", "100.00", "50.00")).json()
    assert second["points"] == 150
    returned = post(
        client,
        "returns",
        {"customer": "C2", "order": "SO-2", "lines": [{"line": 0, "share": "0.5"}]},
    )
    assert returned.status_code == 201, returned.text
    booking = returned.json()
    # half of line 0 earned 50 of the order's 150 points
    assert (booking["operation"], booking["points"]) == ("return", -50)
    assert booking["balance"]["balance"] == second["balance"]["balance"] - 50
    unknown = {"customer": "C2", "order": "SO-9", "share": "1"}
    assert error(post(client, "returns", unknown), 404) == "loyalty.unknown_order"


def test_an_event_earns_its_bonus_once(client: TestClient) -> None:
    review = {"customer": "C3", "type": "review", "reference": "REV-77"}
    first = post(client, "events", review)
    assert (first.status_code, first.json()["points"]) == (201, 20)
    assert error(post(client, "events", review), 409) == "loyalty.duplicate_event"
    other = review | {"type": "unboxing-video"}
    assert error(post(client, "events", other), 422) == "loyalty.unknown_event"


def test_an_adjustment_is_audited_under_the_key_that_made_it(
    client: TestClient, token: str, shop: sessionmaker[Session]
) -> None:
    response = post(client, "adjustments", granted("C4", 600))
    assert response.status_code == 201, response.text
    assert response.json()["balance"]["available"] == 600
    actor = f"apikey:{token.split('_')[1]}"
    with shop() as session:
        record = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "points.adjusted")
        ).one()
    assert (record.actor, record.subject, record.details["points"]) == (actor, "C4", 600)
    statement = client.get(f"{CLUB}/members/C4/statement").json()
    assert statement["data"][0]["actor"] == actor
    assert statement["data"][0]["reason"] == "welcome gift"
    too_much = post(client, "adjustments", granted("C4", -601))
    assert error(too_much, 409) == "points.insufficient"


# --- rewards and vouchers --------------------------------------------------------------------


@pytest.fixture
def voucher(client: TestClient) -> dict[str, Any]:
    """C5 redeems the 5 € voucher (needs an order of 20 €) with points granted by hand."""
    post(client, "adjustments", granted("C5", 650))
    response = post(client, "redemptions", {"customer": "C5", "reward": "voucher-5"})
    assert response.status_code == 201, response.text
    booking = response.json()
    assert (booking["operation"], booking["points"]) == ("reward", -500)
    assert booking["balance"]["available"] == 150
    found: dict[str, Any] = booking["voucher"]
    return found


def test_a_voucher_reward_answers_the_voucher(client: TestClient, voucher: dict[str, Any]) -> None:
    assert (voucher["kind"], Decimal(voucher["value"]), voucher["currency"]) == ("amount", 5, "EUR")
    assert (voucher["uses"], voucher["max_uses"]) == (0, 1)
    (listed,) = client.get(f"{CLUB}/members/C5/vouchers").json()
    assert exact(listed) == exact(voucher)  # the booking's "5.00" is the listing's "5.0000"
    rewards = {r["code"]: r for r in client.get(f"{CLUB}/members/C5/rewards").json()}
    assert rewards["gift-wrap"]["redeemable"] is True
    assert rewards["voucher-5"]["redeemable"] is False
    assert rewards["voucher-5"]["why_not"] == "5 € voucher costs 500 points, 150 are available"
    assert rewards["tasting"]["why_not"] == "Coffee tasting evening is for Gold members and above"


def test_validating_a_voucher_books_nothing(client: TestClient, voucher: dict[str, Any]) -> None:
    url = f"{CLUB}/vouchers/{voucher['code']}/validate"
    order = {"order_total": "30.00", "currency": "EUR", "customer": "C5"}
    valid = client.post(url, json=order)
    assert valid.status_code == 200, valid.text
    assert valid.json() | {"voucher": None} == {
        "code": voucher["code"],
        "valid": True,
        "reason": None,
        "message": None,
        "discount": "5.0000",
        "voucher": None,
    }
    small = client.post(url, json=order | {"order_total": "19.99"}).json()
    assert (small["valid"], small["reason"], small["discount"]) == (
        False,
        "voucher.minimum_order",
        "0",
    )
    assert "at least 20.00 EUR" in small["message"]
    stranger = client.post(url, json=order | {"customer": "C6"}).json()
    assert (stranger["valid"], stranger["reason"]) == (False, "voucher.other_customer")
    assert client.get(f"{CLUB}/members/C5/vouchers").json()[0]["uses"] == 0
    assert error(client.post(f"{CLUB}/vouchers/NOPE/validate", json=order), 404) == (
        "voucher.unknown"
    )


def test_consuming_a_voucher_once_per_key(client: TestClient, voucher: dict[str, Any]) -> None:
    url = f"{CLUB}/vouchers/{voucher['code'].lower()}/consume"
    order = {"order_total": "30.00", "currency": "EUR", "customer": "C5", "order": "SO-9"}
    used = client.post(url, json=order, headers={"Idempotency-Key": "use-1"})
    assert used.status_code == 200, used.text
    assert (used.json()["valid"], used.json()["discount"]) == (True, "5.0000")
    assert used.json()["voucher"]["uses"] == 1
    again = client.post(url, json=order, headers={"Idempotency-Key": "use-1"})
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    assert again.json() == used.json()
    refused = client.post(url, json=order, headers={"Idempotency-Key": "use-2"})
    assert error(refused, 409) == "voucher.used"
    assert refused.json()["error"]["details"]["valid"] is False
    assert client.get(f"{CLUB}/members/C5/vouchers").json()[0]["uses"] == 1
    assert error(client.post(url, json=order), 400) == "idempotency.missing"


def test_an_expired_voucher_is_refused_and_nothing_is_booked(
    client: TestClient, voucher: dict[str, Any], shop: sessionmaker[Session]
) -> None:
    with shop.begin() as session:
        session.execute(
            update(Voucher)
            .where(Voucher.code == voucher["code"])
            .values(valid_until=utcnow() - timedelta(days=1))
        )
    url = f"{CLUB}/vouchers/{voucher['code']}/consume"
    order = {"order_total": "30.00", "currency": "EUR", "customer": "C5", "order": "SO-9"}
    refused = client.post(url, json=order, headers={"Idempotency-Key": "use-1"})
    assert error(refused, 409) == "voucher.expired"
    assert refused.json()["error"]["message"].startswith(f"voucher {voucher['code']} expired on")
    assert client.get(f"{CLUB}/members/C5/vouchers").json()[0]["uses"] == 0


def test_staff_issue_vouchers_for_anyone(client: TestClient) -> None:
    issued = client.post(f"{CLUB}/vouchers", json={"value": "10.00", "count": 3, "valid_days": 7})
    assert issued.status_code == 201, issued.text
    codes = [v["code"] for v in issued.json()]
    assert len(set(codes)) == 3
    order = {"order_total": "12.00", "currency": "EUR"}
    checked = client.post(f"{CLUB}/vouchers/{codes[0]}/validate", json=order).json()
    assert (checked["valid"], checked["discount"]) == (True, "10.0000")


def test_the_catalogue_is_the_programmes_active_rewards(client: TestClient) -> None:
    catalogue = client.get(f"{CLUB}/rewards").json()
    assert [r["code"] for r in catalogue] == [
        "gift-wrap",
        "voucher-5",
        "espresso-cups",
        "voucher-15",
        "tasting",
    ]
    assert not any(r["redeemable"] for r in catalogue)


# --- members and reports ---------------------------------------------------------------------


def test_progress_and_statement(client: TestClient) -> None:
    post(client, "purchases", bought("C7", "SO-1", "300.00"))
    post(client, "adjustments", granted("C7", 50))
    progress = client.get(f"{CLUB}/members/C7/progress").json()
    assert (progress["tier"]["code"], progress["next_tier"]["code"]) == ("bronze", "silver")
    assert (progress["qualify_on"], progress["window_months"]) == ("points", 12)
    assert progress["value"] == "400"  # earned points count; adjustments do not
    assert progress["missing"] == "100"
    assert progress["rules"]
    statement = client.get(f"{CLUB}/members/C7/statement", params={"per_page": 1}).json()
    assert statement["count"] == 3
    assert [e["kind"] for e in statement["data"]] == ["adjust"]
    assert statement["data"][0]["running_balance"] == 450
    assert [(lot["source"], lot["amount"]) for lot in statement["lots"]] == [
        ("purchase", 300),
        ("bonus", 100),
        ("adjustment", 50),
    ]
    second = client.get(f"{CLUB}/members/C7/statement", params={"page": 2, "per_page": 2}).json()
    assert [e["running_balance"] for e in second["data"]] == [300]


def test_members_page_and_search(client: TestClient) -> None:
    for customer, points in (("C8", 30), ("C9", 20), ("C10", 10)):
        post(client, "adjustments", granted(customer, points))
    page = client.get(f"{CLUB}/members", params={"per_page": 2}).json()
    assert page["count"] == 3
    assert [(m["external_id"], m["balance"]) for m in page["data"]] == [("C8", 30), ("C9", 20)]
    found = client.get(f"{CLUB}/members", params={"search": "customer 1"}).json()
    assert [m["external_id"] for m in found["data"]] == ["C10"]
    assert client.get(f"{CLUB}/members", params={"tier": "gold"}).json() == {"data": [], "count": 0}
    assert error(client.get(f"{CLUB}/members", params={"per_page": 201}), 422) == (
        "request.invalid"
    )


def test_liability_sums_the_outstanding_points(client: TestClient) -> None:
    post(client, "purchases", bought("C11", "SO-1", "50.00"))
    post(client, "adjustments", granted("C12", 200))
    (row,) = client.get(f"{API}/liability").json()
    assert (row["programme"], row["currency"], row["members"]) == ("club", "EUR", 2)
    assert (row["points"], row["pending"], row["debt"]) == (350, 150, 0)
    assert (row["point_value"], row["value"]) == ("0.0100", "3.50")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (f"{API}/nope/members/C1", "loyalty.unknown_programme"),
        (f"{CLUB}/members/nobody", "customers.not_found"),
        (f"{CLUB}/members/C13", "loyalty.not_a_member"),
        (f"{CLUB}/members/C13/statement", "loyalty.not_a_member"),
        (f"{CLUB}/members/C13/progress", "loyalty.not_a_member"),
    ],
)
def test_what_is_not_there_is_404(client: TestClient, url: str, code: str) -> None:
    assert error(client.get(url), 404) == code


def test_an_unknown_programme_is_404_before_the_body_is_read(client: TestClient) -> None:
    response = client.post(f"{API}/nope/purchases", json={})
    assert error(response, 404) == "loyalty.unknown_programme"
    assert response.json()["error"]["details"]["known"] == ["club"]


# --- who may do what -------------------------------------------------------------------------


def test_each_booking_needs_its_scope(app: FastAPI, shop: sessionmaker[Session]) -> None:
    with shop() as session:
        reader = make.api_token(session, "loyalty:read", name="reader")
        shop_key = make.api_token(session, "events:write", name="shop")
    body = bought("C2", "SO-1", "40.00")
    with TestClient(app, headers={"Authorization": f"Bearer {reader}"}) as client:
        refused = post(client, "purchases", body)
        assert error(refused, 403) == "auth.forbidden"
        assert refused.json()["error"]["details"]["permission"] == "events:write"
        assert error(client.get(f"{CLUB}/members/C2"), 404) == "loyalty.not_a_member"
    with TestClient(app, headers={"X-API-Key": shop_key}) as client:
        assert post(client, "purchases", body).status_code == 201
        redeem = post(client, "redemptions", {"customer": "C2", "reward": "gift-wrap"})
        assert error(redeem, 403) == "auth.forbidden"
        assert error(client.get(f"{CLUB}/members/C2"), 403) == "auth.forbidden"


def test_the_openapi_document_shows_the_key_header_and_the_examples(
    sqlite_engine: Engine, sqlite_url: str
) -> None:
    settings = load_settings(database_url=sqlite_url, environment="test")
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        spec = client.get("/openapi.json").json()
    operation = spec["paths"][f"{CLUB.replace('club', '{programme}')}/purchases"]["post"]
    header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert (header["in"], header["required"]) == ("header", True)
    assert {"200", "201", "400", "404", "409", "422"} <= set(operation["responses"])
    assert "Idempotent-Replayed" in operation["responses"]["200"]["headers"]
    assert "`loyalty.duplicate_order`" in operation["responses"]["409"]["description"]
    schemas = spec["components"]["schemas"]
    for name in ("PurchaseIn", "ReturnIn", "EventIn", "RedeemIn", "AdjustIn", "VoucherIssueIn"):
        assert schemas[name]["examples"], name
    for path, item in spec["paths"].items():
        if path.startswith(API):
            for method, operation in item.items():
                assert operation.get("description"), f"{method} {path} has no description"


# --- fuzzing with a programme in place -------------------------------------------------------

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def known_paths(client: TestClient, shop: sessionmaker[Session]) -> dict[str, str]:
    """Path parameters that exist: the programme, a member (C-1001 of the schema's examples) and
    the code of the member's voucher."""
    with shop.begin() as session:
        session.add(Customer(external_id="C-1001", name="Example Member"))
    post(client, "adjustments", granted("C-1001", 2000))
    post(client, "purchases", bought("C1", "SO-1", "12.00"))
    redeemed = post(client, "redemptions", {"customer": "C-1001", "reward": "voucher-5"}).json()
    return {"programme": "club", "customer": "C-1001", "code": redeemed["voucher"]["code"]}


def test_every_loyalty_operation_answers_as_documented(
    app: FastAPI, token: str, known_paths: dict[str, str]
) -> None:
    """Schemathesis on the loyalty operations (as in tests/web), here with a programme, members
    and a voucher in place, and each operation's own example sent once."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex="^/api/v1/loyalty/"
    )
    auth = {"Authorization": f"Bearer {token}"}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        names = {p.name for p in operation.iter_parameters() if p.location == "path"}
        known = {name: known_paths[name] for name in names}
        for example in _examples(operation):
            key = {"Idempotency-Key": str(uuid.uuid4())}
            case = operation.Case(path_parameters=known, headers=key, body=example)
            response = case.call_and_validate(headers=auth, checks=CHECKS)
            assert response.status_code < 300, f"{operation.label}: {response.text}"
        strategies = [operation.as_strategy(mode) for mode in GenerationMode]
        strategies += [
            operation.as_strategy(mode, path_parameters=known) for mode in GenerationMode
        ]

        @FUZZ
        @given(case=st.one_of(strategies))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=auth, checks=CHECKS)

        try:
            run()
        except Exception as exc:
            exc.add_note(f"operation: {operation.label}")
            raise


def _examples(operation: schemathesis.APIOperation) -> list[Any]:
    """The bodies of the operation's request examples (one empty body for a GET)."""
    body = operation.definition.raw.get("requestBody")
    if body is None:
        return [schemathesis.core.NOT_SET] if operation.method == "get" else []
    ref = body["content"]["application/json"]["schema"]["$ref"]
    found = operation.schema.raw_schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return list(found.get("examples", []))
