"""Erasing a person: their personal data goes, the books stay.

The ``customers`` row keeps its number, so orders, returns and points keep their customer
(revenue, counts and balances stay right) but every personal field is emptied and
``erased_at`` set. In every table that refers to the person (``privacy.tables`` walks the
foreign keys, so a new area's table is covered too) the columns its model marks
``info={"personal": True}`` are emptied, and rows holding a secret (sign-in links and
sessions, opt-in requests) or of a table marked ``info={"erasure": "delete"}`` (key-account
assignments) are deleted. The suppression list keeps a one-way hash of their
address instead of the address, so the address stays blocked if it is ever imported again.
Their subscriptions end.

A safety net follows: every text and JSON column of every table is searched for the
person's e-mail address, phone number and full name, and for JSON documents naming their
number or shop key; what is found is scrubbed. The summary counts what the net caught per
column (``safety_net``): anything there is a column that should be marked personal. Rows of
other customers (a namesake) and staff accounts are left alone and counted under
``left_elsewhere``.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    String,
    Table,
    UniqueConstraint,
    cast,
    delete,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from patron.customers.models import Customer
from patron.engage import audience
from patron.engage.models import Suppression
from patron.privacy.search import Hit, Needle, Person, needles, person_of, scan, scrub
from patron.privacy.tables import (
    ROOT,
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
from patron.subscriptions import service as subscriptions

# Staff accounts are not a customer's data, even when a member of staff shops under the same
# address: the net never scrubs them.
EXEMPT = frozenset({"users"})


def erase(session: Session, customer_id: int, *, now: datetime) -> dict[str, Any]:
    """Anonymise customer ``customer_id`` everywhere; the summary of what changed where.

    Flushes, never commits: the caller records the request's outcome in the same
    transaction. Erasing an erased customer again changes nothing new (and is harmless).
    """
    session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update())
    person = person_of(session, customer_id)
    schema = schema_of(session)
    found = reach(session, schema, customer_id)
    summary: dict[str, Any] = {
        "deleted": _delete_rows(session, schema, found),
        "anonymised": _clear_personal(session, schema, found),
        "suppressions": _hash_suppressions(session, person),
        "subscriptions": subscriptions.end_for_erasure(session, customer_id, now=now),
    }
    session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(erased_at=now, updated_at=now, account_manager_id=None)
    )
    session.flush()
    summary |= _safety_net(session, schema, found, person)
    session.flush()
    session.expire_all()
    return summary


def _delete_rows(session: Session, schema: Schema, found: Reach) -> dict[str, int]:
    """Delete the person's rows that hold a secret, and those of tables whose model says so
    (``__table_args__`` ``{"info": {"erasure": "delete"}}``); children before their parents."""
    deleted: dict[str, int] = {}
    for name in reversed(found.order):
        table = schema.tables[name]
        keys = found.keys(name)
        doomed = secret_columns(table) or table.info.get("erasure") == "delete"
        if name == ROOT or not keys or not doomed:
            continue
        if any(found.count(link.child) for link in schema.children(name)):
            continue  # something of theirs still refers to it: emptied below instead
        for batch in chunks(keys):
            session.execute(delete(table).where(matching(primary_key(table), batch)))
        deleted[name] = len(keys)
        found.rows.pop(name)
    return deleted


def _clear_personal(session: Session, schema: Schema, found: Reach) -> dict[str, int]:
    """Empty every column marked personal in the person's rows."""
    changed: dict[str, int] = {}
    for name in found.order:
        table = schema.tables[name]
        personal = [c for c in table.columns if c.info.get("personal")]
        keys = found.keys(name)
        if not personal or not keys:
            continue
        values = {column.name: _emptied(table, column) for column in personal}
        for batch in chunks(keys):
            where = matching(primary_key(table), batch)
            session.execute(update(table).where(where).values(values))
        changed[name] = len(keys)
    return changed


def _emptied(table: Table, column: Column[Any]) -> Any:
    """What an emptied column holds: NULL where allowed, else the model's ``erased`` value,
    else an empty string, numbered by the row where the column must stay unique."""
    if "erased" in column.info:
        return column.info["erased"]
    if column.nullable:
        return None
    if _unique(table, column):
        (key,) = primary_key(table)
        return literal("erased-").concat(cast(key, String))
    return ""


def _unique(table: Table, column: Column[Any]) -> bool:
    if column.unique:
        return True
    groups = [c.columns for c in table.constraints if isinstance(c, UniqueConstraint)]
    groups += [i.columns for i in table.indexes if i.unique]
    return any(column.name in {c.name for c in group} for group in groups)


def _hash_suppressions(session: Session, person: Person) -> int:
    """Replace the person's addresses on the suppression list by their hash (see
    ``engage.audience.erased_address``); a hash already listed makes the entry redundant."""
    addresses = []
    if person.email and person.email.strip():
        addresses.append(("email", person.email.strip().lower()))
    if person.phone and person.phone.strip():
        addresses.append(("sms", person.phone.strip()))
    changed = 0
    for channel, address in addresses:
        hashed = audience.erased_address(channel, address)
        for row in session.scalars(
            select(Suppression).where(
                Suppression.channel == channel, Suppression.address == address
            )
        ):
            twin = session.scalar(
                select(Suppression.id).where(
                    Suppression.channel == channel, Suppression.address == hashed
                )
            )
            if twin is None:
                row.address, row.note = hashed, None
            else:
                session.delete(row)
            changed += 1
    session.flush()
    return changed


def _safety_net(
    session: Session, schema: Schema, found: Reach, person: Person
) -> dict[str, dict[str, int]]:
    caught: Counter[str] = Counter()
    documents: Counter[str] = Counter()
    left: Counter[str] = Counter()
    wanted = needles(person)
    for hit in list(scan(session, schema, person, wanted, documents=True)):
        where = [f"{hit.table}.{column}" for column in sorted(hit.found)]
        if hit.table in EXEMPT or owned_elsewhere(
            schema, hit.table, hit.row, found.keys(hit.table)
        ):
            left.update(where)
            continue
        for column in _scrub_row(session, schema, hit, wanted, person):
            counter = documents if hit.found[column] == {"document"} else caught
            counter[f"{hit.table}.{column}"] += 1
    return {
        "mentions": dict(sorted(documents.items())),
        "safety_net": dict(sorted(caught.items())),
        "left_elsewhere": dict(sorted(left.items())),
    }


def _scrub_row(
    session: Session, schema: Schema, hit: Hit, wanted: list[Needle], person: Person
) -> list[str]:
    """Scrub one row's columns where they name the person; the columns that changed."""
    table = schema.tables[hit.table]
    values = {column: scrub(hit.row[column], wanted, person) for column in hit.found}
    for column in hit.found:
        if table.c[column].info.get("customer_key") and values[column] == person.external_id:
            values[column] = str(person.id)  # the anonymised row's number names nobody
    changed = {column: value for column, value in values.items() if value != hit.row[column]}
    if changed:
        where = matching(primary_key(table), [hit.key])
        session.execute(update(table).where(where).values(changed))
    return sorted(changed)
