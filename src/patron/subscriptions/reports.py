"""The subscription report: what runs, what it brings each month, who leaves and why, how much
of the revenue comes from subscribers, and how subscribers' CLV compares with similar customers.

Definitions (dates are calendar dates in the shop's time zone, ``Settings.timezone``):

- **In force** on a day: started on or before it and not ended (``ends_on``, the last day of
  delivery, on or after it). Paused subscriptions are in force; cancelled ones are in force
  until their last day ("ending").
- **MRR** on a day: for each subscription in force and not paused that day, its items ×
  agreed price (else list price) × (1 − discount), per delivery, × deliveries per month
  (``schedule.monthly_factor``) — ``pricing.monthly_value``, as each subscription shows it.
  Subscriptions in another currency than the shop's are left out and counted, as are those
  with an item without any price. The series gives MRR on the last day of each of the last
  12 months (today for the current one). Which subscriptions count, and their pauses, follow
  the history (``paused`` / ``resumed`` changes); their items, prices and rhythm are today's:
  earlier changes of those are not replayed.
- **Subscriber churn** of a month: of the customers with a subscription in force on its first
  day, the share with none in force on the first day of the next month (a customer who
  swapped one subscription for another has not churned). The last 12 complete months.
- **Reasons**: the cancellation reasons of the subscriptions whose last day fell in the period.
- **Revenue share** for a period: the amount of the sale lines of orders placed in it (before
  returns, in the shop's currency); of that, orders that fulfil a subscription delivery
  (``orders.subscription_ref`` = the delivery's reference, or linked by the shop afterwards),
  and all orders by customers with a subscription in force at some time in the period.
- **CLV** (``clv_comparison``): from the newest score snapshot, customers with a subscription
  in force on the snapshot's last day against the others, within strata of ABC class × RFM
  segment; each stratum's difference of mean CLV weighted by its subscribers, with a
  bootstrap 95 % interval. An association, not proof that subscriptions raise CLV: customers
  who already buy regularly are the ones who subscribe.

Everything is read into memory once per report: a shop holds thousands of subscriptions, not
millions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from patron.analytics.snapshots import CustomerScore, latest_snapshot
from patron.config import Settings
from patron.customers.models import Order, OrderLine, Product
from patron.errors import PatronError
from patron.subscriptions import offers, pricing, schedule
from patron.subscriptions.models import (
    CANCEL_REASONS,
    Subscription,
    SubscriptionChange,
    SubscriptionDelivery,
    SubscriptionItem,
)
from patron.subscriptions.report_schemas import (
    ActivePublic,
    ChurnMonth,
    ChurnPublic,
    ClvComparisonPublic,
    ClvStratum,
    IntervalCount,
    KeyFigures,
    MrrMonth,
    MrrPublic,
    ReasonCount,
    RevenueSharePublic,
    StatusCount,
    SubscriptionReport,
)

MONTHS = 12
MAX_PERIOD_DAYS = 10 * 366
BOOTSTRAP = 2_000
SEED = 9  # a fixed seed: the same data gives the same interval on every visit
# Groups larger than this resample their mean from its normal approximation (the central limit
# theorem holds long before), so that a stratum of 100,000 customers costs no 200 million draws.
RESAMPLE_AT_MOST = 1_000
UNSCORED = "–"
NOTE = (
    "An association, not proof of an effect: customers who already buy regularly are the ones "
    "who subscribe. The comparison holds ABC class and RFM segment equal, nothing else."
)
STATUS_ORDER = ("active", "paused", "ending")


class ReportProblem(PatronError):
    code = "subscriptions.report_invalid"
    status = 422


@dataclass(frozen=True)
class Running:
    """One subscription as the report needs it: when it was in force, paused, and its worth."""

    id: int
    customer_id: int
    status: str
    started_on: date
    ends_on: date | None
    reason: str | None
    currency: str
    unit: str
    count: int
    monthly: Decimal | None  # None: an item has no price at all
    pauses: tuple[tuple[date, date | None], ...]  # [first paused day, first day running again)
    source: str

    def in_force(self, day: date) -> bool:
        return self.started_on <= day and (self.ends_on is None or day <= self.ends_on)

    def paused(self, day: date) -> bool:
        return any(start <= day and (stop is None or day < stop) for start, stop in self.pauses)


# --- the whole report ----------------------------------------------------------------------------


def report(
    session: Session,
    *,
    settings: Settings,
    now: datetime,
    since: date | None = None,
    until: date | None = None,
) -> SubscriptionReport:
    """Everything, as of ``now``; the revenue share and the reasons over ``since``..``until``
    (both included; default: the 12 months up to today)."""
    today = now.astimezone(settings.tz).date()
    since, until = period(today, since, until)
    rows = load(session, settings)
    return SubscriptionReport(
        as_of=today,
        currency=settings.currency,
        active=active(rows, today),
        mrr=mrr(rows, today, settings.currency),
        churn=churn(rows, today, since, until),
        revenue=revenue_share(session, since=since, until=until, settings=settings),
        clv=clv_comparison(session, rows),
        offers=offers.results(session),
    )


def key_figures(session: Session, *, settings: Settings, now: datetime) -> KeyFigures:
    """The subscriptions page's header: in force today, MRR, last complete month's churn."""
    today = now.astimezone(settings.tz).date()
    rows = load(session, settings)
    running = [r for r in rows if r.in_force(today)]
    months = _churn_months(rows, today, 1)
    return KeyFigures(
        as_of=today,
        currency=settings.currency,
        in_force=len(running),
        subscribers=len({r.customer_id for r in running}),
        mrr=_mrr_on(rows, today, settings.currency)[0],
        churn=months[-1] if months else None,
    )


def period(today: date, since: date | None, until: date | None) -> tuple[date, date]:
    """The report's period: ``since``..``until``, by default the 12 months up to today."""
    until = until or today
    since = since or schedule.add_months(until, -MONTHS) + timedelta(days=1)
    if since > until:
        raise ReportProblem(
            f"the period starts ({since}) after it ends ({until})",
            details={"field": "from", "from": since.isoformat(), "to": until.isoformat()},
        )
    if (until - since).days > MAX_PERIOD_DAYS:
        raise ReportProblem(
            f"a period spans at most ten years, not {(until - since).days + 1} days",
            details={"field": "from"},
        )
    return since, until


