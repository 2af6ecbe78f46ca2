"""Where a person's rows are: every table that refers to ``customers``, directly or through
other tables, found by walking the foreign keys of the schema as it is in the database.

Nothing here names a table. The walk starts at the person's ``customers`` row and follows
every foreign key pointing at a row it has reached (orders, then their lines, then the
returns of those lines; loyalty accounts, then their entries, lots, vouchers …), until no new
row turns up. The schema is the database's own: tables of ``patron.db.Base`` come with their
column types (money as ``Decimal``, instants as aware datetimes); a table the running code
has not imported (a newer area, a higher layer such as the portal's) is reflected, so it is
still walked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import JSON, Column, ColumnElement, MetaData, String, Table, inspect, select
from sqlalchemy import tuple_ as sql_tuple
from sqlalchemy.orm import Session

# Every area's tables that this layer may import; a higher layer's (portal, demo) are
# reflected from the database when their module is not loaded (see ``schema_of``).
import patron.access.models
import patron.analytics.snapshots
import patron.care.models
import patron.customers.models
import patron.engage.models
import patron.loyalty.models
import patron.outbox.models
import patron.privacy.models
import patron.recommend.models
import patron.subscriptions.models  # noqa: F401 - registers the tables on Base.metadata
from patron.db import Base

ROOT = "customers"
CHUNK = 1000  # keys per IN (…): far below every driver's parameter limit
# Columns holding a secret (a token's or password's hash, a signing key): never exported;
# a person's rows holding one (sign-in links and sessions, opt-in requests) are deleted on
# erasure. ``info={"secret": True}`` marks one whose name does not say so.
SECRET_NAMES = frozenset({"token_hash", "secret_hash", "password_hash", "csrf_token", "secret"})
# Bookkeeping of the schema itself, no one's data.
IGNORED = frozenset({"alembic_version"})

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Link:
    """A foreign key: ``child.columns`` refer to ``parent.referred``."""

    child: str
    columns: tuple[str, ...]
    parent: str
    referred: tuple[str, ...]


@dataclass(frozen=True)
class Schema:
    """The database's tables (typed where Patron's models know them) and their foreign keys."""

    tables: Mapping[str, Table]
    links: tuple[Link, ...]
    reflected: frozenset[str] = frozenset()

    def children(self, parent: str) -> list[Link]:
        return [link for link in self.links if link.parent == parent]

    def links_from(self, child: str) -> list[Link]:
        return [link for link in self.links if link.child == child]

    @cached_property
    def person_side(self) -> frozenset[str]:
        """The tables a customer's rows can reach: ``customers`` and everything below it."""
        seen = {ROOT}
        todo = [ROOT]
        while todo:
            for link in self.children(todo.pop()):
                if link.child not in seen:
                    seen.add(link.child)
                    todo.append(link.child)
        return frozenset(seen)


def schema_of(session: Session) -> Schema:
    """The tables of the connected database, with every foreign key between them."""
    connection = session.connection()
    names = set(inspect(connection).get_table_names()) - IGNORED
    tables: dict[str, Table] = {
        name: table for name, table in Base.metadata.tables.items() if name in names
    }
    missing = sorted(names - tables.keys())
    if missing:
        found = MetaData()
        found.reflect(bind=connection, only=missing)
        tables |= {name: found.tables[name] for name in missing}
    links = tuple(
        Link(
            child=table.name,
            columns=tuple(element.parent.name for element in constraint.elements),
            parent=constraint.referred_table.name,
            referred=tuple(element.column.name for element in constraint.elements),
        )
        for table in tables.values()
        for constraint in sorted(table.foreign_key_constraints, key=lambda c: str(c.name))
        if constraint.referred_table.name in tables
    )
    return Schema(tables, links, frozenset(missing))


def primary_key(table: Table) -> tuple[Column[Any], ...]:
    """The columns that tell a table's rows apart (all of them where it has no primary key)."""
    columns = tuple(table.primary_key.columns)
    return columns or tuple(table.columns)


def key_of(table: Table, row: Mapping[Any, Any]) -> Key:
    return tuple(row[column.name] for column in primary_key(table))


