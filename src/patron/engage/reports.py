"""What a campaign did: who got what (delivery), and what treated customers bought against the
holdout over each member's window (outcomes and their uplift).

Each member is watched for ``window_days`` from their own ``assigned_at``; while a window is
still open at ``now`` it is cut there, and the report says its figures are "so far". A member
assigned after ``now`` is not in the report (it reads the campaign as it was at ``now``).

Outcomes follow the analytics' definitions (``analytics.summary``), over the member's window:

- **orders**: completed orders with at least one sale line placed in the window;
- **revenue** = sales − returns: the net amounts of those sale lines, less the refunds of
  returns and cancellations dated in the window;
- **margin** = revenue − cost of goods, where the cost of goods is the sold lines' cost
  (``unit_cost × quantity``, unknown costs count 0) reduced by the share returned
  (``returns / sales``, at most 1), rounded to the store's 4 decimals.

Money stays exact (``Decimal``) per member and in the totals; the uplift statistics are floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Interval,
    Numeric,
    Select,
    and_,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.types import NullType

from patron.customers.models import Order, OrderLine, Return
from patron.engage import uplift
from patron.engage.holdout import HOLDOUT
from patron.engage.models import Campaign, CampaignMember, Message
from patron.errors import NotFound
from patron.sqltypes import Money, Quantity, UTCDateTime

METRICS = ("orders", "revenue", "margin")
TOTAL = "total"
Column = ColumnElement[Any] | InstrumentedAttribute[Any]
CENT = Decimal("0.0001")  # the store's money precision (``units.MONEY_SCALE``)


# --- what the report holds -------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """When members were assigned and when their windows end; ``so_far`` while any is open."""

    days: int
    now: datetime
    first_assigned: datetime | None
    last_assigned: datetime | None
    ends: datetime | None  # the last member's window end
    members_complete: int  # members whose whole window lies before ``now``
    so_far: bool


@dataclass(frozen=True)
class DeliveryRow:
    """Messages of one variant (or all: ``total``) by status.

    ``sent`` counts what went out (delivered or bounced); ``delivered`` = sent and not bounced.
    ``opened`` and ``clicked`` are None where nothing was tracked (see ``_tracked``).
    """

    variant: str
    assigned: int
    queued: int
    sent: int
    delivered: int
    bounced: int
    cancelled: int
    dead: int
    opened: int | None
    clicked: int | None


@dataclass(frozen=True)
class Delivery:
    variants: tuple[DeliveryRow, ...]
    total: DeliveryRow
    holdout: int  # members held out: they get no message


@dataclass(frozen=True)
class GroupTotals:
    """One group's exact totals over its members' windows (``treatment``: every variant)."""

    group: str
    members: int
    buyers: int
    orders: int
    revenue: Decimal
    margin: Decimal


@dataclass(frozen=True)
class Outcomes:
    """Each member's group and outcomes, in member order: the shape ``uplift.uplift`` reads."""

    member_ids: tuple[int, ...]
    groups: tuple[str, ...]
    orders: tuple[int, ...]
    revenue: tuple[Decimal, ...]
    margin: tuple[Decimal, ...]

    def as_floats(self) -> dict[str, list[float]]:
        return {
            "orders": [float(value) for value in self.orders],
            "revenue": [float(value) for value in self.revenue],
            "margin": [float(value) for value in self.margin],
        }

    def totals(self, variants: Sequence[str]) -> tuple[GroupTotals, ...]:
        """Totals of the holdout, of every variant, and of all treated (``treatment``)."""
        wanted = [HOLDOUT, *variants, uplift.TREATMENT]
        return tuple(self._total(name) for name in wanted)

    def _total(self, name: str) -> GroupTotals:
        picked = [
            i
            for i, group in enumerate(self.groups)
            if group == name or (name == uplift.TREATMENT and group != HOLDOUT)
        ]
        return GroupTotals(
            group=name,
            members=len(picked),
            buyers=sum(1 for i in picked if self.orders[i] > 0),
            orders=sum(self.orders[i] for i in picked),
            revenue=sum((self.revenue[i] for i in picked), CENT * 0),
            margin=sum((self.margin[i] for i in picked), CENT * 0),
        )


