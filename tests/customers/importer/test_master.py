"""Customer and product master data imports, on SQLite and PostgreSQL: created, updated,
unchanged; an empty cell never erases a stored value; a key twice in one file is an error."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from customers.importer.support import counts, run_import, write_csv
from patron.customers.models import Customer, Product
from patron.errors import ImportFailed

CUSTOMER_HEADER = ("customer_id", "name", "email", "city", "birthday", "kind")


def _customers(engine: Engine) -> list[tuple[object, ...]]:
    statement = select(
        Customer.external_id,
        Customer.name,
        Customer.email,
        Customer.city,
        Customer.birthday,
        Customer.kind,
    ).order_by(Customer.external_id)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(statement)]


def _products(engine: Engine) -> list[tuple[object, ...]]:
    statement = select(
        Product.sku,
        Product.name,
        Product.price,
        Product.active,
        Product.is_partner,
        Product.replenishable,
    ).order_by(Product.sku)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(statement)]


def test_customers_are_created_then_unchanged(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        CUSTOMER_HEADER,
        [
            ("K-1", "Anna Berg", "anna@example.org", "Bergen", "1980-02-29", "person"),
            ("K-2", "Bjørn AS", "", "Oslo", "", "Organisation"),
        ],
    )
    first = run_import(engine, path, "customers")
    second = run_import(engine, path, "customers")

    assert first.counts == {
        "customers_created": 2,
        "customers_updated": 0,
        "customers_unchanged": 0,
    }
    assert second.counts == {
        "customers_created": 0,
        "customers_updated": 0,
        "customers_unchanged": 2,
    }
    assert (first.changed, second.changed) == (True, False)
    assert _customers(engine) == [
        ("K-1", "Anna Berg", "anna@example.org", "Bergen", date(1980, 2, 29), "person"),
        ("K-2", "Bjørn AS", None, "Oslo", None, "organisation"),
    ]


def test_an_empty_cell_never_erases_a_stored_value(engine: Engine, tmp_path: Path) -> None:
    run_import(
        engine,
        write_csv(
            tmp_path / "c1.csv",
            CUSTOMER_HEADER,
            [
                ("K-1", "Anna Berg", "anna@example.org", "Bergen", "1980-02-29", "person"),
                ("K-2", "Bo", "", "Oslo", "", ""),
            ],
        ),
        "customers",
    )
    update = write_csv(
        tmp_path / "c2.csv",
        CUSTOMER_HEADER,
        [
            ("K-1", "", "", "", "", ""),
            ("K-2", "Bo", "bo@example.org", "", "", ""),
            ("K-3", "Cy", "", "", "1990-01-01", ""),
        ],
    )

    summary = run_import(engine, update, "customers")

    assert summary.counts == {
        "customers_created": 1,
        "customers_updated": 1,
        "customers_unchanged": 1,
    }
    assert _customers(engine) == [
        ("K-1", "Anna Berg", "anna@example.org", "Bergen", date(1980, 2, 29), "person"),
        ("K-2", "Bo", "bo@example.org", "Oslo", None, "person"),
        ("K-3", "Cy", None, None, date(1990, 1, 1), "person"),
    ]


def test_a_file_with_fewer_columns_leaves_the_others_alone(engine: Engine, tmp_path: Path) -> None:
    run_import(
        engine,
        write_csv(
            tmp_path / "c1.csv",
            CUSTOMER_HEADER,
            [("K-1", "Anna", "anna@example.org", "Bergen", "1980-02-29", "person")],
        ),
        "customers",
    )
    summary = run_import(
        engine, write_csv(tmp_path / "c2.csv", ("id", "city"), [("K-1", "Tromsø")]), "customers"
    )
    assert summary.counts["customers_updated"] == 1
    assert _customers(engine) == [
        ("K-1", "Anna", "anna@example.org", "Tromsø", date(1980, 2, 29), "person")
    ]


def test_a_customer_key_twice_is_an_error_naming_both_lines(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        ("customer_id", "name"),
        [("K-1", "Anna"), ("K-2", "Bo"), ("K-1", "Anne")],
    )
    with pytest.raises(ImportFailed) as failure:
        run_import(engine, path, "customers")
    (error,) = failure.value.details["errors"]
    assert (error["line"], error["column"], error["value"]) == (4, "customer_id", "K-1")
    assert "line 2" in error["reason"]
    assert counts(engine)["customers"] == 0

    summary = run_import(engine, path, "customers", skip_invalid=True)
    assert summary.counts["customers_created"] == 2
    assert [row[1] for row in _customers(engine)] == ["Anna", "Bo"]


def test_bad_customer_values_are_reported_per_cell(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        CUSTOMER_HEADER,
        [
            ("K-1", "Anna", "a@example.org", "Bergen", "1980-02-30", "person"),
            ("", "Nobody", "", "", "", ""),
            ("K-3", "Cy", "", "", "", "robot"),
        ],
    )
    with pytest.raises(ImportFailed) as failure:
        run_import(engine, path, "customers")
    found = [(e["line"], e["column"]) for e in failure.value.details["errors"]]
    assert found == [(2, "birthday"), (3, "customer_id"), (4, "kind")]
    assert counts(engine)["customers"] == 0


PRODUCT_HEADER = ("sku", "name", "price", "active", "partner")


def test_products_are_created_updated_and_unchanged(engine: Engine, tmp_path: Path) -> None:
    first = run_import(
        engine,
        write_csv(
            tmp_path / "p1.csv",
            PRODUCT_HEADER,
            [("A", "Apple", "0.10", "yes", "no"), ("B", "Bread", "2.50", "", "")],
        ),
        "products",
    )
    again = run_import(engine, tmp_path / "p1.csv", "products")
    update = run_import(
        engine,
        write_csv(
            tmp_path / "p2.csv",
            PRODUCT_HEADER,
            [("A", "", "0.1", "", ""), ("B", "Brot", "", "nein", "1"), ("C", "", "", "", "")],
        ),
        "products",
    )

    assert first.counts == {"products_created": 2, "products_updated": 0, "products_unchanged": 0}
    assert again.counts == {"products_created": 0, "products_updated": 0, "products_unchanged": 2}
    assert update.counts == {"products_created": 1, "products_updated": 1, "products_unchanged": 1}
    assert _products(engine) == [
        ("A", "Apple", Decimal("0.1"), True, False, False),
        ("B", "Brot", Decimal("2.5"), False, True, False),
        ("C", None, None, True, False, False),
    ]
    assert all(type(row[2]) is Decimal for row in _products(engine)[:2])


def test_product_aliases_and_bad_values(engine: Engine, tmp_path: Path) -> None:
    header = ("stock_code", "description", "price", "active")
    path = write_csv(
        tmp_path / "p.csv", header, [("A", "Apple", "zz", "maybe"), ("B", "Bread", "1", "x")]
    )
    with pytest.raises(ImportFailed) as failure:
        run_import(engine, path, "products")
    found = [(e["line"], e["column"], e["value"]) for e in failure.value.details["errors"]]
    assert found == [(2, "price", "zz"), (2, "active", "maybe")]
    assert failure.value.details["rows_rejected"] == 1

    summary = run_import(engine, path, "products", skip_invalid=True)
    assert summary.counts["products_created"] == 1
    assert _products(engine) == [("B", "Bread", Decimal(1), True, False, False)]


def test_a_product_key_twice_is_an_error(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", ("sku", "name"), [("A", "Apple"), ("A", "Apfel")])
    with pytest.raises(ImportFailed) as failure:
        run_import(engine, path, "products")
    assert "line 2" in failure.value.details["errors"][0]["reason"]
    assert failure.value.details["errors"][0]["line"] == 3
