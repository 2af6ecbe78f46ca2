"""Merge staged customer or product master data: insert new keys, update what the file changes.

Only the columns a file has are compared and written, and an empty cell never erases a stored
value. A key that appears twice in one file is an error (which row should win is not ours to guess).
"""

from __future__ import annotations

from dataclasses import dataclass

from patron.customers.importer.convert import RowError
from patron.customers.importer.layouts import FIELDS, FieldType, Kind
from patron.customers.importer.sql import Sql
from patron.customers.importer.staging import STAGE, StageColumn


@dataclass(frozen=True)
class Target:
    table: str
    key: str  # column in the table that holds the file's key
    field_key: str  # the key's field name in the file
    renames: dict[str, str]  # file field -> table column, where they differ
    defaults: dict[str, object]  # values for NOT NULL columns the file may lack


TARGETS = {
    Kind.customers: Target("customers", "external_id", "customer_id", {}, {"kind": "person"}),
    Kind.products: Target(
        "products", "sku", "sku", {}, {"active": True, "is_partner": False, "replenishable": False}
    ),
}
STAGE_KINDS = {
    FieldType.text: "text",
    FieldType.money: "units",
    FieldType.quantity: "units",
    FieldType.instant: "instant",
    FieldType.day: "day",
    FieldType.flag: "flag",
}


@dataclass
class MasterCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def stage_columns(kind: Kind, present: set[str]) -> list[StageColumn]:
    columns = [StageColumn("row_no", "int")]
    columns += [
        StageColumn(spec.name, STAGE_KINDS[spec.type])
        for spec in FIELDS[kind]
        if spec.name in present
    ]
    return columns


def prepare(sql: Sql) -> None:
    sql.run(f"CREATE UNIQUE INDEX ix_{STAGE}_row ON {STAGE} (row_no)")


def repeated_keys(sql: Sql, kind: Kind) -> list[RowError]:
    key = TARGETS[kind].field_key
    rows = sql.rows(
        f"""SELECT s.row_no, s.{key} AS key, f.first FROM {STAGE} s
            JOIN (SELECT {key}, MIN(row_no) AS first FROM {STAGE} GROUP BY {key}
                  HAVING COUNT(*) > 1) AS f ON f.{key} = s.{key}
            WHERE s.row_no > f.first ORDER BY s.row_no"""
    )
    return [
        RowError(row.row_no, key, row.key, f"{key} {row.key!r} already appears on line {row.first}")
        for row in rows
    ]


def merge(sql: Sql, kind: Kind, present: set[str]) -> MasterCounts:
    target = TARGETS[kind]
    specs = [
        spec for spec in FIELDS[kind] if spec.name in present and spec.name != target.field_key
    ]
    value = {
        spec.name: sql.money(f"s.{spec.name}") if spec.type is FieldType.money else f"s.{spec.name}"
        for spec in specs
    }
    column = {spec.name: target.renames.get(spec.name, spec.name) for spec in specs}
    counts = MasterCounts()
    total = int(sql.scalar(f"SELECT COUNT(*) FROM {STAGE}"))
    if specs:
        changed = " OR ".join(
            f"({value[n]} IS NOT NULL AND {sql.differs(f'{target.table}.{column[n]}', value[n])})"
            for n in value
        )
        sets = ", ".join(
            f"{column[n]} = COALESCE({value[n]}, {target.table}.{column[n]})" for n in value
        )
        counts.updated = sql.run(
            f"""UPDATE {target.table} SET {sets}, updated_at = :now FROM {STAGE} s
                WHERE {target.table}.{target.key} = s.{target.field_key} AND ({changed})""",
            now=sql.now,
        )
    insert_columns = [target.key, *column.values()]
    insert_values = [f"s.{target.field_key}", *value.values()]
    params: dict[str, object] = {"now": sql.now}
    for i, (name, default) in enumerate(target.defaults.items()):
        if name in column:
            position = insert_columns.index(column[name])
            insert_values[position] = f"COALESCE({insert_values[position]}, :d{i})"
        else:
            insert_columns.append(name)
            insert_values.append(f":d{i}")
        params[f"d{i}"] = default
    counts.created = sql.run(
        f"""INSERT INTO {target.table} ({", ".join(insert_columns)}, created_at, updated_at)
            SELECT {", ".join(insert_values)}, :now, :now FROM {STAGE} s
            WHERE NOT EXISTS (SELECT 1 FROM {target.table} t WHERE t.{target.key} = s.{target.field_key})""",
        **params,
    )
    counts.unchanged = total - counts.created - counts.updated
    return counts