# --- reading ------------------------------------------------------------------------------------


def load(session: Session, settings: Settings) -> list[Running]:
    """Every subscription with its monthly value and its pauses (three queries)."""
    zone = settings.tz
    values = _monthly_values(session)
    pauses = _pauses(session, zone)
    out = []
    for row in session.scalars(select(Subscription).order_by(Subscription.id)):
        ends_on = row.ends_on
        if ends_on is None and row.status == "cancelled" and row.cancel_requested_at is not None:
            ends_on = row.cancel_requested_at.astimezone(zone).date()
        out.append(
            Running(
                id=row.id,
                customer_id=row.customer_id,
                status=row.status,
                started_on=row.started_on,
                ends_on=ends_on,
                reason=row.cancel_reason,
                currency=row.currency,
                unit=row.interval_unit,
                count=row.interval_count,
                monthly=values.get(row.id),
                pauses=tuple(pauses.get(row.id, ())),
                source=row.source,
            )
        )
    return out


def _monthly_values(session: Session) -> dict[int, Decimal | None]:
    """Each subscription's monthly value, as ``pricing`` computes it for the subscription."""
    lines: dict[int, list[Decimal | None]] = defaultdict(list)
    statement = (
        select(
            SubscriptionItem.subscription_id,
            SubscriptionItem.quantity,
            func.coalesce(SubscriptionItem.unit_price, Product.price),
            Subscription.discount_percent,
        )
        .join(Product, Product.id == SubscriptionItem.product_id)
        .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
    )
    for subscription_id, quantity, agreed, discount in session.execute(statement):
        price = pricing.unit_price(_decimal(agreed), _decimal(discount))
        lines[subscription_id].append(pricing.line_total(price, Decimal(quantity)))
    rhythms = session.execute(
        select(
            Subscription.id,
            Subscription.interval_unit,
            Subscription.interval_count,
            Subscription.anchor_day,
        )
    )
    return {
        i: pricing.monthly_value(
            schedule.Rhythm(unit, count, anchor),  # type: ignore[arg-type]
            pricing.delivery_value(lines[i]) if lines[i] else None,
        )
        for i, unit, count, anchor in rhythms
    }


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _pauses(session: Session, zone: ZoneInfo) -> dict[int, list[tuple[date, date | None]]]:
    """Per subscription, its pauses from the history: from the day of a ``paused`` change to the
    day of the next ``resumed`` one, else to the pause's ``until``, else still running."""
    changes = session.execute(
        select(
            SubscriptionChange.subscription_id,
            SubscriptionChange.kind,
            SubscriptionChange.at,
            SubscriptionChange.details,
        )
        .where(SubscriptionChange.kind.in_(("paused", "resumed")))
        .order_by(SubscriptionChange.subscription_id, SubscriptionChange.at, SubscriptionChange.id)
    )
    found: dict[int, list[tuple[date, date | None]]] = defaultdict(list)
    open_: dict[int, tuple[date, date | None]] = {}
    for subscription_id, kind, at, details in changes:
        day = at.astimezone(zone).date()
        if kind == "paused":
            if subscription_id in open_:  # paused twice without a resume between
                found[subscription_id].append((open_[subscription_id][0], day))
            until = (details or {}).get("until")
            open_[subscription_id] = (day, date.fromisoformat(until) if until else None)
        elif subscription_id in open_:
            found[subscription_id].append((open_.pop(subscription_id)[0], day))
    for subscription_id, pause in open_.items():
        found[subscription_id].append(pause)
    return found


