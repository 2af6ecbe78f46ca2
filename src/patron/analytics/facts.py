"""The input of every analysis: a shop's sale lines and returns as Ibis tables, on any backend.

Every analysis reads these tables only, so it runs unchanged wherever they live: DuckDB (the
default, in memory or over files), the store's PostgreSQL, or Spark. Columns:

``lines`` (sale lines; bookkeeping adjustments are left out by the source)
    customer_id string, order_id string, placed_at timestamp (UTC, no zone), product string
    (nullable), quantity float64, amount float64 (net revenue of the line, after its discount),
    discount float64, cost float64 (cost of goods of the line; null when unknown)
``returns`` (returns and cancellations, positive amounts)
    customer_id string, returned_at timestamp, product string, quantity float64, amount float64
``customers`` (optional: every known customer, with or without purchases)
    customer_id string
``attitudes`` (optional: survey answers)
    customer_id string, answered_at timestamp, kind string (``nps`` 0..10 or ``csat`` 1..5),
    score float64
``cases`` (optional: complaints and service cases, for the cost to serve)
    customer_id string, opened_at timestamp

Lines and returns without a customer are anonymous sales: no customer analytics.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

LINES = pa.schema(
    [
        ("customer_id", pa.string()),
        ("order_id", pa.string()),
        ("placed_at", pa.timestamp("us")),
        ("product", pa.string()),
        ("quantity", pa.float64()),
        ("amount", pa.float64()),
        ("discount", pa.float64()),
        ("cost", pa.float64()),
    ]
)
RETURNS = pa.schema(
    [
        ("customer_id", pa.string()),
        ("returned_at", pa.timestamp("us")),
        ("product", pa.string()),
        ("quantity", pa.float64()),
        ("amount", pa.float64()),
    ]
)
CUSTOMERS = pa.schema([("customer_id", pa.string())])
ATTITUDES = pa.schema(
    [
        ("customer_id", pa.string()),
        ("answered_at", pa.timestamp("us")),
        ("kind", pa.string()),
        ("score", pa.float64()),
    ]
)
CASES = pa.schema([("customer_id", pa.string()), ("opened_at", pa.timestamp("us"))])
SCHEMAS = {
    "lines": LINES,
    "returns": RETURNS,
    "customers": CUSTOMERS,
    "attitudes": ATTITUDES,
    "cases": CASES,
}


@dataclass(frozen=True)
class Facts:
    lines: ir.Table
    returns: ir.Table
    customers: ir.Table | None = None
    attitudes: ir.Table | None = None
    cases: ir.Table | None = None

    def known(self) -> Facts:
        """Only rows with a customer: anonymous sales say nothing about anyone."""
        return replace(
            self,
            lines=self.lines.filter(self.lines.customer_id.notnull()),
            returns=self.returns.filter(self.returns.customer_id.notnull()),
        )


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns and types (missing optional columns null)."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table[field.name]
            if pa.types.is_timestamp(column.type) and column.type.tz is not None:
                column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
            columns.append(column.cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def facts_from_arrow(
    lines: pa.Table,
    returns: pa.Table | None = None,
    *,
    backend: Any = None,
    customers: pa.Table | None = None,
    attitudes: pa.Table | None = None,
    cases: pa.Table | None = None,
) -> Facts:
    """Facts over Arrow tables: in-memory DuckDB by default, else tables made on ``backend``.

    ``backend`` is an Ibis backend (``ibis.duckdb.connect()``, ``ibis.pyspark.connect(session)``,
    ``ibis.postgres.connect(...)``); the tables are created there for as long as its connection
    lasts (a registered view on DuckDB, a temporary table on PostgreSQL, a temporary view on
    Spark), so every expression runs on that engine. The timestamps are UTC without a zone: the
    session time zone must be UTC (PostgreSQL ``options="-c TimeZone=UTC"``, Spark
    ``spark.sql.session.timeZone=UTC``), or calendar days would shift.
    """

    def made(name: str, table: pa.Table) -> ir.Table:
        data = conform(table, SCHEMAS[name])
        if backend is None:
            return ibis.memtable(data)
        return _create(backend, f"patron_{name}", data)

    def optional(name: str, table: pa.Table | None) -> ir.Table | None:
        return None if table is None else made(name, table)

    return Facts(
        lines=made("lines", lines),
        returns=made("returns", returns if returns is not None else RETURNS.empty_table()),
        customers=optional("customers", customers),
        attitudes=optional("attitudes", attitudes),
        cases=optional("cases", cases),
    ).known()


def _create(backend: Any, name: str, data: pa.Table) -> ir.Table:
    """``data`` as a table of ``backend`` that lives as long as its connection (session).

    Each call makes a new name, so facts made earlier on the same backend stay as they were.
    The data goes in through each engine's own bulk path, not through Ibis' ``create_table``
    (which in Ibis 12 with sqlglot >= 30.18 emits a nameless ``DROP`` and fails).
    """
    name = f"{name}_{uuid.uuid4().hex[:12]}"
    if backend.name == "pyspark":
        # A temporary view of the Spark session over the Arrow data (PySpark 4 reads Arrow).
        session = backend._session
        frame = session.createDataFrame(data if _spark_reads_arrow() else data.to_pandas())
        frame.createOrReplaceTempView(name)
    elif backend.name == "postgres":
        # A temporary table of the connection, filled by COPY.
        columns = ", ".join(f'"{field.name}" {_postgres_type(field.type)}' for field in data.schema)
        connection = backend.con
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute(f'CREATE TEMPORARY TABLE "{name}" ({columns})')
            with cursor.copy(f'COPY "{name}" FROM STDIN') as copy:
                for row in zip(*(column.to_pylist() for column in data.columns), strict=True):
                    copy.write_row(row)
    elif backend.name == "duckdb":
        # A view over the Arrow data, held by the connection.
        backend.con.register(name, data)
    else:
        return backend.create_table(name, data, temp=True)
    return backend.table(name)


def _spark_reads_arrow() -> bool:
    import pyspark

    return int(pyspark.__version__.split(".")[0]) >= 4


def _postgres_type(kind: pa.DataType) -> str:
    if pa.types.is_string(kind):
        return "TEXT"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP"
    if pa.types.is_floating(kind):
        return "DOUBLE PRECISION"
    raise TypeError(f"no PostgreSQL type for the facts column type {kind}")
