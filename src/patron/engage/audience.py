"""Segments on the store: the fields a segment may name, and who is in one right now.

A segment is evaluated when it is used (dynamic), over one row per customer: the customer's
own attributes, the scores of the newest analytics snapshot (ABC class, P(alive), CLV, phase…)
and the current consent per channel for marketing (``consent.email`` …). The global control
group is not a field: campaigns leave it out when they send (``holdout.in_control_group``),
whatever the segment says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    any_,
    bindparam,
    cast,
    false,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from patron.analytics.columns import SCORES
from patron.analytics.snapshots import CustomerScore, latest_snapshot
from patron.customers.models import CONSENT_CHANNELS, Consent, Customer
from patron.engage.models import Suppression
from patron.engage.segment_sql import where
from patron.engage.segments import Field, Segment, Type, parse

SAMPLE = 10
CUSTOMER_FIELDS = (
    Field("id", Type.number, "Patron's customer number"),
    Field("external_id", Type.text, "the shop's customer id"),
    Field("kind", Type.text, "person or organisation"),
    Field("name", Type.text, "name"),
    Field("email", Type.text, "e-mail address"),
    Field("language", Type.text, "language code: de, en, nb …"),
    Field("country", Type.text, "country"),
    Field("city", Type.text, "city"),
    Field("birthday", Type.date, "date of birth"),
    Field("acquisition_channel", Type.text, "how the customer came"),
    Field("created_at", Type.date, "when the customer was recorded"),
)
NEXT_BEST_ACTION = "next_best_action"
SCORE_TYPES = {"string": Type.text, "int64": Type.number, "float64": Type.number, "date": Type.date}


def catalogue() -> dict[str, Field]:
    """Every field a segment may name, with its type and meaning."""
    fields = list(CUSTOMER_FIELDS)
    fields += [
        Field(column.name, SCORE_TYPES[column.type], column.meaning)
        for column in SCORES
        if column.name != "customer_id"
    ]
    fields.append(Field("unprofitable", Type.boolean, "profit below zero"))
    fields.append(Field(NEXT_BEST_ACTION, Type.text, "the next best action (engage.actions)"))
    fields += [
        Field(f"consent.{channel}", Type.boolean, f"agreed to marketing by {channel}")
        for channel in CONSENT_CHANNELS
    ]
    return {field.name: field for field in fields}


@dataclass(frozen=True)
class Preview:
    count: int
    sample: list[dict[str, Any]]  # id, external_id, name, email of the first customers
    snapshot_id: int | None  # the scores it read; None before the first analysis


def compile_segment(text: str) -> Segment:
    """Parse and check a segment (``SegmentError`` points at the column when it is wrong)."""
    return parse(text, catalogue())


def members(session: Session, segment: Segment) -> Select[tuple[int]]:
    """A query of the ids of the customers in ``segment`` right now."""
    columns, query = _base(session, segment)
    return query.where(where(segment, columns)).order_by(Customer.id)


def preview(session: Session, *, text: str, sample: int = SAMPLE) -> Preview:
    """How many customers a segment holds now, and the first few of them."""
    segment = compile_segment(text)
    ids = members(session, segment).subquery()
    count = session.scalar(select(func.count()).select_from(ids)) or 0
    rows = session.execute(
        select(Customer.id, Customer.external_id, Customer.name, Customer.email)
        .join(ids, ids.c.id == Customer.id)
        .order_by(Customer.id)
        .limit(sample)
    ).all()
    snapshot = latest_snapshot(session)
    return Preview(
        count=int(count),
        sample=[dict(row._mapping) for row in rows],
        snapshot_id=None if snapshot is None else snapshot.id,
    )


def _base(
    session: Session, segment: Segment
) -> tuple[Mapping[str, ColumnElement[Any]], Select[Any]]:
    """The one-row-per-customer query a segment filters, joining only what it reads."""
    query = select(Customer.id)
    columns: dict[str, ColumnElement[Any]] = {
        field.name: getattr(Customer, field.name) for field in CUSTOMER_FIELDS
    }
    score_names = {column.name for column in SCORES} | {"unprofitable"}
    if segment.fields & (score_names | {NEXT_BEST_ACTION}):
        snapshot = latest_snapshot(session)
        snapshot_id = -1 if snapshot is None else snapshot.id  # no snapshot: every score missing
        query = query.outerjoin(
            CustomerScore,
            (CustomerScore.customer_id == Customer.id) & (CustomerScore.snapshot_id == snapshot_id),
        )
        columns |= {
            name: getattr(CustomerScore, name)
            for name in score_names
            if hasattr(CustomerScore, name) and name != "customer_id"
        }
    for channel in CONSENT_CHANNELS:
        columns[f"consent.{channel}"] = _consent(channel)
    if NEXT_BEST_ACTION in segment.fields:
        from patron.engage import actions  # its rules are segments over these very columns

        columns[NEXT_BEST_ACTION] = actions.column(columns)
    return columns, query


def _consent(channel: str) -> ColumnElement[Any]:
    """The latest marketing consent event on ``channel`` (False when there is none)."""
    latest = (
        select(Consent.granted)
        .where(
            Consent.customer_id == Customer.id,
            Consent.channel == channel,
            Consent.purpose == "marketing",
        )
        .order_by(Consent.recorded_at.desc(), Consent.id.desc())
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )
    return func.coalesce(latest, false())


# --- who can be reached ----------------------------------------------------------------------

# Reasons that stop every message on a channel; an unsubscribe stops marketing only.
BLOCKING = ("hard_bounce", "complaint", "manual")
# An erased person's suppressed address is kept only as this prefix and its SHA-256.
ERASED_PREFIX = "sha256:"


def erased_address(channel: str, address: str) -> str:
    """How the suppression list keeps an erased person's ``address`` (as ``address(channel)``
    writes it): a one-way hash, which still blocks the address if it is ever imported again."""
    return ERASED_PREFIX + hashlib.sha256(f"{channel}:{address}".encode()).hexdigest()


def address(channel: str) -> ColumnElement[Any]:
    """A customer's address on a channel: e-mail, phone number, or (push) their shop id."""
    if channel == "email":
        return func.lower(func.trim(Customer.email))
    if channel == "sms":
        return func.trim(Customer.phone)
    if channel == "push":
        return func.coalesce(Customer.external_id, cast(Customer.id, String))
    raise ValueError(f"unknown channel {channel!r}")


