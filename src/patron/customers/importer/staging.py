"""The staging table: validated rows land here first, then set-based SQL merges them.

Staging keeps memory flat for any file size and lets one transaction decide all-or-nothing.
Rows are written through the driver's fastest path: ``executemany`` on SQLite, ``COPY`` on
PostgreSQL. Money and quantities travel as integer units; SQL converts them on the way out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

STAGE = "import_rows"


@dataclass(frozen=True)
class StageColumn:
    name: str
    kind: str  # text | units | instant | day | flag | int


def create_stage(connection: Connection, columns: Sequence[StageColumn]) -> None:
    postgres = connection.dialect.name == "postgresql"
    types = {
        "text": "TEXT",
        "units": "BIGINT",
        "int": "BIGINT",
        "instant": "TIMESTAMP WITH TIME ZONE" if postgres else "TEXT",
        "day": "DATE" if postgres else "TEXT",
        "flag": "BOOLEAN",
    }
    body = ", ".join(f"{column.name} {types[column.kind]}" for column in columns)
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE}")
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {STAGE} ({body})")


def _values(array: pa.Array | None, kind: str, n: int) -> list[Any]:
    """SQLite: Python values in the storage format SQLAlchemy reads back (text instants and days)."""
    if array is None:
        return [None] * n
    if kind == "instant":
        text = pc.strftime(array.cast(pa.timestamp("us", "UTC")), format="%Y-%m-%d %H:%M:%S")
        return text.to_pylist()
    if kind == "day":
        return pc.strftime(array, format="%Y-%m-%d").to_pylist()
    return array.to_pylist()


def stage_rows(
    connection: Connection,
    columns: Sequence[StageColumn],
    data: dict[str, pa.Array | None],
    n: int,
) -> None:
    """Append ``n`` rows; ``data`` maps stage column names to Arrow arrays (None: all empty)."""
    if n == 0:
        return
    columns = [column for column in columns if data.get(column.name) is not None]
    postgres = connection.dialect.name == "postgresql"
    driver = connection.connection.driver_connection
    names = ", ".join(column.name for column in columns)
    if postgres:
        _copy_csv(driver, names, columns, data)
        return
    lists = [_values(data.get(column.name), column.kind, n) for column in columns]
    rows = list(zip(*lists, strict=True))
    marks = ", ".join("?" for _ in columns)
    cursor = driver.cursor()  # type: ignore[union-attr]
    cursor.executemany(f"INSERT INTO {STAGE} ({names}) VALUES ({marks})", rows)
    cursor.close()


def _copy_csv(
    driver: Any, names: str, columns: Sequence[StageColumn], data: dict[str, Any]
) -> None:
    """PostgreSQL: one ``COPY … CSV`` of the whole batch, written by Arrow's C CSV writer."""
    import pyarrow.csv as pcsv

    table = pa.table({column.name: data[column.name] for column in columns})
    buffer = pa.BufferOutputStream()
    pcsv.write_csv(table, buffer, pcsv.WriteOptions(include_header=False, quoting_style="needed"))
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {STAGE} ({names}) FROM STDIN WITH (FORMAT csv)") as copy,
    ):
        copy.write(buffer.getvalue().to_pybytes())
