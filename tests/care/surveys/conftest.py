"""Fixtures of the survey tests: settings that sign links, the web app, a customer's browser,
and builders of cases and answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from patron.care.models import Case
from patron.config import Settings, load_settings
from patron.web.app import create_app

SECRET = "a-survey-test-secret-of-more-than-thirty-two-characters"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(
        database_url=database_url,
        environment="test",
        secret_key=SECRET,
        shop_name="Fjord & Co",
        public_url="https://shop.example",
        language="en",
        survey_valid_days=30,
        email_from="Fjord <shop@shop.example>",
    )


@pytest.fixture
def app(engine: Engine, settings: Settings) -> FastAPI:
    return create_app(settings, engine=engine)


@pytest.fixture
def phone(app: FastAPI) -> Iterator[TestClient]:
    """A customer's phone browser: no sign-in, no cookies of the shop."""
    headers = {"Accept": "text/html", "User-Agent": "Mozilla/5.0 (iPhone)"}
    with TestClient(app, headers=headers) as client:
        yield client


def case(session: Session, customer_id: int, **fields: Any) -> Case:
    """A resolved complaint of the customer (flushed, not committed)."""
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "subject": "Parcel arrived damaged",
        "category": "delivery",
        "channel": "email",
        "kind": "complaint",
        "status": "resolved",
        "priority": "normal",
        "opened_at": NOW,
        "resolved_at": NOW,
    }
    row = Case(**(values | fields))
    session.add(row)
    session.flush()
    return row
