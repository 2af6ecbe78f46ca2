"""The recommender's JSON API over a real store, on SQLite and PostgreSQL: what a shop sees.

The shop (``pasta_shop``): spaghetti buyers buy tomato sauce too, bread buyers jam; ANNA and BEN
have bought spaghetti alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.config import load_settings
from patron.db import utcnow
from patron.recommend import service
from patron.web.app import create_app
from recommend.pasta_shop import PARTNER_SKUS, PastaShop, build

API = "/api/v1"
SHOP_SCOPES = ("customers:read", "customers:write", "analytics:read")


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> PastaShop:
    return build(sessions, utcnow())


@pytest.fixture
def fitted(engine: Engine, shop: PastaShop) -> PastaShop:
    service.fit(engine, now=shop.now)
    return shop


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    return create_app(load_settings(database_url=database_url, environment="test"), engine=engine)


@pytest.fixture
def keys(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Tokens by what they may do: the shop's own key, and keys with one scope each."""
    with sessions() as session:
        found = {"shop": make.api_token(session, *SHOP_SCOPES, name="shop")}
        for scope in (*SHOP_SCOPES, "loyalty:read"):
            found[scope] = make.api_token(session, scope, name=scope)
    return found


@pytest.fixture
def client(app: FastAPI, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {keys['shop']}"}) as client:
        yield client


def offers(client: TestClient, customer: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"{API}/customers/{customer}/recommendations", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["count"] == len(body["data"])
    return body


def skus(body: dict[str, Any]) -> list[str]:
    return [item["sku"] for item in body["data"]]


def error(response: httpx2.Response, status: int) -> str:
    """The error's code, once the status and the one error shape are checked."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    code: str = body["error"]["code"]
    return code


def blocks_url(customer: str, sku: str | None = None) -> str:
    return f"{API}/customers/{customer}/recommendation-blocks" + (f"/{sku}" if sku else "")


# --- before a fit, and bad requests ---------------------------------------------------------


def test_before_any_fit_offers_and_the_fit_are_409_not_fitted(
    client: TestClient, shop: PastaShop
) -> None:
    for kind in ("cross", "up", "partner"):
        response = client.get(f"{API}/customers/ANNA/recommendations", params={"kind": kind})
        assert error(response, 409) == "recommend.not_fitted"
        assert "patron recommend fit" in response.json()["error"]["message"]
    assert error(client.get(f"{API}/recommendations/fit"), 409) == "recommend.not_fitted"
    # Blocks need no fit.
    assert client.get(blocks_url("ANNA")).json() == []


def test_an_unknown_customer_is_404_before_anything_else(
    client: TestClient, shop: PastaShop
) -> None:
    for response in (
        client.get(f"{API}/customers/NOBODY/recommendations"),  # no fit yet: still 404 first
        client.get(f"{API}/customers/NOBODY/recommendations", params={"kind": "sideways"}),
        client.get(blocks_url("NOBODY")),
        client.post(blocks_url("NOBODY"), json={"sku": "SAUCE-1"}),
        client.post(blocks_url("NOBODY"), json={}),  # the path is checked before the body
        client.delete(blocks_url("NOBODY", "SAUCE-1")),
        client.get(f"{API}/customers/99999/recommendations"),
    ):
        assert error(response, 404) == "customers.not_found"


@pytest.mark.parametrize(
    "params",
    [{"kind": "sideways"}, {"k": 0}, {"k": 51}, {"k": "ten"}, {"kind": "CROSS"}],
)
def test_a_bad_kind_or_k_is_422(
    client: TestClient, fitted: PastaShop, params: dict[str, Any]
) -> None:
    response = client.get(f"{API}/customers/ANNA/recommendations", params=params)
    assert error(response, 422) == "request.invalid"


# --- offers ---------------------------------------------------------------------------------


def test_cross_offers_sauce_to_a_pasta_buyer_because_pasta_buyers_buy_it(
    client: TestClient, fitted: PastaShop
) -> None:
    body = offers(client, "ANNA")  # cross-selling is the default kind
    assert body["customer_id"] == fitted.customers["ANNA"]
    assert body["kind"] == "cross"
    assert body["fitted_at"]
    by_sku = {item["sku"]: item for item in body["data"]}
    sauce = by_sku["SAUCE-1"]
    assert sauce["name"] == "Tomato sauce"
    assert sauce["category"] == "Sauces"
    assert sauce["price"] == pytest.approx(3.5)
    assert sauce["partner_name"] is None
    assert 0 < sauce["score"] <= 1
    reason = sauce["reason"]
    assert reason["code"] == "bought_together"
    assert reason["figures"]["name"] == "Spaghetti"
    assert reason["figures"]["percent"] > 50
    assert "Spaghetti" in reason["text"]
    for item in body["data"]:
        assert set(item["reason"]) == {"code", "text", "figures"}
        assert item["reason"]["text"]
    # The same customer by Patron's number; k caps the list.
    assert offers(client, str(fitted.customers["ANNA"])) == body
    assert len(offers(client, "ANNA", k=1)["data"]) == 1


def test_up_offers_a_dearer_product_of_a_category_the_customer_buys(
    client: TestClient, fitted: PastaShop
) -> None:
    body = offers(client, "ANNA", kind="up")
    assert body["kind"] == "up"
    assert skus(body)[0] == "PASTA-2"
    (premium,) = [item for item in body["data"] if item["sku"] == "PASTA-2"]
    assert premium["category"] == "Pasta"
    assert premium["price"] > 2.5  # dearer than the spaghetti she bought
    assert premium["reason"]["code"] == "premium_alternative"
    assert premium["reason"]["figures"]["name"] == "Spaghetti"
    assert premium["reason"]["figures"]["instead_of"] == pytest.approx(2.5)
    assert all(item["category"] == "Pasta" for item in body["data"])


def test_partner_offers_only_partner_products(client: TestClient, fitted: PastaShop) -> None:
    for customer in ("ANNA", "NEWBIE", "K25"):
        body = offers(client, customer, kind="partner")
        assert body["data"], customer
        assert set(skus(body)) <= PARTNER_SKUS
        assert all(item["partner_name"] for item in body["data"])
    wine = {item["sku"]: item for item in offers(client, "ANNA", kind="partner")["data"]}["WINE-1"]
    assert wine["partner_name"] == "Vino GmbH"


# --- blocks ---------------------------------------------------------------------------------


def test_a_block_hides_the_product_from_that_customer_only_until_unblocked(
    client: TestClient, fitted: PastaShop, keys: dict[str, str]
) -> None:
    assert "SAUCE-1" in skus(offers(client, "ANNA", k=10))
    assert "SAUCE-1" in skus(offers(client, "BEN", k=10))

    created = client.post(blocks_url("ANNA"), json={"sku": "SAUCE-1", "reason": " allergic "})
    assert created.status_code == 201, created.text
    block = created.json()
    prefix = keys["shop"].split("_")[1]
    assert block | {"created_at": None} == {
        "customer_id": fitted.customers["ANNA"],
        "product_id": block["product_id"],
        "sku": "SAUCE-1",
        "name": "Tomato sauce",
        "reason": "allergic",
        "created_by": f"apikey:{prefix}",
        "created_at": None,
    }
    assert client.get(blocks_url("ANNA")).json() == [block]
    assert client.get(blocks_url("BEN")).json() == []
    for kind in ("cross", "up", "partner"):
        assert "SAUCE-1" not in skus(offers(client, "ANNA", kind=kind, k=50))
    assert "SAUCE-1" in skus(offers(client, "BEN", k=10))  # only hers

    again = client.post(blocks_url(str(fitted.customers["ANNA"])), json={"sku": "SAUCE-1"})
    assert error(again, 409) == "recommend.already_blocked"

    gone = client.delete(blocks_url("ANNA", "SAUCE-1"))
    assert gone.status_code == 204
    assert gone.content == b""
    assert client.get(blocks_url("ANNA")).json() == []
    assert "SAUCE-1" in skus(offers(client, "ANNA", k=10))  # it may come back, and does
    assert error(client.delete(blocks_url("ANNA", "SAUCE-1")), 404) == "recommend.not_blocked"


def test_blocking_an_unknown_product_or_without_a_sku_is_refused(
    client: TestClient, shop: PastaShop
) -> None:
    unknown = client.post(blocks_url("ANNA"), json={"sku": "NO-SUCH"})
    assert error(unknown, 404) == "products.not_found"
    for body in ({}, {"sku": ""}, {"sku": "S" * 65}, {"sku": "SAUCE-1", "colour": "red"}):
        assert error(client.post(blocks_url("ANNA"), json=body), 422) == "request.invalid"
    assert client.get(blocks_url("ANNA")).json() == []


# --- the fit --------------------------------------------------------------------------------


def test_the_fit_says_when_on_what_and_with_which_weights(
    client: TestClient, fitted: PastaShop
) -> None:
    response = client.get(f"{API}/recommendations/fit")
    assert response.status_code == 200, response.text
    fit = response.json()
    assert fit["summary"]["customers"] == 62  # everyone with an order
    assert fit["summary"]["baskets"] == 122
    assert fit["settings"]["per_category"] == 3
    assert fit["weights"]
    assert all(isinstance(weight, float) for weight in fit["weights"].values())
    assert fit["fitted_at"]
    assert fit["as_of"]


# --- who may call what ----------------------------------------------------------------------


def test_each_route_needs_its_scope(app: FastAPI, fitted: PastaShop, keys: dict[str, str]) -> None:
    calls = {
        "customers:read": [
            ("GET", f"{API}/customers/ANNA/recommendations", None),
            ("GET", blocks_url("ANNA"), None),
        ],
        "customers:write": [
            ("POST", blocks_url("ANNA"), {"sku": "JAM-1"}),
            ("DELETE", blocks_url("ANNA", "JAM-1"), None),
        ],
        "analytics:read": [("GET", f"{API}/recommendations/fit", None)],
    }
    with TestClient(app) as client:
        for needed, requests in calls.items():
            for method, url, body in requests:
                assert error(client.request(method, url, json=body), 401) == "auth.missing_key"
                for scope in (*SHOP_SCOPES, "loyalty:read"):
                    headers = {"X-API-Key": keys[scope]}
                    response = client.request(method, url, json=body, headers=headers)
                    if scope == needed:
                        assert response.status_code < 300, (method, url, response.text)
                    else:
                        assert error(response, 403) == "auth.forbidden", (method, url, scope)
                        assert response.json()["error"]["details"]["permission"] == needed
