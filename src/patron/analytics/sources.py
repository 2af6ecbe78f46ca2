"""Analytics facts from the knowledge store.

- On **PostgreSQL** the analyses run inside the database: the facts are Ibis tables over the
  store's own ``orders``, ``order_lines``, ``returns`` and ``customers`` (Ibis' PostgreSQL
  backend, session time zone UTC), so nothing but the per-customer result leaves the server.
- On **SQLite** (the embedded default) the facts are read once into Arrow and analysed by DuckDB
  in memory: SQLite has neither the statistics nor the speed for it.

Customer ids are the store's ``customers.id`` as text. Only sale lines count (adjustments are
bookkeeping); orders with a status other than ``completed`` are left out.

Survey answers (NPS and CSAT: the attitude of the loyalty type) and service cases (the cost to
serve) live in care's tables, an area above analytics: they are read here by table and column
name only (``table()``/``column()`` constructs, Ibis ``con.table``), never through care's models.
"""

from __future__ import annotations

from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import DateTime, Engine, Float, Integer, String, cast, column, select, table

from patron.analytics.facts import (
    ATTITUDES,
    CASES,
    CUSTOMERS,
    LINES,
    RETURNS,
    Facts,
    facts_from_arrow,
)
from patron.customers.models import Customer, Order, OrderLine, Product, Return
from patron.sqltypes import Money, Quantity


def store_facts(engine: Engine) -> Facts:
    if engine.dialect.name == "postgresql":
        return postgres_facts(ibis_postgres(engine))
    return _sqlite_facts(engine)


def ibis_postgres(engine: Engine) -> Any:
    """An Ibis PostgreSQL connection to the store's database, its session time zone UTC."""
    url = engine.url
    return ibis.postgres.connect(
        host=url.host or "localhost",
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
        options="-c TimeZone=UTC",
    )


def postgres_facts(con: Any) -> Facts:
    orders = con.table("orders")
    lines = con.table("order_lines")
    returns = con.table("returns")
    customers = con.table("customers")
    sale = lines.filter(lines.kind == "sale")
    joined = sale.join(orders, sale.order_id == orders.id).filter(
        (orders.status == "completed") & orders.customer_id.notnull()
    )
    products = con.table("products")
    with_product = joined.left_join(products, joined.product_id == products.id)
    fact_lines = with_product.select(
        customer_id=with_product.customer_id.cast("string"),
        order_id=with_product.external_id.cast("string"),
        placed_at=with_product.placed_at.cast("timestamp"),
        product=with_product.sku,
        quantity=with_product.quantity.cast("float64"),
        amount=with_product.amount.cast("float64"),
        discount=with_product.discount.cast("float64"),
        cost=(with_product.unit_cost.cast("float64") * with_product.quantity.cast("float64")),
    )
    fact_returns = returns.filter(returns.customer_id.notnull()).left_join(
        products, returns.product_id == products.id
    )
    fact_returns = fact_returns.select(
        customer_id=fact_returns.customer_id.cast("string"),
        returned_at=fact_returns.returned_at.cast("timestamp"),
        product=fact_returns.sku,
        quantity=fact_returns.quantity.cast("float64"),
        amount=fact_returns.amount.cast("float64"),
    )
    answers = con.table("survey_responses")
    answers = answers.filter(answers.kind.isin(ATTITUDE_KINDS) & answers.score.notnull())
    cases = con.table("cases")
    return Facts(
        lines=fact_lines,
        returns=fact_returns,
        customers=customers.select(customer_id=customers.id.cast("string")),
        attitudes=answers.select(
            customer_id=answers.customer_id.cast("string"),
            answered_at=answers.answered_at.cast("timestamp"),
            kind=answers.kind,
            score=answers.score.cast("float64"),
        ),
        cases=cases.select(
            customer_id=cases.customer_id.cast("string"),
            opened_at=cases.opened_at.cast("timestamp"),
        ),
    )


# Care's tables, by name: analytics may not import care's models (care is the higher layer).
ATTITUDE_KINDS = ("nps", "csat")
SURVEY_RESPONSES = table(
    "survey_responses",
    column("customer_id", Integer),
    column("answered_at", DateTime),
    column("kind", String),
    column("score", Float),
)
CASE_ROWS = table("cases", column("customer_id", Integer), column("opened_at", DateTime))


