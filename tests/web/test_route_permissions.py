"""Every route says who may call it, and the API and the pages keep to what they say.

Walks every route ``create_app`` registers: each must declare exactly one of ``require(p)``,
``page(p)``, ``signed_in()`` or ``public()`` (mounts are public only by the allow-list below).
Then calls every API route with no key, a bogus key, a revoked key and a key for each single
scope (and one with none): only a key holding the route's permission gets through. And calls
every page route signed out and signed in as each role: only roles granted the route's
permission get through; every state-changing page route checks a CSRF token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from starlette.routing import Mount

import factories as make
from patron.access import service as access
from patron.access.models import ApiKey
from patron.access.permissions import API_KEY_SCOPES, ROLES, allows
from patron.config import load_settings
from patron.db import session_factory, utcnow
from patron.web.app import create_app
from patron.web.deps import CsrfCheck, route_access

# Mounted sub-apps cannot carry a route dependency; these are public on purpose.
PUBLIC_MOUNTS = {
    "/docs/assets": "Swagger UI's static files, which /docs loads",
    "/static": "Patron's own static files (scripts and styles of its pages)",
}
PUBLIC_PATHS = {
    "/",
    "/health",
    "/docs",
    "/openapi.json",
    "/sign-in",
    "/sign-out",
    "/vendor/vega.js",
    "/u/{token}",
    "/optin/{token}",
    "/t/o/{token}.gif",
    "/t/c/{token}",
    "/s/{token}",
    "/r/{token}",
    # the customer portal: public to the staff side's rules, behind its own sign-in (an
    # e-mailed one-time link and the patron_portal cookie); its forms check its own CSRF
    # token (portal.session.PortalCsrf, a CsrfCheck); tests/portal test who sees what
    "/portal",
    "/portal/portal.css",
    "/portal/sign-in",
    "/portal/sign-in/{token}",
    "/portal/sign-out",
    "/portal/points",
    "/portal/rewards",
    "/portal/rewards/redeem",
    "/portal/subscriptions",
    "/portal/subscriptions/{key}/{action}",
    "/portal/subscriptions/{key}/cancel",
    "/portal/service",
    "/portal/data",
    "/portal/data/consents/{channel}",
    "/portal/data/export",
    "/portal/data/erasure",
}
# Public forms without a CSRF token, each with the reason: they carry their own credential.
PUBLIC_FORMS = {
    "/s/{token}": "a customer's survey answer: the signed, expiring link from the message names "
    "the survey, the customer and the invitation and is the whole credential (no sign-in, so no "
    "session to bind a CSRF token to); a forged form cannot know it",
    "/u/{token}": "RFC 8058 one-click unsubscribe: mail providers post without cookies, and the "
    "signed token in the address is what a forged form cannot know",
    "/r/{token}": "a customer's answer to an event invitation: the signed, expiring link from "
    "the invitation names the event and the guest and is the whole credential (no sign-in, so "
    "no session to bind a CSRF token to); a forged form cannot know it",
}
# What each API route needs, by method and path (the README's table says the same): a change is
# a decision. One path may need one permission to read and another to change.
API_PERMISSIONS = {
    "GET /api/v1/customers": "customers:read",
    "GET /api/v1/customers/{key}": "customers:read",
    "GET /api/v1/stats": "customers:read",
    "GET /api/v1/customers/{key}/scores": "analytics:read",
    "GET /api/v1/analytics/segments": "analytics:read",
    "POST /api/v1/loyalty/{programme}/purchases": "events:write",
    "POST /api/v1/loyalty/{programme}/returns": "events:write",
    "POST /api/v1/loyalty/{programme}/events": "events:write",
    "POST /api/v1/loyalty/{programme}/redemptions": "loyalty:write",
    "POST /api/v1/loyalty/{programme}/adjustments": "loyalty:write",
    "GET /api/v1/loyalty/{programme}/members": "loyalty:read",
    "GET /api/v1/loyalty/{programme}/members/{customer}": "loyalty:read",
    "GET /api/v1/loyalty/{programme}/members/{customer}/statement": "loyalty:read",
    "GET /api/v1/loyalty/{programme}/members/{customer}/progress": "loyalty:read",
    "GET /api/v1/loyalty/{programme}/members/{customer}/rewards": "loyalty:read",
    "GET /api/v1/loyalty/{programme}/members/{customer}/vouchers": "loyalty:read",
    "GET /api/v1/loyalty/{programme}/rewards": "loyalty:read",
    "POST /api/v1/loyalty/{programme}/vouchers/{code}/validate": "loyalty:read",
    "POST /api/v1/loyalty/{programme}/vouchers/{code}/consume": "loyalty:write",
    "POST /api/v1/loyalty/{programme}/vouchers": "loyalty:write",
    "GET /api/v1/loyalty/liability": "loyalty:read",
    "GET /api/v1/customers/{key}/recommendations": "customers:read",
    "GET /api/v1/customers/{key}/recommendation-blocks": "customers:read",
    "POST /api/v1/customers/{key}/recommendation-blocks": "customers:write",
    "DELETE /api/v1/customers/{key}/recommendation-blocks/{sku}": "customers:write",
    "GET /api/v1/recommendations/fit": "analytics:read",
    "GET /api/v1/customers/{key}/consents": "customers:read",
    "POST /api/v1/customers/{key}/consents": "customers:write",
    "POST /api/v1/customers/{key}/opt-in": "customers:write",
    "GET /api/v1/suppressions": "customers:read",
    "POST /api/v1/suppressions": "customers:write",
    "DELETE /api/v1/suppressions/{channel}/{address}": "customers:write",
    "GET /api/v1/segments/fields": "campaigns:read",
    "POST /api/v1/segments/preview": "campaigns:read",
    "GET /api/v1/templates": "campaigns:read",
    "GET /api/v1/templates/{key}": "campaigns:read",
    "POST /api/v1/templates": "campaigns:write",
    "PUT /api/v1/templates/{key}": "campaigns:write",
    "GET /api/v1/templates/{key}/preview": "campaigns:read",
    "GET /api/v1/journeys": "campaigns:read",
    "POST /api/v1/journeys/{key}/enable": "campaigns:write",
    "GET /api/v1/campaigns": "campaigns:read",
    "POST /api/v1/campaigns": "campaigns:write",
    "GET /api/v1/campaigns/{campaign}": "campaigns:read",
    "POST /api/v1/campaigns/{campaign}/run": "campaigns:write",
    "POST /api/v1/campaigns/{campaign}/schedule": "campaigns:write",
    "POST /api/v1/campaigns/{campaign}/pause": "campaigns:write",
    "POST /api/v1/campaigns/{campaign}/resume": "campaigns:write",
    "POST /api/v1/campaigns/{campaign}/cancel": "campaigns:write",
    "GET /api/v1/messages": "campaigns:read",
    "POST /api/v1/messages": "campaigns:write",
    "GET /api/v1/surveys": "cases:read",
    "POST /api/v1/surveys": "cases:write",
    "GET /api/v1/surveys/{key}": "cases:read",
    "POST /api/v1/surveys/{key}/responses": "cases:write",
    "POST /api/v1/surveys/{key}/invitations": "cases:write",
    "GET /api/v1/surveys/{key}/report": "cases:read",
    "GET /api/v1/reports/nps": "cases:read",
    "GET /api/v1/reports/csat-by-category": "cases:read",
    "GET /api/v1/account-managers": "cases:read",
    "PUT /api/v1/account-managers/{email}": "cases:write",
    "GET /api/v1/key-accounts": "cases:read",
    "PUT /api/v1/key-accounts/{customer}": "cases:write",
    "POST /api/v1/key-accounts/assignment-runs": "cases:write",
    "GET /api/v1/tasks": "cases:read",
    "POST /api/v1/tasks": "cases:write",
    "POST /api/v1/tasks/{task}/done": "cases:write",
    "POST /api/v1/tasks/{task}/cancel": "cases:write",
    "GET /api/v1/events": "cases:read",
    "POST /api/v1/events": "cases:write",
    "GET /api/v1/events/{key}": "cases:read",
    "PATCH /api/v1/events/{key}": "cases:write",
    "POST /api/v1/events/{key}/guests": "cases:write",
    "POST /api/v1/events/{key}/invitations": "cases:write",
    "POST /api/v1/events/{key}/attendance": "cases:write",
    "POST /api/v1/cases": "cases:write",
    "GET /api/v1/cases": "cases:read",
    "GET /api/v1/cases/{case}": "cases:read",
    "POST /api/v1/cases/{case}/replies": "cases:write",
    "POST /api/v1/cases/{case}/notes": "cases:write",
    "POST /api/v1/cases/{case}/status": "cases:write",
    "POST /api/v1/cases/{case}/assign": "cases:write",
    "GET /api/v1/reports/service-recovery": "cases:read",
    "POST /api/v1/subscriptions": "subscriptions:write",
    "GET /api/v1/subscriptions": "subscriptions:read",
    "GET /api/v1/customers/{key}/subscriptions": "subscriptions:read",
    "GET /api/v1/subscriptions/{key}": "subscriptions:read",
    "PATCH /api/v1/subscriptions/{key}": "subscriptions:write",
    "POST /api/v1/subscriptions/{key}/interval": "subscriptions:write",
    "POST /api/v1/subscriptions/{key}/pause": "subscriptions:write",
    "POST /api/v1/subscriptions/{key}/resume": "subscriptions:write",
    "POST /api/v1/subscriptions/{key}/skip": "subscriptions:write",
    "GET /api/v1/subscriptions/{key}/cancellation": "subscriptions:read",
    "POST /api/v1/subscriptions/{key}/cancel": "subscriptions:write",
    "GET /api/v1/subscriptions/{key}/history": "subscriptions:read",
    "GET /api/v1/subscription-deliveries": "subscriptions:read",
    "POST /api/v1/subscription-deliveries/{key}/{due_on}/fulfil": "subscriptions:write",
    "GET /api/v1/reports/subscriptions": "subscriptions:read",
    "GET /api/v1/subscription-offers/candidates": "subscriptions:read",
    "POST /api/v1/subscription-offers": "subscriptions:write",
    "GET /api/v1/customers/{key}/export": "privacy:manage",
    "POST /api/v1/customers/{key}/erasure": "privacy:manage",
    "GET /api/v1/erasure-requests": "privacy:manage",
    "POST /api/v1/erasure-requests/{request_id}/approve": "privacy:manage",
    "POST /api/v1/erasure-requests/{request_id}/reject": "privacy:manage",
}
# What each page needs (the README's table says the same); None: any signed-in user.
PAGE_PERMISSIONS: dict[str, str | None] = {
    "/overview": "customers:read",
    "/analytics": "analytics:read",
    "/customers": "customers:read",
    "/customers/{key}": "customers:read",
    "/loyalty": "loyalty:read",
    "/loyalty/new": "loyalty:write",
    "/loyalty/{code}": "loyalty:read",
    "/loyalty/{code}/settings": "loyalty:write",
    "/loyalty/{code}/members": "loyalty:read",
    "/loyalty/{code}/members/{customer_id}/adjust": "loyalty:write",
    "/recommendations": "analytics:read",
    "/recommendations/customers/{customer_id}/block": "customers:write",
    "/recommendations/customers/{customer_id}/unblock": "customers:write",
    "/settings": "users:manage",
    "/settings/users": "users:manage",
    "/settings/api-keys": "apikeys:manage",
    "/settings/api-keys/{prefix}/revoke": "apikeys:manage",
    "/account/language": None,
    "/segments": "campaigns:read",
    "/templates": "campaigns:read",
    "/templates/{key}": "campaigns:read",
    "/templates/{key}/save": "campaigns:write",
    "/campaigns": "campaigns:read",
    "/campaigns/new": "campaigns:write",
    "/campaigns/journeys/{key}/enable": "campaigns:write",
    "/campaigns/{campaign_id}": "campaigns:read",
    "/campaigns/{campaign_id}/{action}": "campaigns:write",
    "/campaigns/{campaign_id}/report": "campaigns:read",
    "/experiments": "campaigns:read",
    "/experiments/{name}": "campaigns:read",
    "/surveys": "cases:read",
    "/surveys/new": "cases:write",
    "/surveys/{key}/status": "cases:write",
    "/surveys/reports/nps": "cases:read",
    "/surveys/{key}": "cases:read",
    "/accounts": "cases:read",
    "/accounts/assign": "cases:write",
    "/accounts/managers": "cases:read",
    "/accounts/managers/save": "cases:write",
    "/accounts/assignment-runs": "cases:write",
    "/tasks": "cases:read",
    "/tasks/new": "cases:write",
    "/tasks/{task_id}/{action}": "cases:write",
    "/events": "cases:read",
    "/events/new": "cases:write",
    "/events/{key}": "cases:read",
    "/events/{key}/guests": "cases:write",
    "/events/{key}/invite": "cases:write",
    "/events/{key}/attendance": "cases:write",
    "/events/{key}/status": "cases:write",
    "/cases": "cases:read",
    "/cases/new": "cases:write",
    "/cases/report": "cases:read",
    "/cases/{case_id}": "cases:read",
    "/cases/{case_id}/reply": "cases:write",
    "/cases/{case_id}/note": "cases:write",
    "/cases/{case_id}/status": "cases:write",
    "/cases/{case_id}/assign": "cases:write",
    "/subscriptions": "subscriptions:read",
    "/subscriptions/offers": "subscriptions:write",
    "/subscriptions/offers/customers/{customer_id}": "subscriptions:write",
    "/subscriptions/reports": "subscriptions:read",
    "/subscriptions/{key}": "subscriptions:read",
    "/subscriptions/{key}/pause": "subscriptions:write",
    "/subscriptions/{key}/resume": "subscriptions:write",
    "/subscriptions/{key}/skip": "subscriptions:write",
    "/subscriptions/{key}/cancel": "subscriptions:write",
    "/privacy": "privacy:manage",
    "/privacy/requests/{request_id}/approve": "privacy:manage",
    "/privacy/requests/{request_id}/reject": "privacy:manage",
    "/privacy/customers/{customer_id}/export": "privacy:manage",
    "/privacy/customers/{customer_id}/erase": "privacy:manage",
}
BOGUS = "pk_00000000_" + "x" * 43
# What a route may answer a key with its permission when the store does not hold what it reads
# yet (besides a 404 naming the missing row): the recommender before its first fit.
NOT_YET = {"recommend.not_fitted"}


@pytest.fixture
def app(engine: Engine, database_url: str) -> FastAPI:
    return create_app(load_settings(database_url=database_url, environment="test"), engine=engine)


@pytest.fixture
def sqlite_app(sqlite_engine: Engine, sqlite_url: str) -> FastAPI:
    """For what does not depend on the backend: the routes and the OpenAPI document."""
    settings = load_settings(database_url=sqlite_url, environment="test")
    return create_app(settings, engine=sqlite_engine)


def _api_routes(app: FastAPI) -> Iterator[tuple[RouteContext, str]]:
    """(route, permission) for every route that needs an API key."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            declared = route_access(route)  # not exactly one: the test below names the route
            if len(declared) == 1 and declared[0].permission is not None and not declared[0].page:
                yield route, declared[0].permission


