"""The JSON API over a real store, on SQLite and on PostgreSQL: what an integrator sees."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

import factories as make
from factories import at
from patron import __version__, schema
from patron.config import load_settings
from patron.db import make_engine, session_factory
from patron.errors import ConfigError, SchemaOutdated
from patron.web.app import create_app


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    """A client that sends an API key allowed to read customers."""
    settings = load_settings(database_url=database_url, environment="test")
    with session_factory(engine)() as session:
        token = make.api_token(session, "customers:read")
    with TestClient(
        create_app(settings, engine=engine), headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


@pytest.fixture
def anna(engine: Engine) -> int:
    """A customer with an order, a return, an interaction and a withdrawn e-mail consent."""
    with session_factory(engine).begin() as session:
        person = make.customer(session, external_id="K-1", name="Anna Berg")
        tea = make.product(session, sku="TEA", name="Green tea")
        bought = make.order(
            session, person, placed_at=at(1), lines=[make.line(tea, quantity=2, unit_price="4.5")]
        )
        make.return_(session, bought.lines[0], returned_at=at(3))
        make.interaction(session, person, kind="product_view", product_id=tea.id)
        make.consent(session, person, granted=True, recorded_at=at(0))
        make.consent(session, person, granted=False, source="unsubscribe", recorded_at=at(2))
        make.customer(session, external_id="K-2", name="Bjørn Dahl")
        make.order(session, None, lines=[make.line(tea)])
        return person.id


def test_health_names_version_and_schema(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": __version__,
        "schema_revision": schema.head_revision(),
    }


def test_customer_360_by_external_id_and_by_number(client: TestClient, anna: int) -> None:
    by_key = client.get("/api/v1/customers/K-1")
    assert by_key.status_code == 200
    assert client.get(f"/api/v1/customers/{anna}").json() == by_key.json()
    view = by_key.json()
    assert view["profile"]["name"] == "Anna Berg"
    (order,) = view["orders"]
    assert order["total"] == "9.0000"  # money is an exact decimal string
    assert order["placed_at"] == "2024-01-02T12:00:00+00:00"  # ISO 8601 with offset
    assert [(li["product_name"], li["quantity"]) for li in order["lines"]] == [
        ("Green tea", "2.000")
    ]
    assert [(r["product_name"], r["amount"]) for r in view["returns"]] == [("Green tea", "9.0000")]
    assert [(i["kind"], i["product_name"]) for i in view["interactions"]] == [
        ("product_view", "Green tea")
    ]
    assert view["consent"] == [
        {
            "channel": "email",
            "purpose": "marketing",
            "granted": False,
            "source": "unsubscribe",
            "recorded_at": "2024-01-03T12:00:00+00:00",
        }
    ]


def test_unknown_customer_is_a_404_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/v1/customers/nobody")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "customers.not_found",
            "message": "no customer with external id or number 'nobody'",
            "details": {"key": "nobody"},
        }
    }


def test_list_searches_sorts_and_pages(client: TestClient, anna: int) -> None:
    everyone = client.get("/api/v1/customers", params={"sort": "-name"}).json()
    assert everyone["count"] == 2
    assert [c["external_id"] for c in everyone["data"]] == ["K-2", "K-1"]

    found = client.get("/api/v1/customers", params={"search": "ANN"}).json()
    assert (found["count"], [c["id"] for c in found["data"]]) == (1, [anna])

    second = client.get("/api/v1/customers", params={"page": 2, "per_page": 1}).json()
    assert (second["count"], [c["name"] for c in second["data"]]) == (2, ["Bjørn Dahl"])


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": 501},
        {"page": 0},
        {"page": 2**31},  # found by schemathesis: a huge page overflowed the row offset (a 500)
        {"page": 542551296285574545, "per_page": 500},
        {"sort": "email"},
        {"per_page": "many"},
    ],
)
def test_bad_list_parameters_are_422(client: TestClient, params: dict[str, object]) -> None:
    response = client.get("/api/v1/customers", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "request.invalid"


def test_the_last_page_number_is_an_empty_page(client: TestClient, anna: int) -> None:
    response = client.get("/api/v1/customers", params={"page": 2**31 - 1, "per_page": 500})
    assert response.status_code == 200
    assert response.json() == {"data": [], "count": 2}


def test_stats_count_the_store(client: TestClient, anna: int) -> None:
    assert client.get("/api/v1/stats").json() == {
        "customers": 2,
        "anonymous_sales": 1,
        "orders": 2,
        "order_lines": 2,
        "returns": 1,
        "products": 1,
        "interactions": 1,
        "consents": 2,
    }


def test_openapi_docs_are_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text
    assert "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        assert client.get(f"/docs/assets/{asset}").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/api/v1/customers", "/api/v1/customers/{key}", "/api/v1/stats"} <= set(
        paths
    )


def test_app_refuses_to_start_on_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    settings = load_settings(database_url=url, environment="test")
    with pytest.raises(SchemaOutdated, match="patron db upgrade"):
        create_app(settings)
    engine = make_engine(url)
    try:
        with pytest.raises(SchemaOutdated, match="schema is empty"):
            create_app(settings, engine=engine)
    finally:
        engine.dispose()


def test_health_is_503_when_the_schema_falls_behind(sqlite_engine: Engine, sqlite_url: str) -> None:
    app = create_app(
        load_settings(database_url=sqlite_url, environment="test"), engine=sqlite_engine
    )
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "outdated"
    assert response.json()["schema_revision"] == "0000"


def test_the_front_door_leads_to_the_overview_and_from_there_to_sign_in(
    client: TestClient,
) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/overview"
    response = client.get("/overview", headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Foverview"


def test_the_web_app_refuses_the_default_secret_key_outside_demo_and_test(
    sqlite_engine: Engine, sqlite_url: str
) -> None:
    with pytest.raises(ConfigError, match="PATRON_SECRET_KEY") as refused:
        create_app(load_settings(database_url=sqlite_url), engine=sqlite_engine)
    assert refused.value.code == "config.default_secret"
    own = load_settings(database_url=sqlite_url, secret_key="a secret of our own, long enough")
    assert create_app(own, engine=sqlite_engine).title == "Patron"
    demo = load_settings(database_url=sqlite_url, environment="demo")
    assert create_app(demo, engine=sqlite_engine).title == "Patron"