# --- in force -----------------------------------------------------------------------------------


def active(rows: Sequence[Running], today: date) -> ActivePublic:
    """The subscriptions in force today, by status and by rhythm."""
    running = [r for r in rows if r.in_force(today)]
    statuses = Counter("ending" if r.status == "cancelled" else r.status for r in running)
    rhythms = Counter((r.unit, r.count) for r in running)
    units = {u: i for i, u in enumerate(schedule.UNITS)}
    return ActivePublic(
        in_force=len(running),
        subscribers=len({r.customer_id for r in running}),
        by_status=[StatusCount(status=s, subscriptions=statuses.get(s, 0)) for s in STATUS_ORDER],
        by_interval=[
            IntervalCount(unit=unit, count=count, subscriptions=n)
            for (unit, count), n in sorted(rhythms.items(), key=lambda p: (units[p[0][0]], p[0][1]))
        ],
    )


# --- monthly recurring revenue ------------------------------------------------------------------


def mrr(rows: Sequence[Running], today: date, currency: str) -> MrrPublic:
    """MRR today and on the last day of each of the last 12 months (see the module docstring)."""
    total, counted = _mrr_on(rows, today, currency)
    by_month = []
    for first in last_months(today, MONTHS, complete=False):
        day = min(schedule.add_months(first, 1) - timedelta(days=1), today)
        value, n = _mrr_on(rows, day, currency)
        by_month.append(MrrMonth(month=first, measured_on=day, mrr=value, subscriptions=n))
    running = [r for r in rows if r.in_force(today) and not r.paused(today)]
    return MrrPublic(
        currency=currency,
        mrr=total,
        subscriptions=counted,
        unpriced=sum(1 for r in running if r.currency == currency and r.monthly is None),
        other_currency=sum(1 for r in running if r.currency != currency),
        by_month=by_month,
    )


def _mrr_on(rows: Iterable[Running], day: date, currency: str) -> tuple[Decimal, int]:
    values = [
        r.monthly
        for r in rows
        if r.currency == currency
        and r.monthly is not None
        and r.in_force(day)
        and not r.paused(day)
    ]
    return sum(values, Decimal("0.00")), len(values)


def last_months(today: date, n: int, *, complete: bool) -> list[date]:
    """First days of the last ``n`` months, oldest first: up to today's month, or (``complete``)
    up to the month before it."""
    newest = date(today.year, today.month, 1)
    if complete:
        newest = schedule.add_months(newest, -1)
    return [schedule.add_months(newest, -k) for k in range(n - 1, -1, -1)]


