"""The engines besides DuckDB: a local Spark session and a fresh PostgreSQL database, each
started once per test run (per xdist worker; the Spark tests share one xdist group, so one
worker starts Spark). Outside CI a missing engine skips; in CI it fails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ibis
import pytest
from sqlalchemy import text

from analytics.backends import fresh_postgres_database, spark_missing, start_spark
from conftest import POSTGRES_ADMIN_URL, unavailable
from patron.analytics.sources import ibis_postgres
from patron.db import make_engine


@pytest.fixture(scope="session")
def spark_backend() -> Iterator[Any]:
    """Ibis over a local Spark session (local[2], time zone UTC, no UI)."""
    reason = spark_missing()
    if reason is not None:
        unavailable(reason)
    session = start_spark()
    yield ibis.pyspark.connect(session)
    session.stop()


@pytest.fixture(scope="session")
def postgres_backend() -> Iterator[Any]:
    """Ibis over a database of its own on the PostgreSQL server (session time zone UTC)."""
    try:
        admin = make_engine(POSTGRES_ADMIN_URL)
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
        admin.dispose()
    except Exception as exc:  # pragma: no cover - depends on the machine
        unavailable(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    with fresh_postgres_database(POSTGRES_ADMIN_URL) as url:
        engine = make_engine(url)
        con = ibis_postgres(engine)
        engine.dispose()
        yield con
        con.disconnect()
