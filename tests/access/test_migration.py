"""Revision 0002 on a store that already holds data: SQLite rebuilds ``customers`` safely."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from patron import schema
from patron.db import make_engine


def test_upgrading_a_filled_sqlite_store_keeps_every_row_and_index(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    schema.upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO customers (id, kind, name, created_at, updated_at) "
            "VALUES (1, 'person', 'Anna', '2024-01-01', '2024-01-01')"
        ))  # fmt: skip
        connection.execute(text(
            "INSERT INTO orders (id, external_id, customer_id, placed_at, currency, status) "
            "VALUES (1, 'O-1', 1, '2024-01-01', 'EUR', 'completed')"
        ))  # fmt: skip
        connection.execute(text(
            "INSERT INTO interactions (id, customer_id, kind, occurred_at) "
            "VALUES (1, 1, 'visit', '2024-01-01')"
        ))  # fmt: skip
    for target in ("head", "0001", "head"):  # up, down and up again
        if target == "0001":
            command.downgrade(schema.alembic_config(engine), target)
        else:
            schema.upgrade(engine, target)
        with engine.connect() as connection:
            # Dropping the old customers table must not cascade into its children.
            assert connection.execute(text("SELECT customer_id FROM orders")).scalar() == 1
            assert connection.execute(text("SELECT count(*) FROM interactions")).scalar() == 1
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            search = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name LIKE 'ix_customers_%_search'"
            ).scalars().all()  # fmt: skip
            check = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'customers'"
            ).scalar()
        assert len(search) == 3
        assert all("COLLATE NOCASE" in sql for sql in search)
        assert "ck_customers_kind" in check
    engine.dispose()
