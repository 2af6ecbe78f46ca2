"""Signing in and out of the web app: cookies, session rotation, CSRF, throttling, expiry."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from patron.access import service as access
from patron.access.models import SignInSession, User
from patron.access.sign_ins import IDLE_TIMEOUT
from patron.config import load_settings
from patron.db import utcnow
from patron.web.app import create_app

EMAIL = "marta@example.com"
HTML = {"Accept": "text/html"}


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    return create_app(load_settings(database_url=database_url, environment="test"), engine=engine)


@pytest.fixture
def marta(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return make.user(session, "marketer", email=EMAIL, name="Marta").id


@pytest.fixture
def browser(app: FastAPI, marta: int) -> Iterator[TestClient]:
    with TestClient(app, headers=HTML) as client:
        yield client


def _cookie_header(response: object, name: str) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    found = [value for value in headers if value.startswith(f"{name}=")]
    assert found, f"no {name} cookie in {headers}"
    return str(found[0])


def _stored_sessions(sessions: sessionmaker[Session]) -> list[SignInSession]:
    with sessions() as session:
        return list(session.scalars(select(SignInSession)))


def test_sign_in_sets_an_http_only_same_site_cookie_and_stores_only_its_hash(
    browser: TestClient, sessions: sessionmaker[Session]
) -> None:
    form = browser.get("/sign-in")
    response = browser.post(
        "/sign-in",
        data={"email": EMAIL, "password": make.PASSWORD, "csrf_token": make.csrf_token(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/overview"
    cookie = _cookie_header(response, "patron_session")
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes  # plain http in a test environment
    token = browser.cookies["patron_session"]
    (stored,) = _stored_sessions(sessions)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash
    assert browser.get("/overview").status_code == 200


def test_cookies_are_secure_over_https_and_always_in_production(
    engine: Engine, database_url: str, marta: int
) -> None:
    settings = load_settings(database_url=database_url, environment="test")
    with TestClient(create_app(settings, engine=engine), base_url="https://testserver") as client:
        response = client.get("/sign-in")
        assert "secure" in _cookie_header(response, "patron_presession").lower()
    production = load_settings(
        database_url=database_url, environment="production", secret_key="k" * 40
    )
    with TestClient(create_app(production, engine=engine)) as client:
        response = client.get("/sign-in")
        assert "secure" in _cookie_header(response, "patron_presession").lower()


def test_sign_in_rotates_the_session_id(
    browser: TestClient, sessions: sessionmaker[Session]
) -> None:
    make.sign_in(browser, EMAIL)
    first = browser.cookies["patron_session"]
    # A second sign-in from the same browser (or over a planted cookie) gets a new token and
    # ends the session of the old one.
    make.sign_in(browser, EMAIL)
    second = browser.cookies["patron_session"]
    assert second != first
    hashes = {row.token_hash for row in _stored_sessions(sessions)}
    assert hashes == {hashlib.sha256(second.encode()).hexdigest()}
    browser.cookies.clear()
    browser.cookies.set("patron_session", first)
    assert browser.get("/overview", follow_redirects=False).status_code == 303


def test_a_planted_session_cookie_is_not_adopted(
    app: FastAPI, marta: int, sessions: sessionmaker[Session]
) -> None:
    planted = "planted-by-attacker"
    with TestClient(app, headers=HTML) as client:
        form = client.get("/sign-in")
        client.cookies.set("patron_session", planted, domain="testserver.local", path="/")
        response = client.post(
            "/sign-in",
            data={
                "email": EMAIL,
                "password": make.PASSWORD,
                "csrf_token": make.csrf_token(form.text),
            },
            follow_redirects=False,
        )
    assert response.status_code == 303
    assert f"patron_session={planted}" in response.request.headers["cookie"]  # it was sent
    issued = _cookie_header(response, "patron_session").split(";")[0].split("=", 1)[1]
    assert issued != planted
    (stored,) = _stored_sessions(sessions)
    assert stored.token_hash == hashlib.sha256(issued.encode()).hexdigest()


def test_wrong_password_shows_one_message_and_five_failures_lock(
    browser: TestClient, sessions: sessionmaker[Session]
) -> None:
    for attempt in range(5):
        response = make.sign_in(browser, EMAIL, password=f"wrong password {attempt}")
        assert response.status_code == 401
        assert "Wrong e-mail address or password." in response.text
        assert "patron_session" not in browser.cookies
    unknown = make.sign_in(browser, "nobody@example.com", password="whatever it is")
    assert unknown.status_code == 401
    assert "Wrong e-mail address or password." in unknown.text
    locked = make.sign_in(browser, EMAIL)  # the right password, but the account is locked
    assert locked.status_code == 429
    assert "locked until" in locked.text
    assert _stored_sessions(sessions) == []


@pytest.mark.parametrize(
    ("token", "origin"),
    [(None, None), ("forged", None), ("fälschung", None), ("RIGHT", "https://evil.example")],
)
def test_sign_in_form_refuses_a_missing_wrong_or_cross_site_csrf_token(
    browser: TestClient, token: str | None, origin: str | None
) -> None:
    right = make.csrf_token(browser.get("/sign-in").text)
    data = {"email": EMAIL, "password": make.PASSWORD}
    if token is not None:
        data["csrf_token"] = right if token == "RIGHT" else token
    headers = {"Origin": origin} if origin else {}
    response = browser.post("/sign-in", data=data, headers=headers)
    assert response.status_code == 403
    assert 'data-error-code="auth.csrf"' in response.text
    assert "patron_session" not in browser.cookies


def test_signed_in_forms_need_the_sessions_csrf_token(
    browser: TestClient, sessions: sessionmaker[Session], marta: int
) -> None:
    with TestClient(browser.app) as stranger:  # a valid sign-in form token, but not a session's
        anonymous_token = make.csrf_token(stranger.get("/sign-in").text)
    make.sign_in(browser, EMAIL)
    for data in ({}, {"csrf_token": "nope"}, {"csrf_token": anonymous_token}):
        response = browser.post("/account/language", data={"language": "de", **data})
        assert response.status_code == 403, data
        response = browser.post("/sign-out", data=data)
        assert response.status_code == 403, data
    with sessions() as session:
        assert session.get_one(User, marta).language is None
    assert browser.get("/overview", follow_redirects=False).status_code == 200


def test_sign_out_ends_the_session_on_the_server(
    browser: TestClient, sessions: sessionmaker[Session]
) -> None:
    make.sign_in(browser, EMAIL)
    token = browser.cookies["patron_session"]
    page = browser.get("/overview")
    response = browser.post(
        "/sign-out", data={"csrf_token": make.csrf_token(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?signed_out=1"
    assert _stored_sessions(sessions) == []
    browser.cookies.set("patron_session", token)  # a copy of the old cookie is worth nothing
    response = browser.get("/overview", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")


@pytest.mark.parametrize(
    ("asked", "landed"),
    [
        ("/customers?search=an", "/customers?search=an"),
        ("//evil.example/x", "/overview"),
        ("https://evil.example/", "/overview"),
        ("/\\evil.example", "/overview"),
        ("/sign-out", "/overview"),
    ],
)
def test_sign_in_returns_only_to_a_path_on_this_site(
    browser: TestClient, asked: str, landed: str
) -> None:
    form = browser.get("/sign-in", params={"next": asked})
    response = browser.post(
        "/sign-in",
        data={
            "email": EMAIL,
            "password": make.PASSWORD,
            "csrf_token": make.csrf_token(form.text),
            "next": asked,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == landed


def test_idle_expired_and_reset_sessions_end(
    browser: TestClient, sessions: sessionmaker[Session]
) -> None:
    make.sign_in(browser, EMAIL)
    with sessions.begin() as session:
        session.execute(update(SignInSession).values(last_seen_at=utcnow() - IDLE_TIMEOUT))
    assert browser.get("/overview", follow_redirects=False).status_code == 303
    assert _stored_sessions(sessions) == []

    make.sign_in(browser, EMAIL)
    with sessions.begin() as session:
        session.execute(update(SignInSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert browser.get("/overview", follow_redirects=False).status_code == 303

    make.sign_in(browser, EMAIL)
    with sessions() as session:  # a new password signs the user out everywhere
        access.set_password(session, email=EMAIL, password="an entirely new password")
    assert browser.get("/overview", follow_redirects=False).status_code == 303

    make.sign_in(browser, EMAIL, password="an entirely new password")
    with sessions.begin() as session:
        session.execute(update(User).values(active=False))
    assert browser.get("/overview", follow_redirects=False).status_code == 303


def test_language_follows_the_browser_until_the_user_chooses_one(
    browser: TestClient, sessions: sessionmaker[Session], marta: int
) -> None:
    sign_in = browser.get("/sign-in", headers={"Accept-Language": "de-AT,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in sign_in.text
    assert '<html lang="en">' in browser.get("/sign-in", headers={"Accept-Language": "fr"}).text
    make.sign_in(browser, EMAIL)
    page = browser.get("/overview", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in page.text
    response = browser.post(
        "/account/language",
        data={"language": "de", "back": "/customers", "csrf_token": make.csrf_token(page.text)},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/customers"
    with sessions() as session:
        assert session.get_one(User, marta).language == "de"
    assert '<html lang="de">' in browser.get("/overview", headers={"Accept-Language": "en"}).text


def test_a_form_from_this_host_is_accepted_whatever_scheme_the_proxy_ends(
    browser: TestClient,
) -> None:
    """Behind a proxy that ends TLS the browser says https and the app sees http."""
    form = browser.get("/sign-in")
    response = browser.post(
        "/sign-in",
        data={"email": EMAIL, "password": make.PASSWORD, "csrf_token": make.csrf_token(form.text)},
        headers={"Origin": "https://testserver"},
        follow_redirects=False,
    )
    assert response.status_code == 303