# --- churn --------------------------------------------------------------------------------------


def churn(rows: Sequence[Running], today: date, since: date, until: date) -> ChurnPublic:
    """Subscriber churn in each of the last 12 complete months, and why subscriptions ended
    in the period."""
    months = _churn_months(rows, today, MONTHS)
    ended = [r for r in rows if r.ends_on is not None and since <= r.ends_on <= until]
    reasons = Counter(r.reason or "other" for r in ended)
    order = {reason: i for i, reason in enumerate(CANCEL_REASONS)}
    return ChurnPublic(
        by_month=months,
        last_month=months[-1] if months else None,
        cancellations=len(ended),
        reasons=[
            ReasonCount(
                reason=reason,
                cancellations=reasons.get(reason, 0),
                share=reasons.get(reason, 0) / len(ended) if ended else None,
            )
            for reason in sorted(
                set(CANCEL_REASONS) | set(reasons),
                key=lambda r: (-reasons.get(r, 0), order.get(r, len(order))),
            )
        ],
    )


def _churn_months(rows: Sequence[Running], today: date, n: int) -> list[ChurnMonth]:
    out = []
    for first in last_months(today, n, complete=True):
        base = _subscribers(rows, first)
        left = base - _subscribers(rows, schedule.add_months(first, 1))
        out.append(
            ChurnMonth(
                month=first,
                subscribers_at_start=len(base),
                churned=len(left),
                rate=len(left) / len(base) if base else None,
            )
        )
    return out


def _subscribers(rows: Iterable[Running], day: date) -> set[int]:
    return {r.customer_id for r in rows if r.in_force(day)}


# --- revenue share ------------------------------------------------------------------------------


def revenue_share(
    session: Session, *, since: date, until: date, settings: Settings
) -> RevenueSharePublic:
    """The revenue of the period, and the parts from deliveries and from subscribers."""
    start, end = _instants(since, until, settings.tz)
    lines = Order.__table__.join(OrderLine.__table__, OrderLine.order_id == Order.id)
    placed = (
        OrderLine.kind == "sale",
        Order.currency == settings.currency,
        Order.placed_at >= start,
        Order.placed_at < end,
    )
    delivered = or_(
        Order.subscription_ref.in_(select(SubscriptionDelivery.reference)),
        Order.id.in_(
            select(SubscriptionDelivery.order_id).where(SubscriptionDelivery.order_id.is_not(None))
        ),
    )
    subscribers = select(Subscription.customer_id).where(
        Subscription.started_on <= until,
        or_(Subscription.ends_on.is_(None), Subscription.ends_on >= since),
    )
    total = _sum(session, lines, *placed)
    deliveries = _sum(session, lines, *placed, delivered)
    theirs = _sum(session, lines, *placed, Order.customer_id.in_(subscribers))
    delivery_orders = session.scalar(
        select(func.count(func.distinct(Order.id))).select_from(lines).where(*placed, delivered)
    )
    people = session.scalar(select(func.count(func.distinct(subscribers.subquery().c.customer_id))))
    return RevenueSharePublic(
        since=since,
        until=until,
        currency=settings.currency,
        revenue=total,
        delivery_revenue=deliveries,
        delivery_orders=int(delivery_orders or 0),
        delivery_share=float(deliveries / total) if total else None,
        subscriber_revenue=theirs,
        subscribers=int(people or 0),
        subscriber_share=float(theirs / total) if total else None,
    )