def reachable(
    session: Session,
    *,
    channel: str,
    purpose: str,
    among: Select[tuple[int]] | Collection[int] | None = None,
) -> dict[int, str]:
    """The customers a message on ``channel`` for ``purpose`` may go to, with their address.

    Everyone needs an address that is not suppressed; marketing also needs the latest
    marketing consent on the channel to be a yes and no unsubscribe of the address. The global
    control group is not applied here (it is a hash, not a column): campaigns leave it out.
    ``among`` narrows the answer to some customers (a query of ids, or ids).
    """
    to = address(channel)
    reasons = BLOCKING if purpose == "transactional" else (*BLOCKING, "unsubscribe")
    suppressed = (
        select(Suppression.id)
        .where(
            Suppression.channel == channel,
            Suppression.address == to,
            Suppression.reason.in_(reasons),
        )
        .exists()
    )
    # an erased person has no address left, but push addresses by number: excluded by name
    erased = Customer.erased_at.is_not(None)
    query = select(Customer.id, to).where(to.is_not(None), to != "", ~suppressed, ~erased)
    if purpose == "marketing":
        query = query.where(_consent(channel))
    found: dict[int, str] = {}
    if isinstance(among, Select):
        query = query.where(Customer.id.in_(among.scalar_subquery()))
    elif among is not None:
        ids = sorted(set(among))
        for start in range(0, len(ids), CHUNK):  # a driver takes at most 65,535 parameters
            part = query.where(ids_among(session, Customer.id, ids[start : start + CHUNK]))
            found |= {int(customer_id): str(to) for customer_id, to in session.execute(part)}
        return _not_erased(session, channel, reasons, found)
    found = {int(customer_id): str(to) for customer_id, to in session.execute(query)}
    return _not_erased(session, channel, reasons, found)


def _not_erased(
    session: Session, channel: str, reasons: Sequence[str], found: dict[int, str]
) -> dict[int, str]:
    """``found`` without the addresses suppressed as an erased person's (by their hash)."""
    hashed = set(
        session.scalars(
            select(Suppression.address).where(
                Suppression.channel == channel,
                Suppression.address.startswith(ERASED_PREFIX, autoescape=True),
                Suppression.reason.in_(reasons),
            )
        )
    )
    if not hashed:
        return found
    return {c: a for c, a in found.items() if erased_address(channel, a) not in hashed}


CHUNK = 10_000  # customer ids per query


def ids_among(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL as ``= ANY(array)``, one parameter instead of
    thousands (three times faster for a large audience with psycopg). Callers keep ``ids``
    to ``CHUNK`` or so: SQLite and the drivers limit the parameters of one statement."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(ids)
