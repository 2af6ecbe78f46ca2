"""Schemathesis fuzzes every operation of ``/openapi.json``: no 5xx, and every answer is documented.

Requests are generated from the schema (valid and invalid ones) and sent to the app in-process.
With a key that has every API-key scope, each response must not be a server error, its status
must be one the operation documents, and its content type and body must match what is documented
for that status. Without a key, every protected operation answers 401 in the documented shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import schemathesis
from fastapi import FastAPI
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
from sqlalchemy import Engine

import factories as make
from factories import at
from patron.access.permissions import API_KEY_SCOPES
from patron.config import load_settings
from patron.db import session_factory
from patron.web.app import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Customers' external ids and numbers in the store below (the one with external id "42" is 5).
KEYS = ("K-0", "K-3", "42", "1", "5", " K-1 ")
# A few dozen examples per operation keep the whole run well under a minute on 2 cores. The
# fixtures build the app and its store once per test, not per example: requests change nothing
# but the key's time of last use.
FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Without a key the answer does not depend on the request's content (only a body that is not
# JSON at all is refused first), so fewer examples per operation show it as well.
FUZZ_NO_KEY = settings(FUZZ, max_examples=8)


@pytest.fixture
def token(sqlite_engine: Engine) -> str:
    """A store of a few customers with orders, returns, interactions and consents; a full key."""
    with session_factory(sqlite_engine).begin() as session:
        tea = make.product(session, sku="TEA", name="Green tea")
        cup = make.product(session, sku="CUP", name="Cup")
        for n, name in enumerate(["Anna Berg", "Bjørn Dahl", "Chloé Ém", "Dan 100%_off"]):
            person = make.customer(session, external_id=f"K-{n}", name=name)
            bought = make.order(
                session,
                person,
                placed_at=at(n),
                lines=[make.line(tea, quantity=2, unit_price="4.5"), make.line(cup)],
            )
            make.return_(session, bought.lines[0], returned_at=at(n + 3))
            make.interaction(session, person, kind="product_view", product_id=tea.id)
            make.consent(session, person, granted=True, recorded_at=at(0))
            make.consent(session, person, granted=n % 2 == 0, source="form", recorded_at=at(2))
        make.customer(session, external_id="42", name="Digits Only", email=None)
        make.order(session, None, lines=[make.line(tea)])
    with session_factory(sqlite_engine)() as session:
        return make.api_token(session, *sorted(API_KEY_SCOPES))


@pytest.fixture
def app(sqlite_url: str, sqlite_engine: Engine, token: str) -> FastAPI:
    return create_app(
        load_settings(database_url=sqlite_url, environment="test"), engine=sqlite_engine
    )


@pytest.fixture
def api_schema(app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def operations(schema: schemathesis.BaseSchema) -> list[schemathesis.APIOperation]:
    """Every operation of the schema; one the schema cannot describe fails the test."""
    found = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found.append(result.ok())
    assert found
    return found


def fuzz(
    schema: schemathesis.BaseSchema,
    test: Callable[[schemathesis.Case], None],
    *,
    examples: settings = FUZZ,
) -> None:
    """Run ``test`` on valid and invalid requests generated for each operation of ``schema``.

    A path's ``{key}`` is also drawn from the store's own customer keys, which random strings
    would hardly ever hit. (Schemathesis' own ``from_fixture(...).parametrize()`` does this
    too, but it writes pytest's private ``Function._nodeid``, which pytest 9.2 no longer has.)
    """
    for operation in operations(schema):
        strategies = [operation.as_strategy(mode) for mode in GenerationMode]
        if "{key}" in operation.path:
            strategies += [operation.as_strategy(path_parameters={"key": key}) for key in KEYS]
        cases = st.one_of(strategies)

        @examples
        @given(case=cases)
        def run(case: schemathesis.Case) -> None:
            test(case)

        try:
            run()
        except Exception as exc:
            exc.add_note(f"operation: {operation.label}")
            raise


def _not_json(body: object) -> bool:
    """A raw body (schemathesis sends others as JSON) that is not UTF-8 JSON."""
    if not isinstance(body, bytes):
        return False
    try:
        json.loads(body)
    except ValueError:  # UnicodeDecodeError as well
        return True
    return False


def test_every_operation_answers_as_documented(
    api_schema: schemathesis.BaseSchema, token: str
) -> None:
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    fuzz(api_schema, check)


def test_without_a_key_every_protected_operation_is_401(
    api_schema: schemathesis.BaseSchema,
) -> None:
    def check(case: schemathesis.Case) -> None:
        # No key of any kind: generated security headers are dropped too.
        case.headers = {
            name: value
            for name, value in (case.headers or {}).items()
            if name.lower() not in {"authorization", "x-api-key"}
        }
        response = case.call()
        if _not_json(case.body):
            # FastAPI reads the body before any dependency: one that is not JSON at all is
            # refused (400 or 422, in the error shape) before the key is looked at.
            assert response.status_code in (400, 422), response.text
        else:
            assert response.status_code == 401, response.text
            assert response.json()["error"]["code"] == "auth.missing_key"
        case.validate_response(response, checks=CHECKS)

    fuzz(api_schema.include(path_regex="^/api/"), check, examples=FUZZ_NO_KEY)
