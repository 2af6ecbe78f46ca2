"""Helpers shared by the importer tests: write small files, run an import, count what is stored."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import aliased

from patron.customers.importer.layouts import Kind
from patron.customers.importer.service import ImportOptions, import_file
from patron.customers.importer.summary import ImportSummary
from patron.customers.models import Customer, Order, OrderLine, Product, Return

TABLES = ("customers", "products", "orders", "order_lines", "returns", "import_runs")
ORDER_HEADER = (
    "order_id",
    "placed_at",
    "customer_id",
    "sku",
    "product_name",
    "quantity",
    "unit_price",
)
UCI_HEADER = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)


def csv_text(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, delimiter: str = ","
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Path:
    path.write_bytes(csv_text(header, rows, delimiter=delimiter).encode(encoding))
    return path


def run_import(engine: Engine, path: Path, kind: str = "orders", **options: Any) -> ImportSummary:
    """Import ``path``; the error file goes next to it unless the test names one."""
    options.setdefault("errors_path", path.with_name(path.name + ".errors.csv"))
    return import_file(engine, path=path, options=ImportOptions(kind=Kind(kind), **options))


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            for table in TABLES
        }


def rows(engine: Engine, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(statement), params)]


def scalar(engine: Engine, statement: str, **params: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(statement), params).scalar()


def error_file(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def stored_lines(engine: Engine) -> list[tuple[Any, ...]]:
    """Every order line as (order, line_no, customer, sku, quantity, unit_price, amount, kind).

    Read through the models' column types, so money and quantities come back as ``Decimal`` on
    every backend (SQLite stores integer units).
    """
    statement = (
        select(
            Order.external_id,
            OrderLine.line_no,
            Customer.external_id,
            Product.sku,
            OrderLine.quantity,
            OrderLine.unit_price,
            OrderLine.amount,
            OrderLine.kind,
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .outerjoin(Customer, Customer.id == Order.customer_id)
        .outerjoin(Product, Product.id == OrderLine.product_id)
        .order_by(Order.external_id, OrderLine.line_no)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(statement)]


def stored_returns(engine: Engine) -> list[tuple[Any, ...]]:
    """Every return as (document, line_no, customer, sku, quantity, amount, kind, linked order)."""
    linked = aliased(Order)
    statement = (
        select(
            Return.document,
            Return.line_no,
            Customer.external_id,
            Product.sku,
            Return.quantity,
            Return.amount,
            Return.kind,
            linked.external_id,
        )
        .outerjoin(Customer, Customer.id == Return.customer_id)
        .outerjoin(Product, Product.id == Return.product_id)
        .outerjoin(OrderLine, OrderLine.id == Return.order_line_id)
        .outerjoin(linked, linked.id == OrderLine.order_id)
        .order_by(Return.document, Return.line_no)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(statement)]