def _page_routes(app: FastAPI) -> Iterator[tuple[RouteContext, str | None]]:
    """(route, permission or None for any signed-in user) for every page behind a sign-in."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            declared = route_access(route)
            if len(declared) == 1 and declared[0].page:
                yield route, declared[0].permission


def _checks_csrf(route: RouteContext) -> bool:
    found = False

    def walk(dependant: Any) -> None:
        nonlocal found
        for sub in dependant.dependencies:
            found = found or isinstance(sub.call, CsrfCheck)
            walk(sub)

    walk(route.dependant)
    return found


def _url(route: RouteContext) -> str:
    """The route's path, each path parameter an id no row has."""
    assert route.path is not None
    return re.sub(r"\{[^}]+\}", "no-such-id", route.path)


def test_every_route_declares_a_permission_or_is_public(sqlite_app: FastAPI) -> None:
    app = sqlite_app
    undeclared: list[str] = []
    public: set[str | None] = set()
    for route in iter_route_contexts(app.routes):  # with the routes of included routers
        kind = type(route.original_route).__name__
        if isinstance(route.original_route, Mount):
            if route.path not in PUBLIC_MOUNTS:
                undeclared.append(f"mount {route.path}: not in PUBLIC_MOUNTS")
            continue
        if not isinstance(route.original_route, APIRoute):
            undeclared.append(f"{kind} {route.path}: neither an APIRoute nor an allowed mount")
            continue
        declared = route_access(route)
        if len(declared) != 1:
            undeclared.append(f"{sorted(route.methods or ())} {route.path}: declares {declared}")
        elif declared[0].public:
            public.add(route.path)
    assert undeclared == [], "routes without exactly one require(...) or public():\n" + "\n".join(
        undeclared
    )
    assert public == PUBLIC_PATHS  # a new public route is a decision: add it here on purpose
    assert {
        f"{method} {route.path}": permission
        for route, permission in _api_routes(app)
        for method in sorted(route.methods or ())
    } == API_PERMISSIONS
    assert {route.path: permission for route, permission in _page_routes(app)} == PAGE_PERMISSIONS


