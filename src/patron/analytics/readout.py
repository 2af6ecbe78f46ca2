"""What the analytics page, the customer 360 and the API read of the stored snapshots.

A snapshot never changes once saved, so the page's Arrow table of its scores is kept per
engine until a newer snapshot appears: the page reads a large store's scores once, not on every
visit.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from patron.analytics.columns import ARROW_TYPES, SCORES
from patron.analytics.snapshots import (
    CustomerScore,
    ScoreSnapshot,
    customer_scores,
    latest_snapshot,
)
from patron.customers import service as customers
from patron.customers.models import Customer, Product
from patron.customers.schemas import CustomerPublic
from patron.errors import NotFound

COLUMN_TYPES = {column.name: ARROW_TYPES[column.type] for column in SCORES}
ANALYZE = "run `patron analyze` to score the customers"


class NoSnapshot(NotFound):
    code = "analytics.no_snapshot"


class NotScored(NotFound):
    code = "analytics.not_scored"


@dataclass(frozen=True)
class ScoredCustomer:
    """A customer with their scores in a snapshot (a row of the top-customer tables)."""

    customer: CustomerPublic
    score: CustomerScore


def newest_snapshot(session: Session) -> ScoreSnapshot:
    snapshot = latest_snapshot(session)
    if snapshot is None:
        raise NoSnapshot(f"no customer has been scored yet; {ANALYZE}")
    return snapshot


def scores_of(session: Session, *, key: str) -> tuple[CustomerPublic, ScoreSnapshot, CustomerScore]:
    """The customer named by ``key`` (external id or number) and their newest scores."""
    customer = customers.find_customer(session, key=key)  # unknown: customers.not_found
    found = customer_scores(session, customer.id)
    if found is None:
        raise NotScored(
            f"customer {key.strip()!r} has no scores yet; {ANALYZE}"
            " (customers added since the last run are scored by the next one)",
            details={"key": key.strip(), "customer_id": customer.id},
        )
    return customer, found[0], found[1]


def product_name(session: Session, sku: str | None) -> str | None:
    """The name of the product with this SKU (what scores store), else the SKU itself."""
    if not sku:
        return None
    name = session.scalar(select(Product.name).where(Product.sku == sku))
    return name or sku


def top_customers(
    session: Session, snapshot_id: int, *, limit: int = 10, unprofitable: bool = False
) -> list[ScoredCustomer]:
    """The customers with the highest CLV in the snapshot; or, with ``unprofitable``, those
    with the largest losses (profit below 0)."""
    statement = (
        select(Customer, CustomerScore)
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .where(CustomerScore.snapshot_id == snapshot_id)
    )
    if unprofitable:
        statement = statement.where(CustomerScore.profit < 0).order_by(
            CustomerScore.profit, CustomerScore.customer_id
        )
    else:
        statement = statement.where(CustomerScore.clv.is_not(None)).order_by(
            CustomerScore.clv.desc(), CustomerScore.customer_id
        )
    rows = session.execute(statement.limit(limit)).all()
    return [ScoredCustomer(CustomerPublic.model_validate(row[0]), row[1]) for row in rows]


def scores_table(session: Session, snapshot: ScoreSnapshot, names: Sequence[str]) -> pa.Table:
    """The snapshot's scores, only the columns ``names``, as Arrow (cached per engine).

    The cache knows a snapshot by its id and the instant it was taken: an emptied store may
    give a new snapshot an old id.
    """
    key = (snapshot.id, snapshot.taken_at.isoformat(), *names)
    engine = _engine(session)
    with _lock:
        cached = _cache.get(engine)
    if cached is not None and cached[0] == key:
        return cached[1]
    table = _read(session, snapshot.id, tuple(names))
    with _lock:
        _cache[engine] = (key, table)
    return table


_cache: weakref.WeakKeyDictionary[Engine, tuple[tuple[object, ...], pa.Table]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def _read(session: Session, snapshot_id: int, names: tuple[str, ...]) -> pa.Table:
    columns = [getattr(CustomerScore, name) for name in names]
    rows = session.execute(select(*columns).where(CustomerScore.snapshot_id == snapshot_id)).all()
    values = list(zip(*rows, strict=True)) if rows else [() for _name in names]
    return pa.table(
        {
            name: pa.array(list(column), type=COLUMN_TYPES[name])
            for name, column in zip(names, values, strict=True)
        }
    )


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine
