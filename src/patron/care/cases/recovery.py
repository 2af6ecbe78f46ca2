"""The service-recovery report: do customers whose complaint was resolved come back, and does
their value recover, compared with customers whose complaint was not resolved and customers
who never complained?

Groups, as of ``as_of`` (cases opened later are not counted):

- **resolved**: customers with at least one complaint (a case of kind ``complaint``), every one
  of which was resolved (``resolved_at`` at or before ``as_of``);
- **unresolved**: customers with a complaint still open, or closed without a resolution;
- **none**: customers with no complaint who had completed an order before the reference date.

The reference date of a complainant is their first complaint's ``opened_at``. The no-complaint
group has none of its own, so it gets a comparable one: the median of the complainants'
reference dates (the mean of the two middle ones for an even count); without complaints there
is no such date and the group is empty.

*Repurchase rate*: the share of customers with a completed order within ``window_days`` after
their reference date, counting only customers whose window has fully passed by ``as_of`` (the
eligible ones). *CLV change*: CLV in the newest score snapshot describing the customer after the reference
date (and by ``as_of``) minus CLV in the newest one describing them before it, averaged over the customers
scored with a CLV in both; n/a without such snapshots. A snapshot describes the customers as of
the end of its period (the data's last day), not as of the moment it was computed: a shop that
scores its history again (``patron analyze --end``) gets the CLV of back then. Every number comes with the count of customers behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from patron.analytics.snapshots import CustomerScore, ScoreSnapshot
from patron.care.cases.schemas import RecoveryGroup, RecoveryPublic
from patron.care.models import Case
from patron.customers.models import Order
from patron.errors import PatronError

GROUPS = ("resolved", "unresolved", "none")
CHUNK = 5_000


@dataclass(frozen=True)
class _Snapshot:
    id: int
    describes: datetime  # the end of the snapshot's period


def report(session: Session, *, as_of: datetime, window_days: int = 90) -> RecoveryPublic:
    """The report's three groups with their numbers and counts."""
    if not 1 <= window_days <= 3650:
        raise PatronError(
            f"window_days is 1 to 3650, not {window_days}",
            code="cases.invalid",
            details={"field": "window_days"},
        )
    window = timedelta(days=window_days)
    complainants = _complainants(session, as_of)
    history = _snapshots(session, as_of)
    groups = []
    for name in ("resolved", "unresolved"):
        references = {c: at for c, (at, group) in complainants.items() if group == name}
        groups.append(_figures(session, name, references, window, as_of, history))
    median = _median([at for at, _ in complainants.values()])
    others = _no_complaint(session, median, as_of) if median is not None else []
    groups.append(
        _figures(session, "none", dict.fromkeys(others, median), window, as_of, history)
        if median is not None
        else RecoveryGroup(
            group="none",
            customers=0,
            repurchase_eligible=0,
            repurchased=0,
            repurchase_rate=None,
            clv_customers=0,
            clv_change=None,
        )
    )
    return RecoveryPublic(
        as_of=as_of,
        window_days=window_days,
        reference_for_none=median,
        snapshots=len(history),
        groups=groups,
    )


def _complainants(session: Session, as_of: datetime) -> dict[int, tuple[datetime, str]]:
    """Each complainant's first complaint date and group."""
    resolved = Case.resolved_at.is_not(None) & (Case.resolved_at <= as_of)
    rows = session.execute(
        select(
            Case.customer_id,
            func.min(Case.opened_at),
            func.count(),
            func.sum(case((resolved, 1), else_=0)),
        )
        .where(Case.kind == "complaint", Case.opened_at <= as_of)
        .group_by(Case.customer_id)
    )
    return {
        customer_id: (first, "resolved" if (solved or 0) == count else "unresolved")
        for customer_id, first, count, solved in rows
    }


def _median(moments: Sequence[datetime]) -> datetime | None:
    if not moments:
        return None
    ordered = sorted(moments)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return ordered[middle - 1] + (ordered[middle] - ordered[middle - 1]) / 2


def _completed() -> ColumnElement[bool]:
    return (Order.status == "completed") & Order.customer_id.is_not(None)


def _no_complaint(session: Session, reference: datetime, as_of: datetime) -> list[int]:
    """Customers without a complaint who had completed an order before ``reference``."""
    complained = select(Case.customer_id).where(Case.kind == "complaint", Case.opened_at <= as_of)
    rows = session.scalars(
        select(Order.customer_id)
        .where(_completed(), Order.placed_at < reference, Order.customer_id.not_in(complained))
        .distinct()
    )
    return [int(c) for c in rows if c is not None]


def _figures(
    session: Session,
    group: str,
    references: dict[int, datetime],
    window: timedelta,
    as_of: datetime,
    history: Sequence[_Snapshot],
) -> RecoveryGroup:
    eligible = {c: at for c, at in references.items() if at + window <= as_of}
    came_back = _repurchased(session, eligible, window)
    changes = _clv_changes(session, references, history)
    return RecoveryGroup(
        group=group,
        customers=len(references),
        repurchase_eligible=len(eligible),
        repurchased=len(came_back),
        repurchase_rate=len(came_back) / len(eligible) if eligible else None,
        clv_customers=len(changes),
        clv_change=sum(changes) / len(changes) if changes else None,
    )


def _repurchased(session: Session, references: dict[int, datetime], window: timedelta) -> set[int]:
    """Customers with a completed order after their reference and within the window."""
    found: set[int] = set()
    if not references:
        return found
    earliest, latest = min(references.values()), max(references.values()) + window
    for chunk in _chunks(sorted(references)):
        rows = session.execute(
            select(Order.customer_id, Order.placed_at).where(
                _completed(),
                Order.customer_id.in_(chunk),
                Order.placed_at > earliest,
                Order.placed_at <= latest,
            )
        )
        for customer_id, placed_at in rows:
            start = references[int(customer_id or 0)]
            if start < placed_at <= start + window:
                found.add(int(customer_id or 0))
    return found


def _snapshots(session: Session, as_of: datetime) -> list[_Snapshot]:
    """The snapshots whose period ended by ``as_of``, each at the end of its last day."""
    rows = session.execute(
        select(ScoreSnapshot.id, ScoreSnapshot.period_end)
        .where(ScoreSnapshot.period_end <= as_of.date())
        .order_by(ScoreSnapshot.period_end, ScoreSnapshot.id)
    )
    return [
        _Snapshot(int(i), datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC))
        for i, end in rows
    ]


def _clv_changes(
    session: Session, references: dict[int, datetime], history: Sequence[_Snapshot]
) -> list[float]:
    """Per customer scored in both: CLV in the newest snapshot describing them after their
    reference date minus CLV in the newest one describing them before it."""
    pairs: dict[int, tuple[int, int]] = {}
    for customer_id, reference in references.items():
        before = [s.id for s in history if s.describes < reference]
        after = [s.id for s in history if s.describes > reference]
        if before and after:
            pairs[customer_id] = (before[-1], after[-1])
    if not pairs:
        return []
    wanted = sorted({snapshot for pair in pairs.values() for snapshot in pair})
    values: dict[tuple[int, int], float] = {}
    for chunk in _chunks(sorted(pairs)):
        rows = session.execute(
            select(CustomerScore.customer_id, CustomerScore.snapshot_id, CustomerScore.clv).where(
                CustomerScore.customer_id.in_(chunk),
                CustomerScore.snapshot_id.in_(wanted),
                CustomerScore.clv.is_not(None),
            )
        )
        values |= {(c, s): float(clv or 0.0) for c, s, clv in rows}
    return [
        values[(c, after)] - values[(c, before)]
        for c, (before, after) in pairs.items()
        if (c, before) in values and (c, after) in values
    ]


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
