"""Migrations build the schema from empty on SQLite and PostgreSQL; an old schema is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from patron import schema
from patron.db import Base, make_engine
from patron.errors import SchemaOutdated


def test_a_migrated_store_has_every_table_of_the_models(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert schema.current_revision(engine) == schema.head_revision()
    schema.ensure_current(engine)  # does not raise


def test_sqlite_runs_with_wal_and_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_an_empty_database_is_refused_with_the_command_that_fixes_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutdated, match="patron db upgrade"):
        schema.ensure_current(engine)


def test_downgrade_to_empty_and_upgrade_again(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cycle.db'}")
    schema.upgrade(engine)
    from alembic import command

    command.downgrade(schema.alembic_config(engine), "base")
    assert schema.current_revision(engine) is None
    assert "customers" not in inspect(engine).get_table_names()
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()


def test_migrations_from_empty_on_postgresql(postgres_url: str) -> None:
    """A second, brand-new PostgreSQL database migrated from nothing (not the shared fixture's)."""
    admin = make_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = postgres_url.rsplit("/", 1)[1] + "_fresh"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(postgres_url.rsplit("/", 1)[0] + f"/{name}")
        with pytest.raises(SchemaOutdated):
            schema.ensure_current(engine)
        schema.upgrade(engine)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_models_and_the_migrations_agree(sqlite_engine: Engine) -> None:
    """Autogenerate finds nothing to do: every model change came with its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with sqlite_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    # The case-insensitive search indexes are expression indexes that only the migration knows.
    differences = [d for d in differences if not _is_search_index(d)]
    assert differences == []


def _is_search_index(difference: object) -> bool:
    return (
        isinstance(difference, tuple)
        and difference[0] == "remove_index"
        and str(difference[1].name).endswith("_search")
    )
