"""Everything Patron holds about one person, as one machine-readable JSON document.

``tables`` has every row that refers to the person through foreign keys (``privacy.tables``
finds them, in tables it was never told about too); ``mentions`` the rows that name them
without one (a message to their address, their address on the suppression list, a webhook
payload with their number). Secrets (the hashes of sign-in tokens) are left out and listed
under ``withheld``. Dates and instants are ISO 8601, money a decimal string.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Iterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from patron.db import utcnow
from patron.privacy.search import Hit, Person, needles, person_of, scan
from patron.privacy.tables import (
    ROOT,
    Key,
    Reach,
    Schema,
    chunks,
    matching,
    owned_elsewhere,
    primary_key,
    reach,
    schema_of,
    secret_columns,
)

FORMAT = "patron-person-export"
VERSION = 1


def person_data(
    session: Session, customer_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """The export of customer ``customer_id`` (``customers.not_found`` if there is none).

    Reads only; the caller's session may be shared (the portal's, the staff page's).
    """
    person = person_of(session, customer_id)
    schema = schema_of(session)
    found = reach(session, schema, customer_id)
    withheld: dict[str, list[str]] = {}
    tables: dict[str, list[dict[str, Any]]] = {}
    for name in sorted(found.order):
        table = schema.tables[name]
        hidden = secret_columns(table)
        if hidden:
            withheld[name] = hidden
        tables[name] = list(rows_of(session, table, found.keys(name), omit=hidden))
    customer = tables.pop(ROOT)[0]
    mentions = _mentions(session, schema, found, person_hits(session, schema, person))
    for name in mentions:
        hidden = secret_columns(schema.tables[name])
        if hidden:
            withheld[name] = hidden
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": plain(now or utcnow()),
        "customer": customer,
        "tables": tables,
        "mentions": mentions,
        "withheld": withheld,
    }


def person_hits(session: Session, schema: Schema, person: Person) -> list[Hit]:
    """Rows naming the person by e-mail, phone, number or shop key (not by name: a namesake's
    rows are not theirs to read)."""
    return list(scan(session, schema, person, needles(person, names=False), documents=True))


def _mentions(
    session: Session, schema: Schema, found: Reach, hits: list[Hit]
) -> dict[str, list[dict[str, Any]]]:
    keys: dict[str, set[Key]] = {}
    for hit in hits:
        mine = found.keys(hit.table)
        if hit.key in mine or owned_elsewhere(schema, hit.table, hit.row, mine):
            continue
        keys.setdefault(hit.table, set()).add(hit.key)
    return {
        name: list(
            rows_of(
                session, schema.tables[name], keys[name], omit=secret_columns(schema.tables[name])
            )
        )
        for name in sorted(keys)
    }


def rows_of(
    session: Session, table: Table, keys: Collection[Key], *, omit: Collection[str] = ()
) -> Iterator[dict[str, Any]]:
    """The rows of ``table`` with these primary keys, in key order, as plain JSON values;
    read a chunk of keys at a time so a big history never becomes one huge statement."""
    columns = [column for column in table.columns if column.name not in omit]
    key = primary_key(table)
    for batch in chunks(sorted(keys, key=_sortable)):
        query = select(*columns).where(matching(key, batch)).order_by(*key)
        for row in session.execute(query).mappings():
            yield {name: plain(value) for name, value in row.items()}


def _sortable(key: Key) -> tuple[Any, ...]:
    return tuple((value is None, str(type(value)), value) for value in key)


def plain(value: Any) -> Any:
    """``value`` as JSON has it: ISO dates and instants, exact decimals as strings."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return str(value)
