"""Rows that name a person without a foreign key: their e-mail address, phone number or full
name in a text or JSON column of any table, or their number or shop key in a JSON document
(``{"customer_id": 12}``, ``{"customer": "C-1"}``, as outbox payloads carry them) or in a
column marked ``info={"customer_key": True}``.

The database narrows the search (``LIKE`` on the lower-cased column, one scan per table) and
Python decides: case-insensitively on whole words, inside decoded JSON. SQLite's ``lower``
only folds ASCII letters, so a needle's other letters become ``%`` in the pattern and Python
checks what it lets through.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Column, ColumnElement, Text, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from patron.customers.models import Customer
from patron.errors import NotFound
from patron.privacy.tables import Key, Schema, is_text, key_of, primary_key

ERASED = "[erased]"
# A name shorter than this, or of one word, would match ordinary words ("Max", "Rose"): it is
# not searched for. E-mail addresses always are, phone numbers from this many characters.
SHORTEST_NAME = 6
SHORTEST_PHONE = 6
# the JSON keys under which Patron's documents name a customer
NUMBER_KEY = "customer_id"
SHOP_KEY = "customer"


@dataclass(frozen=True)
class Person:
    """What identifies a customer: their number, and what names them in free text."""

    id: int
    external_id: str | None
    email: str | None
    name: str | None
    phone: str | None


def person_of(session: Session, customer_id: int) -> Person:
    row = session.get(Customer, customer_id) if 0 < customer_id < 2**63 else None
    if row is None:
        raise NotFound(
            f"no customer with number {customer_id}",
            code="customers.not_found",
            details={"customer_id": customer_id},
        )
    return Person(row.id, row.external_id, row.email, row.name, row.phone)


@dataclass(frozen=True)
class Needle:
    """One thing to look for: ``kind`` (email, phone, name), the regular expression that
    decides, and the ``LIKE`` pattern that narrows."""

    kind: str
    pattern: re.Pattern[str]
    like: str
    size: int  # a column shorter than this cannot hold it


def needles(person: Person, *, names: bool = True) -> list[Needle]:
    """The person's e-mail, phone and (with ``names``) full name, as far as they are usable."""
    found: list[Needle] = []
    email = (person.email or "").strip()
    if "@" in email:
        found.append(_needle("email", email, r"(?<![\w.+-])", r"(?![\w-])"))
    phone = (person.phone or "").strip()
    if len(phone) >= SHORTEST_PHONE:
        found.append(_needle("phone", phone, r"(?<!\d)", r"(?!\d)"))
    name = " ".join((person.name or "").split())
    if names and len(name) >= SHORTEST_NAME and " " in name:
        found.append(_needle("name", name, r"(?<!\w)", r"(?!\w)"))
    return found


def _needle(kind: str, value: str, before: str, after: str) -> Needle:
    pattern = re.compile(before + re.escape(value) + after, re.IGNORECASE)
    return Needle(kind, pattern, "%" + _like(value) + "%", len(value))


def _like(value: str) -> str:
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "".join(c if c.isascii() else "%" for c in escaped)


@dataclass
class Hit:
    """A row that names the person: which of its columns do, and by what."""

    table: str
    key: Key
    row: dict[str, Any]
    found: dict[str, set[str]] = field(default_factory=dict)


def scan(
    session: Session, schema: Schema, person: Person, found: list[Needle], *, documents: bool
) -> Iterator[Hit]:
    """Every row of every table in which a needle occurs (and, with ``documents``, every
    JSON document naming the person's number or shop key)."""
    for name in sorted(schema.tables):
        table = schema.tables[name]
        columns = [c for c in table.columns if is_text(c) and c not in primary_key(table)]
        wanted = {c.name: c for c in (*primary_key(table), *columns)}
        for link in schema.links_from(name):
            wanted |= {n: table.c[n] for n in link.columns}
        where: list[ColumnElement[bool]] = []
        for column in columns:
            term = _narrow(column, found, person, documents)
            if term is not None:
                where.append(term)
        if not where:
            continue
        query = select(*wanted.values()).where(or_(*where))
        for row in session.execute(query).mappings():
            hit = Hit(name, key_of(table, row), dict(row))
            for column in columns:
                kinds = _kinds(row[column.name], found, person, documents)
                if documents and _is_key_column(column) and row[column.name] == person.external_id:
                    kinds.add("document")
                if kinds:
                    hit.found[column.name] = kinds
            if hit.found:
                yield hit


def _narrow(
    column: Column[Any], found: list[Needle], person: Person, documents: bool
) -> ColumnElement[bool] | None:
    length = getattr(column.type, "length", None)
    document = isinstance(column.type, JSON)
    usable = [n for n in found if length is None or length >= n.size]
    text = func.lower(cast(column, Text))
    terms: list[ColumnElement[bool]] = [text.like(n.like, escape="\\") for n in usable]
    if documents and person.external_id and _is_key_column(column):
        terms.append(column == person.external_id)
    if documents and document:
        terms.append(and_(text.like(f'%"{NUMBER_KEY}"%'), text.like(f"%{person.id}%")))
        if person.external_id:
            shop = _like(json.dumps(person.external_id)[1:-1])
            terms.append(and_(text.like(f'%"{SHOP_KEY}"%'), text.like(f"%{shop}%")))
    return or_(*terms) if terms else None


def _is_key_column(column: Column[Any]) -> bool:
    """A column marked ``info={"customer_key": True}`` holds a customer's shop key as a whole."""
    return bool(column.info.get("customer_key"))


def _kinds(value: Any, found: list[Needle], person: Person, documents: bool) -> set[str]:
    kinds: set[str] = set()
    for text in _strings(value):
        kinds |= {n.kind for n in found if n.pattern.search(text)}
    if documents and isinstance(value, dict | list) and _names_person(value, person):
        kinds.add("document")
    return kinds


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _names_person(value: Any, person: Person) -> bool:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == NUMBER_KEY and _same_number(item, person.id):
                return True
            if key == SHOP_KEY and person.external_id and item == person.external_id:
                return True
            if _names_person(item, person):
                return True
    elif isinstance(value, list | tuple):
        return any(_names_person(item, person) for item in value)
    return False


def _same_number(value: Any, number: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value == number


def scrub(value: Any, found: list[Needle], person: Person) -> Any:
    """``value`` with every needle replaced by ``[erased]`` and the person's shop key under
    ``customer`` emptied (their number stays: it names an anonymised row now)."""
    if isinstance(value, str):
        for needle in found:
            value = needle.pattern.sub(ERASED, value)
        return value
    if isinstance(value, Mapping):
        return {
            scrub(key, found, person): None
            if key == SHOP_KEY and person.external_id and item == person.external_id
            else scrub(item, found, person)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item, found, person) for item in value]
    return value
