"""Real data, imported without options: UCI Online Retail (Chen, Sain & Guo 2012) and CDNOW
(Fader, Hardie & Lee 2005), on SQLite and PostgreSQL. Expected counts are from ../shared/data's
README and from the files themselves (read with pyarrow / plain Python, not with the importer).

Each big import runs once per backend inside one test: with ``pytest -n auto`` the tests of a
module are dealt out to different workers, so a module-scoped fixture shared by several tests
would repeat a 30-40 s import on each worker.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select

from customers.importer.support import counts, rows, run_import, scalar
from patron.customers.importer.summary import ImportSummary
from patron.customers.models import Order, OrderLine, Return

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

RETAIL = "online_retail/online_retail_2010_2011.parquet"
CDNOW = "cdnow/CDNOW_master.txt"
MONEY_UNIT = Decimal("0.0001")


def _money(statement: object, engine: Engine) -> Decimal:
    with engine.connect() as connection:
        return connection.execute(statement).scalar_one()  # type: ignore[call-overload]


# --- UCI Online Retail -----------------------------------------------------------------------


def _retail_expectations(path: Path) -> dict[str, object]:
    """What the file says, computed with pyarrow and Decimal only."""
    table = pq.read_table(path).to_pydict()
    invoices, quantities, prices = table["InvoiceNo"], table["Quantity"], table["UnitPrice"]
    sales: Counter[str] = Counter()
    line_amounts: dict[str, Decimal] = {}
    returned = Decimal(0)
    for invoice, quantity, price in zip(invoices, quantities, prices, strict=True):
        amount = (Decimal(quantity) * Decimal(repr(price))).quantize(MONEY_UNIT, ROUND_HALF_EVEN)
        if invoice.startswith("C"):
            returned += abs(amount)
        else:
            sales[invoice] += 1
            line_amounts[invoice] = line_amounts.get(invoice, Decimal(0)) + amount
    return {
        "rows": len(invoices),
        "skus": len(set(table["StockCode"])),
        "line_amounts": line_amounts,
        "lines": sum(sales.values()),
        "returned": returned,
        "biggest_invoice": max(sales, key=lambda invoice: sales[invoice]),
    }


def _check_retail_summary(summary: ImportSummary, expected: dict[str, object]) -> None:
    assert (summary.layout, summary.format, summary.stored) == (
        "uci-online-retail",
        "parquet",
        True,
    )
    assert (summary.rows_read, summary.rows_rejected) == (541_909, 0)
    assert summary.rows_read == expected["rows"]
    assert summary.counts["orders_created"] == 22_064  # sale invoices
    assert summary.counts["return_documents"] == 3_836
    assert summary.counts["returns_created"] == 9_288
    assert summary.counts["customers_created"] == 4_372
    assert summary.counts["products_created"] == expected["skus"]
    assert summary.counts["lines_created"] == expected["lines"] == 541_909 - 9_288
    assert summary.line_kinds["anonymous_lines"] == 135_080
    assert summary.line_kinds["stock_adjustment_lines"] == 1_336
    assert summary.line_kinds["nonpositive_price_lines"] == 2_517
    assert summary.line_kinds["duplicate_lines"] == 5_268
    assert summary.line_kinds["return_lines"] == 9_288
    assert summary.counts["returns_linked"] > 0


def _check_retail_store(engine: Engine, summary: ImportSummary) -> None:
    stored = counts(engine)
    assert stored["orders"] == 22_064
    assert stored["customers"] == 4_372
    assert stored["returns"] == 9_288
    assert stored["order_lines"] == 532_621
    assert scalar(engine, "SELECT COUNT(DISTINCT document) FROM returns") == 3_836
    assert scalar(engine, "SELECT COUNT(*) FROM returns WHERE kind <> 'cancellation'") == 0
    linked = scalar(engine, "SELECT COUNT(*) FROM returns WHERE order_line_id IS NOT NULL")
    assert linked == summary.counts["returns_linked"]
    mismatched = rows(
        engine,
        """SELECT r.id FROM returns r JOIN order_lines l ON l.id = r.order_line_id
           JOIN orders o ON o.id = l.order_id
           WHERE o.customer_id <> r.customer_id OR l.product_id <> r.product_id
              OR l.kind <> 'sale' OR o.placed_at > r.returned_at""",
    )
    assert mismatched == []
    anonymous = scalar(engine, "SELECT COUNT(*) FROM orders WHERE customer_id IS NULL")
    assert 0 < anonymous < 22_064
    assert scalar(engine, "SELECT COUNT(*) FROM order_lines WHERE kind = 'adjustment'") == 1_339
    assert scalar(engine, "SELECT COUNT(DISTINCT currency) FROM orders") == 1
    with engine.connect() as connection:
        first = connection.execute(
            select(Order.placed_at).where(Order.external_id == "536365")
        ).scalar_one()
    assert first == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)


def _check_retail_money(engine: Engine, expected: dict[str, object]) -> None:
    amounts = expected["line_amounts"]
    assert isinstance(amounts, dict)
    for invoice in ("536365", "536370", "A563185", "581587", expected["biggest_invoice"]):
        statement = (
            select(func.sum(OrderLine.amount))
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.external_id == invoice)
        )
        stored = _money(statement, engine)
        assert type(stored) is Decimal
        assert stored == amounts[invoice], invoice
    assert _money(select(func.sum(OrderLine.amount)), engine) == sum(amounts.values())
    assert _money(select(func.sum(Return.amount)), engine) == expected["returned"]


def test_online_retail_imports_without_options(
    engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    path = shared_data / RETAIL
    summary = run_import(engine, path, errors_path=tmp_path / "retail.errors.csv")
    expected = _retail_expectations(path)

    _check_retail_summary(summary, expected)
    _check_retail_store(engine, summary)
    _check_retail_money(engine, expected)


# --- CDNOW -----------------------------------------------------------------------------------


def test_cdnow_imports_without_options_and_re_imports_unchanged(
    engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    path = shared_data / CDNOW
    records = [line.split() for line in path.read_text().splitlines()[1:] if line.strip()]
    total = sum((Decimal(record[3]) for record in records), Decimal(0))
    duplicates = sum(n - 1 for n in Counter(map(tuple, records)).values())

    summary = run_import(engine, path, errors_path=tmp_path / "cdnow.errors.csv")

    assert (summary.layout, summary.delimiter, summary.rows_read) == ("cdnow", "whitespace", 69_659)
    assert summary.rows_rejected == 0
    assert summary.counts["customers_created"] == 23_570
    assert summary.counts["orders_created"] == summary.counts["lines_created"] == 69_659
    assert summary.line_kinds["duplicate_lines"] == duplicates == 255
    stored = counts(engine)
    assert (stored["customers"], stored["orders"], stored["order_lines"]) == (
        23_570,
        69_659,
        69_659,
    )
    assert _money(select(func.sum(OrderLine.amount)), engine) == total
    cds = _money(select(func.sum(OrderLine.quantity)), engine)
    assert cds == sum(int(record[2]) for record in records)
    assert scalar(engine, "SELECT COUNT(*) FROM orders WHERE currency <> 'USD'") == 0

    again = run_import(engine, path, errors_path=tmp_path / "cdnow.errors.csv")

    assert (again.stored, again.changed) == (True, False)
    changed = {
        name: value
        for name, value in again.counts.items()
        if name.endswith(("_created", "_updated", "_removed", "_linked")) and value
    }
    assert changed == {}
    assert again.counts["customers_unchanged"] == 23_570
    assert again.counts["orders_unchanged"] == again.counts["lines_unchanged"] == 69_659
    after = counts(engine)
    assert after.pop("import_runs") == stored.pop("import_runs") + 1
    assert after == stored