def test_every_state_changing_page_route_checks_a_csrf_token(sqlite_app: FastAPI) -> None:
    unguarded = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in iter_route_contexts(sqlite_app.routes)
        if isinstance(route.original_route, APIRoute)
        and not (route.path or "").startswith("/api/")
        and set(route.methods or ()) - {"GET", "HEAD", "OPTIONS"}
        and route.path not in PUBLIC_FORMS
        and not _checks_csrf(route)
    ]
    assert unguarded == []


def test_each_page_answers_only_roles_with_its_permission(app: FastAPI, engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions() as session:
        emails = {role: make.user(session, role).email for role in ROLES}
    routes = list(_page_routes(app))
    assert routes
    wrong: list[str] = []
    html = {"Accept": "text/html"}
    with TestClient(app, headers=html) as anonymous:
        for route, _permission in routes:
            for method in sorted(route.methods or ()):
                response = anonymous.request(method, _url(route), follow_redirects=False)
                sent_to_sign_in = response.status_code == 303 and response.headers[
                    "location"
                ].startswith("/sign-in?next=")
                # A form posted without a session fails its CSRF check first: refused as well.
                refused = method == "POST" and (
                    response.status_code == 403 and 'data-error-code="auth.csrf"' in response.text
                )
                if not (sent_to_sign_in or refused):
                    wrong.append(f"{method} {route.path} signed out: {response.status_code}")
    for role, email in emails.items():
        with TestClient(app, headers=html) as browser:
            make.sign_in(browser, email)
            token = make.csrf_token(browser.get("/overview").text)
            for route, permission in routes:
                for method in sorted(route.methods or ()):
                    data = {"csrf_token": token} if method == "POST" else None
                    response = browser.request(
                        method, _url(route), data=data, follow_redirects=False
                    )
                    allowed = permission is None or allows(role, permission)
                    refused = response.status_code == 403 and (
                        'data-error-code="auth.forbidden"' in response.text
                    )
                    signed_out = response.status_code == 303 and response.headers[
                        "location"
                    ].startswith("/sign-in")
                    if allowed == refused or signed_out or response.status_code >= 500:
                        wrong.append(
                            f"{method} {route.path} as {role} (needs {permission}): "
                            f"{response.status_code}"
                        )
    assert wrong == [], "\n".join(wrong)


def test_each_api_route_answers_only_keys_with_its_permission(app: FastAPI, engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions() as session:
        tokens = {scope: make.api_token(session, scope, name=scope) for scope in API_KEY_SCOPES}
        tokens["(none)"] = make.api_token(session, "customers:read", name="no scopes")
        revoked = make.api_token(session, "customers:read", name="revoked")
    with sessions.begin() as session:  # the service refuses a key without scopes; the DB need not
        session.execute(update(ApiKey).where(ApiKey.name == "no scopes").values(scopes=[]))
    with sessions() as session:
        access.revoke_api_key(session, prefix=revoked.split("_")[1], now=utcnow())

    wrong: list[str] = []
    routes = list(_api_routes(app))
    assert routes
    with TestClient(app) as client:
        for public_path in ("/health", "/openapi.json", "/docs"):
            assert client.get(public_path).status_code == 200, public_path
        for route, permission in routes:
            for method in sorted(route.methods or ()):
                url = _url(route)
                call = f"{method} {url} (needs {permission})"
                for label, headers, code in (
                    ("no key", {}, "auth.missing_key"),
                    ("bogus key", {"Authorization": f"Bearer {BOGUS}"}, "auth.invalid_key"),
                    ("revoked key", {"X-API-Key": revoked}, "auth.invalid_key"),
                ):
                    response = client.request(method, url, headers=headers)
                    body = response.json()
                    if (
                        response.status_code != 401
                        or body["error"]["code"] != code
                        or response.headers.get("www-authenticate") != "Bearer"
                    ):
                        wrong.append(f"{call} with {label}: {response.status_code} {body}")
                for scope, token in tokens.items():
                    # Alternate the two ways of sending a key.
                    if len(scope) % 2:
                        headers = {"Authorization": f"Bearer {token}"}
                    else:
                        headers = {"X-API-Key": token}
                    response = client.request(method, url, headers=headers)
                    allowed = scope == permission
                    if allowed:
                        ok = (
                            response.status_code < 300
                            or (
                                response.status_code == 404
                                and response.json()["error"]["code"] != "http.not_found"
                            )
                            or (
                                response.status_code == 409
                                and response.json()["error"]["code"] in NOT_YET
                            )
                            # without a path parameter nothing can be missing: past the
                            # key, a POST without its body is refused for the body
                            or (
                                "{" not in (route.path or "")
                                and response.status_code == 422
                                and response.json()["error"]["code"] == "request.invalid"
                            )
                        )
                    else:
                        error = response.json().get("error", {})
                        ok = (
                            response.status_code == 403
                            and error.get("code") == "auth.forbidden"
                            and permission in error.get("message", "")
                            and error.get("details", {}).get("permission") == permission
                        )
                    if not ok:
                        wrong.append(f"{call} with a {scope} key: {response.status_code}")
    assert wrong == [], "\n".join(wrong)


def test_openapi_offers_bearer_authorization(sqlite_app: FastAPI) -> None:
    with TestClient(sqlite_app) as client:
        spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["apiKeyBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["apiKeyBearer"]["description"],
    }
    assert schemes["apiKeyHeader"]["in"] == "header"
    assert spec["paths"]["/api/v1/customers"]["get"]["security"] == [
        {"apiKeyBearer": []},
        {"apiKeyHeader": []},
    ]
    assert "security" not in spec["paths"]["/health"]["get"]