@dataclass(frozen=True)
class CampaignReport:
    campaign_id: int
    key: str
    name: str
    status: str
    channel: str
    window: Window
    delivery: Delivery
    totals: tuple[GroupTotals, ...]
    uplift: uplift.Report

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(row.variant for row in self.delivery.variants)


def significant(found: uplift.Uplift) -> bool | None:
    """Whether the difference is significant at the comparison's confidence: its interval
    leaves out zero. None when there is no interval to judge by."""
    if found.interval is None:
        return None
    low, high = found.interval
    return low > 0 or high < 0


# --- the report ------------------------------------------------------------------------------


def campaign_report(
    session: Session,
    *,
    campaign_id: int,
    now: datetime,
    tracking: bool,
    confidence: float = 0.95,
) -> CampaignReport:
    """Delivery, outcomes and uplift of a campaign as of ``now``. ``tracking`` is the
    ``track_messages`` setting: the sender tracks marketing e-mails while it is on."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}", code="campaign.not_found")
    outcomes = customer_outcomes(
        session, campaign_id=campaign.id, window_days=campaign.window_days, now=now
    )
    delivery = _delivery(session, campaign, outcomes.groups, now=now, tracking=tracking)
    variants = tuple(row.variant for row in delivery.variants)
    report = uplift.uplift(
        list(outcomes.groups), outcomes.as_floats(), holdout=HOLDOUT, confidence=confidence
    )
    return CampaignReport(
        campaign_id=campaign.id,
        key=campaign.key,
        name=campaign.name,
        status=campaign.status,
        channel=campaign.channel,
        window=_window(session, campaign, now=now),
        delivery=delivery,
        totals=outcomes.totals(variants),
        uplift=report,
    )


def _window(session: Session, campaign: Campaign, *, now: datetime) -> Window:
    length = timedelta(days=campaign.window_days)
    first, last = session.execute(
        select(func.min(CampaignMember.assigned_at), func.max(CampaignMember.assigned_at)).where(
            CampaignMember.campaign_id == campaign.id, CampaignMember.assigned_at <= now
        )
    ).one()
    complete = session.scalar(
        select(func.count()).where(
            CampaignMember.campaign_id == campaign.id,
            CampaignMember.assigned_at <= now - length,
        )
    )
    ends = None if last is None else last + length
    return Window(
        days=campaign.window_days,
        now=now,
        first_assigned=first,
        last_assigned=last,
        ends=ends,
        members_complete=int(complete or 0),
        so_far=ends is not None and ends > now,
    )


# --- outcomes --------------------------------------------------------------------------------


def customer_outcomes(
    session: Session, *, campaign_id: int, window_days: int, now: datetime
) -> Outcomes:
    """Every member's orders, revenue and margin over their window (see the module), in one
    query: members joined to their completed orders' sale lines and to their returns."""
    dialect = session.get_bind().dialect.name
    rows = session.execute(_outcome_query(campaign_id, window_days, now, dialect)).all()
    money = Decimal(Money().storage_units(dialect))
    cost_units = money * Quantity().storage_units(dialect)
    ids, groups, orders, revenue, margin = [], [], [], [], []
    for member_id, group, count, sales, cost, refunds in rows:
        sold = _exact(sales, money).quantize(CENT)
        returned = _exact(refunds, money).quantize(CENT)
        gross_cost = _exact(cost, cost_units)
        net = sold - returned
        ids.append(int(member_id))
        groups.append(str(group))
        orders.append(int(count or 0))
        revenue.append(net)
        margin.append(net - _cost_of_goods(sold, returned, gross_cost))
    return Outcomes(tuple(ids), tuple(groups), tuple(orders), tuple(revenue), tuple(margin))