def _instants(since: date, until: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The period's local days as instants: from ``since``'s midnight to the one after ``until``."""
    return (
        datetime.combine(since, time(), tzinfo=zone),
        datetime.combine(until + timedelta(days=1), time(), tzinfo=zone),
    )


def _sum(session: Session, lines: Any, *where: ColumnElement[bool]) -> Decimal:
    value = session.scalar(select(func.sum(OrderLine.amount)).select_from(lines).where(*where))
    return Decimal(str(value or 0)).quantize(pricing.CENT)


# --- CLV of subscribers and similar customers ---------------------------------------------------


def clv_comparison(session: Session, rows: Sequence[Running]) -> ClvComparisonPublic:
    """Subscribers' CLV against non-subscribers' of the same ABC class and RFM segment, from
    the newest score snapshot (see the module docstring)."""
    snapshot = latest_snapshot(session)
    if snapshot is None:
        return _no_comparison(None, None, 0)
    day = snapshot.period_end
    subscribers = {r.customer_id for r in rows if r.in_force(day)}
    groups: dict[tuple[str, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    scored = 0
    for customer_id, abc, segment, clv in session.execute(
        select(
            CustomerScore.customer_id,
            CustomerScore.abc,
            CustomerScore.rfm_segment,
            CustomerScore.clv,
        ).where(CustomerScore.snapshot_id == snapshot.id, CustomerScore.clv.is_not(None))
    ):
        mine = customer_id in subscribers
        scored += mine
        groups[(abc or UNSCORED, segment or UNSCORED)][0 if mine else 1].append(float(clv or 0))
    return compare(groups, snapshot_id=snapshot.id, period_end=day, scored=scored)


def compare(
    groups: Mapping[tuple[str, str], tuple[Sequence[float], Sequence[float]]],
    *,
    snapshot_id: int | None,
    period_end: date | None,
    scored: int,
) -> ClvComparisonPublic:
    """The stratified comparison of (subscribers' CLVs, others' CLVs) per stratum."""
    matched = {
        key: (np.asarray(mine, dtype=float), np.asarray(others, dtype=float))
        for key, (mine, others) in sorted(groups.items())
        if len(mine) and len(others)
    }
    if not matched:
        return _no_comparison(snapshot_id, period_end, scored)
    weights = np.array([len(mine) for mine, _ in matched.values()], dtype=float)
    mine_means = np.array([mine.mean() for mine, _ in matched.values()])
    other_means = np.array([others.mean() for _, others in matched.values()])
    share = weights / weights.sum()
    low, high = _bootstrap(list(matched.values()), share)
    return ClvComparisonPublic(
        snapshot_id=snapshot_id,
        period_end=period_end,
        subscribers_scored=scored,
        subscribers_matched=int(weights.sum()),
        others_matched=sum(len(others) for _, others in matched.values()),
        strata=len(matched),
        subscriber_mean=float(share @ mine_means),
        comparison_mean=float(share @ other_means),
        difference=float(share @ (mine_means - other_means)),
        low=low,
        high=high,
        by_stratum=[
            ClvStratum(
                abc=abc,
                rfm_segment=segment,
                subscribers=len(mine),
                others=len(others),
                subscriber_mean=float(mine.mean()),
                other_mean=float(others.mean()),
                difference=float(mine.mean() - others.mean()),
            )
            for (abc, segment), (mine, others) in matched.items()
        ],
        note=NOTE,
    )


def _bootstrap(
    strata: Sequence[tuple[np.ndarray, np.ndarray]], share: np.ndarray
) -> tuple[float, float]:
    """The 2.5 % and 97.5 % percentiles of the weighted difference over resampled strata:
    within each stratum, subscribers and others are each drawn again with replacement."""
    rng = np.random.default_rng(SEED)
    differences = np.zeros(BOOTSTRAP)
    for weight, (mine, others) in zip(share, strata, strict=True):
        differences += weight * (_resampled_means(rng, mine) - _resampled_means(rng, others))
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(low), float(high)


def _resampled_means(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    n = len(values)
    if n > RESAMPLE_AT_MOST:
        spread = values.std(ddof=1) / np.sqrt(n)
        return values.mean() + spread * rng.standard_normal(BOOTSTRAP)
    means: np.ndarray = values[rng.integers(0, n, size=(BOOTSTRAP, n))].mean(axis=1)
    return means


def _no_comparison(
    snapshot_id: int | None, period_end: date | None, scored: int
) -> ClvComparisonPublic:
    return ClvComparisonPublic(
        snapshot_id=snapshot_id,
        period_end=period_end,
        subscribers_scored=scored,
        subscribers_matched=0,
        others_matched=0,
        strata=0,
        subscriber_mean=None,
        comparison_mean=None,
        difference=None,
        low=None,
        high=None,
        by_stratum=[],
        note=NOTE,
    )
