"""Every response carries the security headers, and no page of ours runs inline script."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from patron.config import load_settings
from patron.web.app import create_app


@pytest.fixture
def client(sqlite_engine: Engine, sqlite_url: str) -> Iterator[TestClient]:
    settings = load_settings(database_url=sqlite_url, environment="test")
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        yield client


@pytest.mark.parametrize(
    "path",
    [
        "/health",
        "/docs",
        "/openapi.json",
        "/static/swagger-init.js",
        "/docs/assets/swagger-ui.css",
        "/api/v1/customers",
        "/no-such-page",
    ],
)
def test_every_response_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_the_docs_page_loads_its_scripts_from_files_only(client: TestClient) -> None:
    page = client.get("/docs").text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts, "the docs page has no scripts at all"
    for attributes, body in scripts:
        assert 'src="' in attributes
        assert not body.strip(), f"inline script: {body[:60]!r}"
    for source in re.findall(r'src="([^"]+)"', page):
        assert client.get(source).status_code == 200, source
    assert (
        client.get("/static/swagger-init.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )
