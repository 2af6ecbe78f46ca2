"""Dated snapshots of the scores, stored in the knowledge store.

Each run of ``patron analyze`` adds one ``score_snapshots`` row (when, which period, settings,
fitted model parameters, warnings) and one ``customer_scores`` row per customer. Earlier
snapshots stay, so a customer's scores can be followed over time; the newest is what pages,
the API and segments read. This module writes them; ``readout`` composes what the pages
read, and ``sources`` reads the shop's orders for the analyses.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

import patron.customers.models  # noqa: F401 - registers ``customers``, which scores refer to
from patron.analytics.columns import SCORES
from patron.db import Base, utcnow
from patron.sqltypes import UTCDateTime


class ScoreSnapshot(Base):
    __tablename__ = "score_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    time_unit: Mapped[str] = mapped_column(String(8))
    model: Mapped[str] = mapped_column(String(16))
    customers: Mapped[int] = mapped_column(Integer)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    models: Mapped[dict[str, Any]] = mapped_column(JSON)
    warnings: Mapped[list[str]] = mapped_column(JSON)
    # What the run drew beside the scores, for the analytics page: Pareto curve, cohorts,
    # calibration-vs-holdout tracking and model comparison (rows of each, as plain lists).
    series: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CustomerScore(Base):
    """One customer's scores in one snapshot; the columns are ``analytics.columns.SCORES``."""

    __tablename__ = "customer_scores"
    __table_args__ = (Index("ix_customer_scores_customer", "customer_id", "snapshot_id"),)

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("score_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    first_purchase: Mapped[date | None] = mapped_column(Date)
    last_purchase: Mapped[date | None] = mapped_column(Date)
    orders: Mapped[int | None] = mapped_column(Integer)
    purchase_days: Mapped[int | None] = mapped_column(Integer)
    frequency: Mapped[int | None] = mapped_column(Integer)
    recency: Mapped[float | None] = mapped_column(Float)
    T: Mapped[float | None] = mapped_column(Float)
    monetary: Mapped[float | None] = mapped_column(Float)
    sales: Mapped[float | None] = mapped_column(Float)
    returns: Mapped[float | None] = mapped_column(Float)
    revenue: Mapped[float | None] = mapped_column(Float)
    discounts: Mapped[float | None] = mapped_column(Float)
    cost_of_goods: Mapped[float | None] = mapped_column(Float)
    margin: Mapped[float | None] = mapped_column(Float)
    return_rate: Mapped[float | None] = mapped_column(Float)
    discount_share: Mapped[float | None] = mapped_column(Float)
    tenure_days: Mapped[int | None] = mapped_column(Integer)
    days_since_last: Mapped[int | None] = mapped_column(Integer)
    abc: Mapped[str | None] = mapped_column(String(1), index=True)
    abc_share: Mapped[float | None] = mapped_column(Float)
    r_score: Mapped[int | None] = mapped_column(Integer)
    f_score: Mapped[int | None] = mapped_column(Integer)
    m_score: Mapped[int | None] = mapped_column(Integer)
    rfm_segment: Mapped[str | None] = mapped_column(String(32))
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_purchases: Mapped[float | None] = mapped_column(Float)
    expected_spend: Mapped[float | None] = mapped_column(Float)
    clv: Mapped[float | None] = mapped_column(Float)
    lifecycle_phase: Mapped[str | None] = mapped_column(String(16))
    loyalty_type: Mapped[str | None] = mapped_column(String(24))
    cost_to_serve: Mapped[float | None] = mapped_column(Float)
    profit: Mapped[float | None] = mapped_column(Float)
    subscription_product: Mapped[str | None] = mapped_column(String(64))
    subscription_interval_days: Mapped[float | None] = mapped_column(Float)
    unprofitable: Mapped[bool | None] = mapped_column(Boolean)


ScoreTable = Base.metadata.tables["customer_scores"]
SCORE_FIELDS = tuple(column.name for column in SCORES if column.name != "customer_id")
BATCH = 5_000


def save_snapshot(
    connection: Connection,
    scores: pa.Table,
    *,
    period_start: date,
    period_end: date,
    time_unit: str,
    model: str,
    settings: dict[str, Any],
    models: dict[str, Any],
    warnings: list[str],
    series: dict[str, Any] | None = None,
    keep: int | None = None,
) -> int:
    """Store ``scores`` (``customer_id`` = the store's customer id) as a new snapshot; keep only
    the newest ``keep`` snapshots when given. Runs inside the caller's transaction."""
    snapshot_id = connection.execute(
        insert(ScoreSnapshot)
        .values(
            taken_at=utcnow(),
            period_start=period_start,
            period_end=period_end,
            time_unit=time_unit,
            model=model,
            customers=scores.num_rows,
            settings=_plain(settings),
            models=_plain(models),
            warnings=list(warnings),
            series=_plain(series or {}),
        )
        .returning(ScoreSnapshot.id)
    ).scalar_one()
    table = ScoreTable
    for batch in scores.to_batches(BATCH):
        rows = batch.to_pylist()
        for row in rows:
            row["snapshot_id"] = snapshot_id
            row["customer_id"] = int(row["customer_id"])
            profit = row.get("profit")
            row["unprofitable"] = None if profit is None else profit < 0
            for name in SCORE_FIELDS:
                value = row.get(name)
                if isinstance(value, float) and not math.isfinite(value):
                    row[name] = None
            for name in set(row) - set(table.columns.keys()):
                del row[name]
        if rows:
            connection.execute(insert(table), rows)
    if keep is not None:
        newest = (
            select(ScoreSnapshot.id).order_by(ScoreSnapshot.id.desc()).limit(keep).scalar_subquery()
        )
        old = select(ScoreSnapshot.id).where(ScoreSnapshot.id.not_in(newest))
        connection.execute(delete(CustomerScore).where(CustomerScore.snapshot_id.in_(old)))
        connection.execute(delete(ScoreSnapshot).where(ScoreSnapshot.id.in_(old)))
    return int(snapshot_id)


def _plain(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, tuples lists, dates text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def latest_snapshot(session: Session) -> ScoreSnapshot | None:
    return session.scalars(select(ScoreSnapshot).order_by(ScoreSnapshot.id.desc()).limit(1)).first()


def customer_scores(
    session: Session, customer_id: int
) -> tuple[ScoreSnapshot, CustomerScore] | None:
    """The customer's scores in the newest snapshot that has them (None if never scored)."""
    row = session.execute(
        select(ScoreSnapshot, CustomerScore)
        .join(CustomerScore, CustomerScore.snapshot_id == ScoreSnapshot.id)
        .where(CustomerScore.customer_id == customer_id)
        .order_by(ScoreSnapshot.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def customer_classes(session: Session, customer_id: int) -> dict[str, str | None] | None:
    """The customer's ABC class, RFM segment and lifecycle phase in the newest snapshot that has
    them, reading only those columns (the loyalty engine asks on every purchase of a promotion)."""
    row = session.execute(
        select(CustomerScore.abc, CustomerScore.rfm_segment, CustomerScore.lifecycle_phase)
        .where(CustomerScore.customer_id == customer_id)
        .order_by(CustomerScore.snapshot_id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return {"abc_class": row[0], "rfm_segment": row[1], "lifecycle_phase": row[2]}


def score_history(
    session: Session, customer_id: int, limit: int = 24
) -> list[tuple[ScoreSnapshot, CustomerScore]]:
    rows = session.execute(
        select(ScoreSnapshot, CustomerScore)
        .join(CustomerScore, CustomerScore.snapshot_id == ScoreSnapshot.id)
        .where(CustomerScore.customer_id == customer_id)
        .order_by(ScoreSnapshot.id.desc())
        .limit(limit)
    ).all()
    return [(row[0], row[1]) for row in rows]


GROUPS = {
    "abc": CustomerScore.abc,
    "rfm_segment": CustomerScore.rfm_segment,
    "lifecycle_phase": CustomerScore.lifecycle_phase,
    "loyalty_type": CustomerScore.loyalty_type,
}


def segment_counts(session: Session, snapshot_id: int) -> dict[str, list[dict[str, Any]]]:
    """Per grouping (ABC class, RFM segment, phase, loyalty type): customers, revenue, CLV."""
    counted: dict[str, list[dict[str, Any]]] = {}
    for name, column in GROUPS.items():
        rows = session.execute(
            select(
                column,
                func.count(),
                func.coalesce(func.sum(CustomerScore.revenue), 0.0),
                func.coalesce(func.sum(CustomerScore.clv), 0.0),
            )
            .where(CustomerScore.snapshot_id == snapshot_id)
            .group_by(column)
            .order_by(func.count().desc())
        ).all()
        counted[name] = [
            {
                "value": value,
                "customers": int(count),
                "revenue": float(revenue or 0.0),
                "clv": float(clv or 0.0),
            }
            for value, count, revenue, clv in rows
        ]
    return counted
