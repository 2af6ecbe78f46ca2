"""The export holds every row that refers to the person, in every table, and nothing secret:
checked against an independent walk of the metadata's foreign keys over whole tables."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.db import Base
from patron.errors import NotFound
from patron.outbox.models import OutboxEvent
from patron.privacy.export import FORMAT, person_data
from privacy import people


def _keys(table: str, rows: list[dict[str, object]]) -> set[tuple[object, ...]]:
    columns = [c.name for c in Base.metadata.tables[table].primary_key.columns]
    return {tuple(row[c] for c in columns) for row in rows}


def _comparable(keys: set[tuple[object, ...]]) -> set[tuple[str, ...]]:
    return {tuple(str(v) for v in key) for key in keys}


def test_the_export_has_exactly_the_rows_that_refer_to_the_person_in_every_table(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        built = people.build(session)
        expected = people.referring(session, built.person)
        data = person_data(session, built.person, now=people.NOW)
    expected.pop("customers")
    # the person reaches (at least) these tables, through services and models alike
    assert {
        "orders",
        "order_lines",
        "returns",
        "interactions",
        "consents",
        "loyalty_accounts",
        "loyalty_entries",
        "loyalty_lots",
        "loyalty_events",
        "cases",
        "case_entries",
        "survey_responses",
        "messages",
        "subscriptions",
        "subscription_items",
        "subscription_deliveries",
        "subscription_changes",
        "portal_links",
        "portal_sessions",
        "consent_requests",
        "recommendation_blocks",
        "tasks",
        "event_guests",
        "campaign_members",
        "experiment_results",
        "account_assignments",
        "demo_customer_truth",
    } <= set(expected)
    assert set(data["tables"]) == set(expected)
    for table, keys in expected.items():
        assert _comparable(_keys(table, data["tables"][table])) == _comparable(keys), table
    assert data["format"] == FORMAT
    assert data["version"] == 1
    assert data["customer"]["email"] == people.EMAIL
    assert data["customer"]["birthday"] == "1980-05-17"
    json.dumps(data)  # plain JSON throughout


def test_secrets_are_withheld_and_money_and_instants_are_plain(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        built = people.build(session)
        data = person_data(session, built.person, now=people.NOW)
    assert data["withheld"] == {
        "consent_requests": ["token_hash"],
        "portal_links": ["token_hash"],
        "portal_sessions": ["token_hash"],
    }
    for table in data["withheld"]:
        assert all("token_hash" not in row for row in data["tables"][table])
    line = data["tables"]["order_lines"][0]
    assert line["unit_price"] == "12.5000"
    assert line["amount"] == "25.0000"
    assert data["tables"]["orders"][0]["placed_at"].endswith("+00:00")


def test_rows_that_name_the_person_without_a_foreign_key_are_mentions(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        built = people.build(session)
        data = person_data(session, built.person, now=people.NOW)
        theirs = {
            e.id
            for e in session.scalars(select(OutboxEvent))
            if e.payload.get("customer_id") == built.person or e.payload.get("customer") == "P-1"
        }
    assert theirs, "the bookings and the consent change recorded events about the person"
    assert {row["id"] for row in data["mentions"]["outbox_events"]} == theirs
    assert [row["address"] for row in data["mentions"]["suppressions"]] == [people.EMAIL.lower()]
    # Bo's rows are nowhere in Ingrid's export
    assert people.OTHER_EMAIL not in json.dumps(data)
    assert people.OTHER_NAME not in json.dumps(data, ensure_ascii=False)


def test_an_unknown_customer_is_a_clear_error(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(NotFound) as error:
        person_data(session, 999_999)
    assert error.value.code == "customers.not_found"