def _exact(raw: Any, units: Decimal) -> Decimal:
    """A stored sum (scaled integer on SQLite, NUMERIC on PostgreSQL) as an exact Decimal."""
    return Decimal(0) if raw is None else Decimal(raw) / units


def _cost_of_goods(sales: Decimal, returns: Decimal, gross_cost: Decimal) -> Decimal:
    """The cost of the goods kept, as ``analytics.summary`` computes it."""
    kept = Decimal(1) - min(returns / sales, Decimal(1)) if sales > 0 else Decimal(1)
    return (gross_cost * kept).quantize(CENT, rounding=ROUND_HALF_EVEN)


def _outcome_query(campaign_id: int, window_days: int, now: datetime, dialect: str) -> Select[Any]:
    members = (
        select(
            CampaignMember.id.label("id"),
            CampaignMember.customer_id.label("customer_id"),
            CampaignMember.group.label("group"),
            CampaignMember.assigned_at.label("start"),
            _plus_days(CampaignMember.assigned_at, window_days, dialect).label("end"),
        )
        .where(CampaignMember.campaign_id == campaign_id, CampaignMember.assigned_at <= now)
        .cte("members")
    )

    def inside(instant: Column) -> ColumnElement[bool]:
        return and_(instant >= members.c.start, instant < members.c.end, instant < now)

    # One row per member, plus one with their sales and one with their refunds, summed per
    # member: no join of aggregates, which SQLite would scan once per member.
    count, nothing = cast(null(), BigInteger()), cast(null(), Numeric())  # typed for PostgreSQL
    everyone = select(
        members.c.id,
        members.c.group,
        count.label("orders"),
        nothing.label("sales"),
        nothing.label("cost"),
        nothing.label("returns"),
    )
    sales = (
        select(
            members.c.id,
            members.c.group,
            func.count(func.distinct(Order.id)).label("orders"),
            func.sum(_raw(OrderLine.amount)).label("sales"),
            func.sum(_raw(OrderLine.unit_cost) * _raw(OrderLine.quantity)).label("cost"),
            nothing.label("returns"),
        )
        .join(
            Order,
            and_(
                Order.customer_id == members.c.customer_id,
                Order.status == "completed",
                inside(Order.placed_at),
            ),
        )
        .join(OrderLine, and_(OrderLine.order_id == Order.id, OrderLine.kind == "sale"))
        .group_by(members.c.id, members.c.group)
    )
    refunds = (
        select(
            members.c.id,
            members.c.group,
            count.label("orders"),
            nothing.label("sales"),
            nothing.label("cost"),
            func.sum(_raw(Return.amount)).label("returns"),
        )
        .join(
            Return,
            and_(Return.customer_id == members.c.customer_id, inside(Return.returned_at)),
        )
        .group_by(members.c.id, members.c.group)
    )
    rows = union_all(everyone, sales, refunds).subquery("rows")
    return (
        select(
            rows.c.id,
            rows.c.group,
            *(_raw(func.sum(rows.c[name])) for name in ("orders", "sales", "cost", "returns")),
        )
        .group_by(rows.c.id, rows.c.group)
        .order_by(rows.c.id)
    )


def _raw(column: Column) -> ColumnElement[Any]:
    """A money or quantity column as stored, so that sums and products stay exact integers on
    SQLite (scaled by ``storage_units``) and exact NUMERIC on PostgreSQL."""
    return type_coerce(column, NullType())


def _plus_days(instant: Column, days: int, dialect: str) -> ColumnElement[Any]:
    """``instant`` + ``days`` whole days, exactly, as the store keeps instants.

    SQLite keeps UTC instants as text ``YYYY-MM-DD HH:MM:SS.ffffff``: the day is moved by the
    date function and the time of day kept as written (``datetime()`` would round it to
    milliseconds). PostgreSQL adds hours, which no daylight-saving change stretches.
    """
    days = int(days)
    if dialect == "sqlite":
        day = func.date(func.substr(instant, 1, 10), f"+{days} days")
        return type_coerce(day.op("||")(func.substr(instant, 11)), UTCDateTime())
    interval = literal_column(f"INTERVAL '{24 * days} hours'", Interval())
    return type_coerce(type_coerce(instant, NullType()) + interval, UTCDateTime())


