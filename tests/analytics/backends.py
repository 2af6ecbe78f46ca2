"""The engines the analyses must agree on: a local Spark session, a fresh PostgreSQL database,
and the comparison of two result tables (sorted by key; floats to a relative tolerance).

The fixtures over these live in ``tests/analytics/conftest.py``.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

SPARK_CONFIG = {
    "spark.sql.session.timeZone": "UTC",  # the facts' timestamps are UTC without a zone
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",  # the default 200 is for clusters, slow on small data
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",  # results to pandas via Arrow: fast
}


def spark_missing() -> str | None:
    """Why a local Spark session cannot start here, or None when it can."""
    if importlib.util.find_spec("pyspark") is None:
        return 'pyspark is not installed (pip install -e ".[spark]")'
    java = shutil.which("java")
    if java is None:
        return "Java is not installed (Spark needs a JRE 17, e.g. openjdk-17-jre-headless)"
    try:
        subprocess.run([java, "-version"], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"java -version failed: {exc}"
    return None


def start_spark() -> Any:
    """A local Spark session on two cores (one per test run: it takes seconds to start)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("patron-tests")
    for key, value in SPARK_CONFIG.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


@contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url`` (its URL), dropped afterwards."""
    from sqlalchemy import text

    from patron.db import make_engine

    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"patron_ibis_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def differences(
    expected: pa.Table,
    actual: pa.Table,
    keys: Sequence[str],
    *,
    rel: float = 1e-9,
    abs_: float = 1e-9,
    limit: int = 10,
) -> list[str]:
    """What differs between two result tables, row by row after sorting both by ``keys``:
    the same columns and Arrow types, the same rows; ints, strings, dates and booleans exactly,
    floats to ``rel`` (or ``abs_`` near zero), nulls in the same places. Empty when they agree."""
    if expected.schema != actual.schema:
        return [f"schemas differ:\n{expected.schema}\n---\n{actual.schema}"]
    if expected.num_rows != actual.num_rows:
        return [f"{expected.num_rows} rows expected, {actual.num_rows} found"]
    order = [(key, "ascending") for key in keys]
    left = expected.sort_by(order).to_pylist()
    right = actual.sort_by(order).to_pylist()
    found: list[str] = []
    for index, (a, b) in enumerate(zip(left, right, strict=True)):
        for name in expected.column_names:
            if not _same(a[name], b[name], rel, abs_):
                where = ", ".join(f"{key}={a[key]!r}" for key in keys)
                found.append(f"row {index} ({where}): {name} {a[name]!r} != {b[name]!r}")
                if len(found) >= limit:
                    return found
    return found


def _same(a: Any, b: Any, rel: float, abs_: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
    return bool(type(a) is type(b) and a == b)
