"""Facts from the store: SQLite (read into Arrow, analysed by DuckDB) and PostgreSQL (analysed
inside the database by Ibis) give the same analyses of the same demo shop, and both agree with
the store's own rows read through the ORM."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from analytics.backends import differences
from patron.analytics.abc import abc_classes
from patron.analytics.cohorts import cohort_retention
from patron.analytics.facts import Facts
from patron.analytics.lifecycle import trend
from patron.analytics.regularity import subscription_candidates
from patron.analytics.rfm import rfm_scores
from patron.analytics.sources import store_facts
from patron.analytics.summary import period_bounds, summarise
from patron.customers.models import Customer, Order, OrderLine, Return
from patron.demo import service

CUSTOMERS = 300
SEED = 3


def _analyses(facts: Facts) -> dict[str, pa.Table]:
    bounds = period_bounds(facts)
    assert bounds is not None
    end = bounds[1]
    summary = summarise(facts, end=end, unit="week")
    return {
        "summary": summary.to_pyarrow(),
        "abc": abc_classes(summary).to_pyarrow(),
        "rfm": rfm_scores(summary).to_pyarrow(),
        "cohorts": cohort_retention(facts, end=end).to_pyarrow(),
        "trend": trend(facts, end=end).to_pyarrow(),
        "subscriptions": subscription_candidates(facts, end=end).to_pyarrow(),
    }


def _external_ids(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        rows = session.execute(select(Customer.id, Customer.external_id)).all()
    assert all(external for _, external in rows)
    return {str(id_): str(external) for id_, external in rows}


def _by_external_id(table: pa.Table, ids: dict[str, str]) -> pa.Table:
    """``table`` with the store's customer ids replaced by the customers' external ids."""
    if "customer_id" not in table.column_names:
        return table
    index = table.schema.get_field_index("customer_id")
    external = [ids[value] for value in table.column("customer_id").to_pylist()]
    return table.set_column(index, "customer_id", pa.array(external, pa.string()))


KEYS = {
    "summary": ("customer_id",),
    "abc": ("customer_id",),
    "rfm": ("customer_id",),
    "cohorts": ("cohort", "period"),
    "trend": ("customer_id",),
    "subscriptions": ("customer_id",),
}


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_sqlite_and_postgres_stores_give_the_same_analyses(
    sqlite_engine: Engine, engine: Engine
) -> None:
    """The same demo shop in both stores: the same rows, customer by customer (the store ids
    may differ, so customers are matched by their external id)."""
    assert engine.dialect.name == "postgresql"
    results = {}
    for store in (sqlite_engine, engine):
        service.generate(store, customers=CUSTOMERS, seed=SEED)
        ids = _external_ids(store)
        facts = store_facts(store)
        results[store.dialect.name] = {
            name: _by_external_id(table, ids) for name, table in _analyses(facts).items()
        }
    sqlite, postgres = results["sqlite"], results["postgresql"]
    assert sqlite["summary"].num_rows > 200  # most of the 300 demo customers bought
    assert sqlite["subscriptions"].num_rows > 0
    for name, keys in KEYS.items():
        problems = differences(sqlite[name], postgres[name], keys)
        assert not problems, f"{name}: PostgreSQL differs from SQLite:\n" + "\n".join(problems)


def _store_summary(engine: Engine, end: date) -> dict[str, dict[str, Any]]:
    """Purchase days, orders and money per customer, read through the ORM (exact Decimals,
    aware UTC datetimes): completed orders' sale lines, and returns, up to ``end``."""
    days: dict[str, set[date]] = defaultdict(set)
    orders: dict[str, set[int]] = defaultdict(set)
    sales: dict[str, Decimal] = defaultdict(Decimal)
    refunds: dict[str, Decimal] = defaultdict(Decimal)
    with Session(engine) as session:
        lines = session.execute(
            select(Order.customer_id, Order.id, Order.placed_at, OrderLine.amount)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                Order.status == "completed",
                Order.customer_id.is_not(None),
                OrderLine.kind == "sale",
            )
        ).all()
        returned = session.execute(
            select(Return.customer_id, Return.returned_at, Return.amount).where(
                Return.customer_id.is_not(None)
            )
        ).all()
    for customer, order, placed_at, amount in lines:
        day = placed_at.astimezone(UTC).date()
        if day <= end:
            days[str(customer)].add(day)
            orders[str(customer)].add(order)
            sales[str(customer)] += amount
    for customer, returned_at, amount in returned:
        if returned_at.astimezone(UTC).date() <= end:
            refunds[str(customer)] += amount
    return {
        customer: {
            "frequency": len(bought) - 1,
            "recency": (max(bought) - min(bought)).days / 7,
            "T": (end - min(bought)).days / 7,
            "orders": len(orders[customer]),
            "sales": float(sales[customer]),
            "revenue": float(sales[customer] - refunds[customer]),
        }
        for customer, bought in days.items()
    }


def test_store_facts_give_the_stores_own_numbers(engine: Engine) -> None:
    """On each store, the summary of ``store_facts`` is what the ORM reads from the same rows."""
    service.generate(engine, customers=CUSTOMERS, seed=SEED)
    facts = store_facts(engine)
    bounds = period_bounds(facts)
    assert bounds is not None
    end = bounds[1]
    expected = _store_summary(engine, end)
    assert len(expected) > 200
    assert any(row["revenue"] != row["sales"] for row in expected.values())  # some returns
    rows = summarise(facts, end=end, unit="week").to_pyarrow().to_pylist()
    assert {row["customer_id"] for row in rows} == set(expected)
    for row in rows:
        wanted = expected[row["customer_id"]]
        for name, value in wanted.items():
            assert row[name] == pytest.approx(value, rel=1e-9, abs=1e-9), (
                f"customer {row['customer_id']}: {name}"
            )