# --- delivery --------------------------------------------------------------------------------


def _delivery(
    session: Session, campaign: Campaign, groups: Sequence[str], *, now: datetime, tracking: bool
) -> Delivery:
    assigned: dict[str, int] = {}
    for group in groups:
        assigned[group] = assigned.get(group, 0) + 1
    counted = _message_counts(session, campaign.id, now=now)
    named = [str(variant["name"]) for variant in campaign.variants]
    seen = (set(assigned) | set(counted)) - {HOLDOUT}
    variants = [*named, *sorted(seen - set(named))]
    tracked = _tracked(campaign, counted.values(), tracking=tracking)
    rows = tuple(
        _row(name, assigned.get(name, 0), counted.get(name, {}), tracked) for name in variants
    )
    total = _row(
        TOTAL,
        sum(row.assigned for row in rows),
        _summed(counted.values()),
        tracked,
    )
    return Delivery(variants=rows, total=total, holdout=assigned.get(HOLDOUT, 0))


STATUS_COUNTS = ("queued", "sent", "bounced", "cancelled", "dead")


def _message_counts(
    session: Session, campaign_id: int, *, now: datetime
) -> dict[str, dict[str, int]]:
    """Per variant: messages by status, opened and clicked; like the outcomes, only of members
    assigned by ``now``."""
    variant = func.coalesce(Message.variant, CampaignMember.group, "")
    counts = [
        func.sum(case((Message.status == status, 1), else_=0)).label(status)
        for status in STATUS_COUNTS
    ]
    query = (
        select(
            variant.label("variant"),
            *counts,
            func.count(Message.opened_at).label("opened"),
            func.count(Message.clicked_at).label("clicked"),
        )
        .outerjoin(CampaignMember, CampaignMember.id == Message.member_id)
        .where(
            Message.campaign_id == campaign_id,
            or_(CampaignMember.id.is_(None), CampaignMember.assigned_at <= now),
        )
        .group_by(variant)
    )
    return {
        str(row.variant): {
            name: int(value or 0) for name, value in row._mapping.items() if name != "variant"
        }
        for row in session.execute(query)
    }


def _tracked(
    campaign: Campaign, counts: Iterable[Mapping[str, int]], *, tracking: bool
) -> tuple[bool, bool]:
    """Whether opens and clicks were tracked at all: the sender tracks marketing e-mails while
    ``track_messages`` is on, and an open or a click recorded shows it was. Otherwise "0
    opened" would claim a measurement that never took place, so the report shows nothing."""
    listed = list(counts)
    sent_tracked = tracking and campaign.channel == "email" and campaign.purpose == "marketing"
    opens = sent_tracked or any(c.get("opened", 0) for c in listed)
    clicks = sent_tracked or any(c.get("clicked", 0) for c in listed)
    return opens, clicks


def _summed(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for each in counts:
        for name, value in each.items():
            total[name] = total.get(name, 0) + value
    return total


def _row(
    variant: str, assigned: int, counts: Mapping[str, int], tracked: tuple[bool, bool]
) -> DeliveryRow:
    sent, bounced = counts.get("sent", 0), counts.get("bounced", 0)
    return DeliveryRow(
        variant=variant,
        assigned=assigned,
        queued=counts.get("queued", 0),
        sent=sent + bounced,
        delivered=sent,
        bounced=bounced,
        cancelled=counts.get("cancelled", 0),
        dead=counts.get("dead", 0),
        opened=counts.get("opened", 0) if tracked[0] else None,
        clicked=counts.get("clicked", 0) if tracked[1] else None,
    )
