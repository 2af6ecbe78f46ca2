"""Pins the two error shapes: JSON ``{"error": {"code", "message", "details"}}`` for machines,
a friendly HTML page for people's browsers on pages.

Integrators parse the JSON; changing it breaks them. The API answers JSON even to a browser;
pages answer HTML to a client that accepts it. (The pattern follows datasette's test of the same
name.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

import factories as make
from patron.config import load_settings
from patron.db import session_factory
from patron.errors import ConfigError, ImportFailed, PatronError
from patron.web.app import create_app

RAISED: dict[str, PatronError | Exception] = {
    "plain": PatronError("something is off", code="test.plain", details={"field": "x"}),
    "import": ImportFailed("bad file", details=[{"line": 3, "reason": "no date"}]),
    "config": ConfigError("PATRON_X is wrong"),
    "crash": RuntimeError("a bug"),
}


@pytest.fixture
def app(sqlite_engine: Engine, sqlite_url: str) -> FastAPI:
    app = create_app(
        load_settings(database_url=sqlite_url, environment="test"), engine=sqlite_engine
    )

    @app.get("/test/raise/{which}")
    def raise_(which: str) -> None:
        raise RAISED[which]

    return app


@pytest.fixture
def client(app: FastAPI, sqlite_engine: Engine) -> Iterator[TestClient]:
    """A client that sends an API key allowed to read customers."""
    with session_factory(sqlite_engine)() as session:
        token = make.api_token(session, "customers:read")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app, raise_server_exceptions=False, headers=headers) as client:
        yield client


def assert_error_shape(body: Any, code: str) -> dict[str, Any]:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return dict(body["error"])


@pytest.mark.parametrize(
    ("which", "status", "code", "details"),
    [
        ("plain", 400, "test.plain", {"field": "x"}),
        ("import", 422, "import.failed", [{"line": 3, "reason": "no date"}]),
        ("config", 500, "config.invalid", None),
    ],
)
def test_patron_errors_keep_code_status_and_details(
    client: TestClient, which: str, status: int, code: str, details: Any
) -> None:
    response = client.get(f"/test/raise/{which}")
    assert response.status_code == status
    error = assert_error_shape(response.json(), code)
    assert error["details"] == details
    assert error["message"] == RAISED[which].args[0]


def test_not_found_error(client: TestClient) -> None:
    response = client.get("/api/v1/customers/nobody")
    assert response.status_code == 404
    assert_error_shape(response.json(), "customers.not_found")


def test_request_validation_error(client: TestClient) -> None:
    response = client.get("/api/v1/customers", params={"per_page": "lots"})
    assert response.status_code == 422
    error = assert_error_shape(response.json(), "request.invalid")
    assert "per_page" in error["message"]
    (problem,) = error["details"]
    assert problem["location"] == ["query", "per_page"]
    assert set(problem) == {"location", "message", "type"}


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Authorization": ""}, 401, "auth.missing_key"),
        ({"Authorization": "Bearer pk_nonsense"}, 401, "auth.invalid_key"),
    ],
)
def test_api_key_errors(
    client: TestClient, headers: dict[str, str], status: int, code: str
) -> None:
    response = client.get("/api/v1/stats", headers=headers)
    assert response.status_code == status
    assert_error_shape(response.json(), code)
    assert response.headers["www-authenticate"] == "Bearer"


def test_unknown_route(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    error = assert_error_shape(response.json(), "http.not_found")
    assert "/no/such/page" in error["message"]


def test_wrong_method(client: TestClient) -> None:
    response = client.delete("/api/v1/stats")
    assert response.status_code == 405
    assert_error_shape(response.json(), "http.method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_unexpected_error_hides_its_internals(client: TestClient) -> None:
    response = client.get("/test/raise/crash")
    assert response.status_code == 500
    error = assert_error_shape(response.json(), "internal")
    assert "a bug" not in error["message"]


HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
FRIENDLY = {
    403: "You may not see this page",
    404: "Nothing here",
    500: "Something went wrong on our side",
}


def assert_error_page(response: Any, status: int, code: str) -> str:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    page = str(response.text)
    assert f'data-error-code="{code}"' in page
    assert f'<p class="error-status">{status}</p>' in page
    assert FRIENDLY[status] in page
    return page


def test_pages_answer_a_browser_with_html_error_pages(client: TestClient) -> None:
    assert_error_page(client.get("/no/such/page", headers=HTML), 404, "http.not_found")
    page = assert_error_page(client.get("/test/raise/crash", headers=HTML), 500, "internal")
    assert "a bug" not in page


def test_the_api_answers_json_even_to_a_browser(client: TestClient) -> None:
    for path, status, code in (
        ("/api/v1/customers/nobody", 404, "customers.not_found"),
        ("/api/v1/no-such-endpoint", 404, "http.not_found"),
        ("/openapi.json/nothing", 404, "http.not_found"),
    ):
        response = client.get(path, headers=HTML)
        assert response.status_code == status
        assert_error_shape(response.json(), code)


def test_a_page_the_role_does_not_allow_is_a_friendly_403(
    app: FastAPI, sqlite_engine: Engine
) -> None:
    with session_factory(sqlite_engine)() as session:
        make.user(session, "marketer", email="m@example.com")
    with TestClient(app) as browser:
        make.sign_in(browser, "m@example.com")
        page = assert_error_page(
            browser.get("/settings/users", headers=HTML), 403, "auth.forbidden"
        )
        assert "users:manage" in page
        # The same refusal to a client that asks for JSON keeps the JSON shape.
        response = browser.get("/settings/users", headers={"Accept": "application/json"})
        assert response.status_code == 403
        assert assert_error_shape(response.json(), "auth.forbidden")["details"] == {
            "permission": "users:manage",
            "role": "marketer",
        }


def test_a_page_without_sign_in_sends_a_browser_to_sign_in_and_a_machine_gets_401(
    client: TestClient,
) -> None:
    response = client.get("/customers?search=a", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fcustomers%3Fsearch%3Da"
    response = client.get("/customers", follow_redirects=False)
    assert response.status_code == 401
    assert assert_error_shape(response.json(), "auth.sign_in_required")["details"] == {
        "next": "/customers"
    }