def is_secret(column: Column[Any]) -> bool:
    return bool(column.info.get("secret")) or column.name in SECRET_NAMES


def secret_columns(table: Table) -> list[str]:
    return [column.name for column in table.columns if is_secret(column)]


def is_text(column: Column[Any]) -> bool:
    """Whether a column can hold words: strings, text and JSON documents."""
    return isinstance(column.type, String | JSON)


def matching(columns: Sequence[Column[Any]], keys: Iterable[Key]) -> ColumnElement[bool]:
    """``columns`` equal one of ``keys`` (one column: ``IN``; several: a row-value ``IN``)."""
    values = list(keys)
    if len(columns) == 1:
        return columns[0].in_([value[0] for value in values])
    return sql_tuple(*columns).in_(values)


def chunks(keys: Iterable[Key], size: int = CHUNK) -> Iterator[list[Key]]:
    batch: list[Key] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class Reach:
    """The rows that belong to one person, per table, by primary key; ``order`` is the order
    tables were reached in (parents before their children)."""

    rows: dict[str, dict[Key, dict[str, Any]]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def keys(self, table: str) -> set[Key]:
        return set(self.rows.get(table, {}))

    def count(self, table: str) -> int:
        return len(self.rows.get(table, {}))

    def _add(self, table: str, found: dict[Key, dict[str, Any]]) -> dict[Key, dict[str, Any]]:
        known = self.rows.setdefault(table, {})
        new = {key: row for key, row in found.items() if key not in known}
        if new and table not in self.order:
            self.order.append(table)
        known.update(new)
        return new


def reach(session: Session, schema: Schema, customer_id: int) -> Reach:
    """Every row that refers to the customer, directly or through rows that do.

    Breadth first, a table's newly reached rows at a time, so a table reached by two paths
    (loyalty entries through their account and through their request) is read only for the
    rows the second path adds.
    """
    found = Reach()
    root = schema.tables[ROOT]
    start = _read(session, schema, root, [(customer_id,)], primary_key(root))
    frontier = [(ROOT, found._add(ROOT, start))]
    while frontier:
        parent, rows = frontier.pop(0)
        for link in schema.children(parent):
            keys = {tuple(row[c] for c in link.referred) for row in rows.values()}
            keys = {key for key in keys if None not in key}
            child = schema.tables[link.child]
            columns = tuple(child.c[name] for name in link.columns)
            new = found._add(link.child, _read(session, schema, child, keys, columns))
            if new:
                frontier.append((link.child, new))
    return found


def _needed(schema: Schema, table: Table) -> list[Column[Any]]:
    """The columns a walk keeps of a row: its key, what children refer to, its own links."""
    names = {column.name for column in primary_key(table)}
    names |= {name for link in schema.children(table.name) for name in link.referred}
    names |= {name for link in schema.links_from(table.name) for name in link.columns}
    return [column for column in table.columns if column.name in names]


def _read(
    session: Session,
    schema: Schema,
    table: Table,
    keys: Iterable[Key],
    columns: Sequence[Column[Any]],
) -> dict[Key, dict[str, Any]]:
    wanted = _needed(schema, table)
    found: dict[Key, dict[str, Any]] = {}
    for batch in chunks(sorted(keys, key=repr)):
        for row in session.execute(select(*wanted).where(matching(columns, batch))).mappings():
            found[key_of(table, row)] = dict(row)
    return found


def owned_elsewhere(schema: Schema, table: str, row: Mapping[str, Any], mine: set[Key]) -> bool:
    """Whether a row of a table on the person's side of the schema belongs to someone else:
    it is not one of theirs, yet it refers to a row there (so, in the end, to another customer).
    Rows that refer to nobody (an anonymous order, a message whose customer was deleted) are
    no one else's."""
    if key_of(schema.tables[table], row) in mine:
        return False
    if table == ROOT:
        return True
    return any(
        all(row.get(name) is not None for name in link.columns)
        for link in schema.links_from(table)
        if link.parent in schema.person_side
    )