def _sqlite_facts(engine: Engine) -> Facts:
    dialect = engine.dialect.name
    money = float(Money().storage_units(dialect))
    quantity = float(Quantity().storage_units(dialect))
    line_query = (
        select(
            cast(Order.customer_id, String),
            Order.external_id,
            Order.placed_at,
            Product.sku,
            OrderLine.quantity,
            OrderLine.amount,
            OrderLine.discount,
            OrderLine.unit_cost,
        )
        .join(Order, OrderLine.order_id == Order.id)
        .outerjoin(Product, OrderLine.product_id == Product.id)
        .where(
            OrderLine.kind == "sale",
            Order.status == "completed",
            Order.customer_id.is_not(None),
        )
    )
    return_query = (
        select(
            cast(Return.customer_id, String),
            Return.returned_at,
            Product.sku,
            Return.quantity,
            Return.amount,
        )
        .outerjoin(Product, Return.product_id == Product.id)
        .where(Return.customer_id.is_not(None))
    )
    with engine.connect() as connection:
        # Raw values (scaled integers, naive UTC text) are much faster than the ORM types.
        raw_lines = _raw(connection, line_query)
        raw_returns = _raw(connection, return_query)
        ids = connection.execute(select(cast(Customer.id, String))).scalars().all()
        raw_attitudes = _raw(connection, _attitude_query())
        raw_cases = _raw(
            connection, select(cast(CASE_ROWS.c.customer_id, String), CASE_ROWS.c.opened_at)
        )
    lines = _columns(raw_lines, [*LINES.names[:7], "unit_cost"])
    qty = _divide(lines["quantity"], quantity)
    unit_cost = _divide(lines.pop("unit_cost"), money)
    lines_table = pa.table(
        {
            "customer_id": lines["customer_id"],
            "order_id": lines["order_id"],
            "placed_at": pa.array(lines["placed_at"], pa.string()).cast(pa.timestamp("us")),
            "product": lines["product"],
            "quantity": qty,
            "amount": _divide(lines["amount"], money),
            "discount": _divide(lines["discount"], money),
            "cost": pc.multiply(unit_cost, qty),
        }
    )
    returned = _columns(raw_returns, RETURNS.names)
    returns_table = pa.table(
        {
            "customer_id": returned["customer_id"],
            "returned_at": pa.array(returned["returned_at"], pa.string()).cast(pa.timestamp("us")),
            "product": returned["product"],
            "quantity": _divide(returned["quantity"], quantity),
            "amount": _divide(returned["amount"], money),
        }
    )
    attitudes = _columns(raw_attitudes, ATTITUDES.names)
    cases = _columns(raw_cases, CASES.names)
    return facts_from_arrow(
        lines_table,
        returns_table,
        customers=pa.table({"customer_id": pa.array(ids, pa.string())}, schema=CUSTOMERS),
        attitudes=pa.table(
            {
                "customer_id": pa.array(attitudes["customer_id"], pa.string()),
                "answered_at": _timestamps(attitudes["answered_at"]),
                "kind": pa.array(attitudes["kind"], pa.string()),
                "score": pa.array(attitudes["score"], pa.float64()),
            }
        ),
        cases=pa.table(
            {
                "customer_id": pa.array(cases["customer_id"], pa.string()),
                "opened_at": _timestamps(cases["opened_at"]),
            }
        ),
    )


def _attitude_query() -> Any:
    answers = SURVEY_RESPONSES.c
    return select(
        cast(answers.customer_id, String), answers.answered_at, answers.kind, answers.score
    ).where(answers.kind.in_(ATTITUDE_KINDS), answers.score.is_not(None))


def _timestamps(values: list[Any]) -> pa.Array:
    """Naive UTC text as SQLite stores it, as Arrow timestamps."""
    return pa.array(values, pa.string()).cast(pa.timestamp("us"))


def _raw(connection: Any, query: Any) -> list[Any]:
    """Rows of ``query`` as the driver returns them: no Python-side type processing."""
    sql = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    return connection.exec_driver_sql(str(sql)).all()


def _columns(rows: list[Any], names: list[str]) -> dict[str, list[Any]]:
    """Rows turned into columns, by name."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _name in names]
    return {name: list(column) for name, column in zip(names, columns, strict=True)}


def _divide(values: list[Any], scale: float) -> pa.Array:
    return pc.divide(pa.array(values, pa.float64()), scale)
