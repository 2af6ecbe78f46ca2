"""The overview's figures: key figures and monthly series of the whole customer base.

Everything is computed by five aggregate queries and two index look-ups (no Python loop over
orders or customers), on SQLite and on PostgreSQL alike; see ``_Periods`` for how the monthly
figures spare SQLite a sort of every row.

Definitions (the page states them too):

- **As of**: the instant of the latest order in the store, not today, so a store of historical
  imports (UCI Online Retail, ending in December 2011) still shows meaningful figures. The
  *last 12 months* run from the same moment one year earlier up to *as of*, both included.
- **Revenue** (net): the ``amount`` of ``sale`` lines of orders placed in the period, minus the
  ``amount`` of returns and cancellations dated in the period (a return is stored with a
  positive refunded amount, so it is subtracted). ``adjustment`` lines are bookkeeping (stock
  corrections, bad-debt write-offs), not revenue, and are left out, as in the customer 360.
  Anonymous sales are shop revenue and count; revenue is the shop's.
- **Orders**: orders placed in the period with at least one sale line (anonymous ones too).
  **Average order value** = revenue / orders.
- **Customers**: every customer record. **Active customers**: customers with an order in the
  last 12 months.
- **Repeat-purchase rate**: of the customers who ever bought (up to *as of*), the share who
  bought on at least two different days (several orders on one day are one purchase).
- **New vs returning** per month: a customer is *new* in the month of their first order ever
  and *returning* in every later month in which they order.
- **Money** is summed in one currency: the currency of the latest order. Orders in other
  currencies (and returns of their lines) are left out of the money figures and counted in
  ``other_currency_orders``, so that pounds and euros are never added up.

Months and days are calendar months and days in UTC, the time zone orders are stored in;
a month's bucket can therefore differ from the shop's local calendar by a few hours at its edges.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from sqlalchemy import (
    Date,
    Engine,
    FromClause,
    Row,
    case,
    cast,
    exists,
    func,
    literal_column,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from patron.customers.models import Customer, Order, OrderLine, Return
from patron.sqltypes import Money
from patron.units import MONEY_SCALE

CHART_MONTHS = 24
TOP_COUNTRIES = 10
_ZERO = Decimal(0).quantize(Decimal(1).scaleb(-MONEY_SCALE))
_N = TypeVar("_N", int, Decimal)


@dataclass(frozen=True)
class MonthRevenue:
    """Net revenue of one calendar month (UTC): sales minus returns, and the orders with sales."""

    month: date  # the first day of the month
    sales: Decimal
    returns: Decimal
    orders: int

    @property
    def revenue(self) -> Decimal:
        return self.sales - self.returns


@dataclass(frozen=True)
class MonthCustomers:
    """Customers who ordered in one month: first order ever (``new``) or a later one."""

    month: date
    new: int
    returning: int


@dataclass(frozen=True)
class CountryCustomers:
    """Customers of one country; ``other`` sums the countries beyond the top ten."""

    kind: Literal["country", "other", "unknown"]
    country: str | None
    customers: int


@dataclass(frozen=True)
class Overview:
    """The overview's figures; without orders only the customer counts are filled in."""

    as_of: datetime | None  # the latest order's instant; None when there are no orders
    since: datetime | None  # the last 12 months start at this instant
    currency: str | None
    customers: int
    active_customers: int
    buyers: int  # customers with at least one order
    repeat_buyers: int  # ... on at least two different days
    revenue: Decimal  # last 12 months, net of returns
    sales: Decimal  # last 12 months, before returns
    returns: Decimal  # last 12 months
    orders: int  # last 12 months, with at least one sale line
    other_currency_orders: int  # last 12 months, left out of the money figures
    by_month: Sequence[MonthRevenue]
    customers_by_month: Sequence[MonthCustomers]
    countries: Sequence[CountryCustomers]

    @property
    def has_orders(self) -> bool:
        return self.as_of is not None

    @property
    def repeat_rate(self) -> float | None:
        return self.repeat_buyers / self.buyers if self.buyers else None

    @property
    def average_order_value(self) -> Decimal | None:
        if not self.orders:
            return None
        return (self.revenue / self.orders).quantize(_ZERO)


# The overview reads every order of the last two years: about 0.7 s at 100,000 customers on
# SQLite. Its figures change only when rows are added (imports, the shop's events) or, rarely,
# edited, so they are kept per database and worked out again when the highest id of a customer,
# an order line or a return moves, or after OVERVIEW_TTL_SECONDS at the latest.
OVERVIEW_TTL_SECONDS = 60.0
_overview_cache: weakref.WeakKeyDictionary[Engine, tuple[tuple[Any, ...], float, Overview]] = (
    weakref.WeakKeyDictionary()
)
_overview_lock = threading.Lock()


def cached_overview(session: Session) -> Overview:
    """``overview(session)``, from the cache while nothing was added and it is fresh enough."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    fingerprint = tuple(
        session.execute(
            select(
                select(func.max(Customer.id)).scalar_subquery(),
                select(func.max(OrderLine.id)).scalar_subquery(),
                select(func.max(Return.id)).scalar_subquery(),
            )
        ).one()
    )
    now = time.monotonic()
    with _overview_lock:
        cached = _overview_cache.get(engine)
    if cached is not None and cached[0] == fingerprint and now - cached[1] < OVERVIEW_TTL_SECONDS:
        return cached[2]
    figures = overview(session)
    with _overview_lock:
        _overview_cache[engine] = (fingerprint, now, figures)
    return figures


def overview(session: Session) -> Overview:
    """The overview of the whole store as of its latest order (see the module's definitions)."""
    customers, countries = _countries(session)
    latest = session.execute(
        select(Order.placed_at, Order.currency)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return Overview(
            as_of=None,
            since=None,
            currency=None,
            customers=customers,
            active_customers=0,
            buyers=0,
            repeat_buyers=0,
            revenue=_ZERO,
            sales=_ZERO,
            returns=_ZERO,
            orders=0,
            other_currency_orders=0,
            by_month=[],
            customers_by_month=[],
            countries=countries,
        )
    as_of, currency = latest
    since = one_year_before(as_of)
    first_order = session.scalar(select(func.min(Order.placed_at)))
    assert first_order is not None  # there is a latest order
    months = chart_months(first_order.date(), as_of.date())
    month_starts = [datetime(m.year, m.month, 1, tzinfo=as_of.tzinfo) for m in months]
    # The month one year back is cut at ``since``, so that each segment is in the year or not.
    bounds = sorted({*month_starts, since} if month_starts[0] < since else set(month_starts))
    periods = _Periods(session.get_bind().dialect.name, bounds, as_of)

    sales, orders = _sales(session, periods, currency)
    months_only = _Periods(periods.dialect, month_starts, as_of)
    ordering = _ordering(session, months_only, currency, since)
    # Telling refunds apart by currency costs two look-ups per refund: only in a store that
    # has orders in another currency (in the charted months, or before them).
    mixed = ordering.foreign > 0 or bool(
        session.scalar(
            select(exists().where(Order.placed_at < month_starts[0], Order.currency != currency))
        )
    )
    returns = _returns(session, periods, currency if mixed else None)
    buyers = _buyers(session, periods.dialect, since)

    sales_by_month, orders_by_month = _per_month(sales), _per_month(orders)
    returns_by_month = _per_month(returns)
    by_month = [
        MonthRevenue(
            month=month,
            sales=sales_by_month.get(month, _ZERO),
            returns=returns_by_month.get(month, _ZERO),
            orders=orders_by_month.get(month, 0),
        )
        for month in months
    ]
    customers_by_month = [
        MonthCustomers(
            month=month,
            new=buyers.new.get(month, 0),
            returning=ordering.customers.get(start, 0) - buyers.new.get(month, 0),
        )
        for month, start in zip(months, month_starts, strict=True)
    ]
    year_sales = sum((v for start, v in sales.items() if start >= since), _ZERO)
    year_returns = sum((v for start, v in returns.items() if start >= since), _ZERO)
    return Overview(
        as_of=as_of,
        since=since,
        currency=currency,
        customers=customers,
        active_customers=buyers.active,
        buyers=buyers.buyers,
        repeat_buyers=buyers.repeat,
        revenue=year_sales - year_returns,
        sales=year_sales,
        returns=year_returns,
        orders=sum(n for start, n in orders.items() if start >= since),
        other_currency_orders=ordering.foreign_in_year,
        by_month=by_month,
        customers_by_month=customers_by_month,
        countries=countries,
    )


def _per_month(values: dict[datetime, _N]) -> dict[date, _N]:
    """Segments' values added up per calendar month (the month cut at ``since`` is two)."""
    months: dict[date, _N] = {}
    for start, value in values.items():
        month = date(start.year, start.month, 1)
        months[month] = months[month] + value if month in months else value
    return months


def one_year_before(instant: datetime) -> datetime:
    """The same moment one calendar year earlier (29 February becomes 28 February)."""
    try:
        return instant.replace(year=instant.year - 1)
    except ValueError:
        return instant.replace(year=instant.year - 1, day=28)


def chart_months(first: date, last: date, count: int = CHART_MONTHS) -> list[date]:
    """First days of the ``count`` months up to ``last``'s, from ``first``'s month if that is later."""
    index = last.year * 12 + last.month - 1
    start = max(index - count + 1, first.year * 12 + first.month - 1)
    return [date(i // 12, i % 12 + 1, 1) for i in range(start, index + 1)]


class _Periods:
    """Aggregates per segment of time: ``[bounds[i], bounds[i + 1])``, the last up to ``end``.

    SQLite aggregates a GROUP BY by sorting every row first (it has no hash aggregation), which
    at a million orders costs more than the aggregation itself. So on SQLite each segment is
    its own SELECT over an index range of the instant, the segments glued with UNION ALL: one
    statement, no sort. PostgreSQL groups by the segment's number with a hash aggregate, and so
    does SQLite (sorting) when ``instant`` has no index.
    """

    def __init__(self, dialect: str, bounds: Sequence[datetime], end: datetime) -> None:
        self.dialect = dialect
        self.bounds = list(bounds)
        self.end = end

    def aggregate(
        self,
        session: Session,
        instant: Any,
        columns: Sequence[ColumnElement[Any]],
        source: FromClause,
        *where: ColumnElement[bool],
        indexed: bool = True,
    ) -> dict[datetime, Row[Any]]:
        """The row of ``columns`` for each segment (by its start) in which ``source`` has rows.

        ``indexed`` says whether ``instant`` has an index; without one, a segment per SELECT
        would scan the table once per segment, so the rows are grouped instead.
        """
        last = len(self.bounds) - 1
        if self.dialect == "sqlite" and indexed:
            parts = [
                select(literal_column(str(i)).label("segment"), *columns)
                .select_from(source)
                .where(
                    *where,
                    instant >= start,
                    instant < self.bounds[i + 1] if i < last else instant <= self.end,
                )
                for i, start in enumerate(self.bounds)
            ]
            statement = union_all(*parts) if len(parts) > 1 else parts[0]
        else:
            # One segment only: a CASE without any WHEN is not SQL.
            segment = (
                case(
                    *(
                        (instant < bound, literal_column(str(i)))
                        for i, bound in enumerate(self.bounds[1:])
                    ),
                    else_=literal_column(str(last)),
                )
                if last
                else literal_column("0")
            ).label("segment")
            statement = (
                select(segment, *columns)
                .select_from(source)
                .where(*where, instant >= self.bounds[0], instant <= self.end)
            )
            if last:
                # A single segment needs no grouping; SQLite would read GROUP BY 0 as the
                # position of a column, which does not exist.
                statement = statement.group_by(segment)
        # On SQLite an empty segment still answers one row: of NULL sums and zero counts.
        return {self.bounds[row.segment]: row for row in session.execute(statement)}


def _sales(
    session: Session, periods: _Periods, currency: str
) -> tuple[dict[datetime, Decimal], dict[datetime, int]]:
    """Per segment: the amount of sale lines of orders in ``currency``, and how many orders.

    PostgreSQL sorts for a COUNT(DISTINCT), so there the lines are first summed per order (a
    hash aggregate) and the orders counted; SQLite, which sorts for any GROUP BY, counts the
    distinct orders of each segment's lines instead.
    """
    lines = Order.__table__.join(OrderLine.__table__, OrderLine.order_id == Order.id)
    where = (OrderLine.kind == "sale", Order.currency == currency)
    if periods.dialect == "sqlite":
        amount = type_coerce(func.sum(OrderLine.amount), Money()).label("sales")
        orders = func.count(func.distinct(OrderLine.order_id)).label("orders")
        rows = periods.aggregate(session, Order.placed_at, [amount, orders], lines, *where)
    else:
        per_order = (
            select(Order.placed_at, func.sum(OrderLine.amount).label("amount"))
            .select_from(lines)
            .where(*where)
            .group_by(Order.id)
            .subquery()
        )
        amount = type_coerce(func.sum(per_order.c.amount), Money()).label("sales")
        rows = periods.aggregate(
            session, per_order.c.placed_at, [amount, func.count().label("orders")], per_order
        )
    sales = {start: row.sales or _ZERO for start, row in rows.items()}
    return sales, {start: row.orders for start, row in rows.items()}


def _returns(session: Session, periods: _Periods, currency: str | None) -> dict[datetime, Decimal]:
    """Per segment: refunds; with a ``currency``, except of lines sold in another one (refunds
    without a known purchase count). Without, every refund counts: the store has one currency.
    """
    source: FromClause = Return.__table__
    where: list[ColumnElement[bool]] = []
    if currency is not None:
        source = source.outerjoin(
            OrderLine.__table__, OrderLine.id == Return.order_line_id
        ).outerjoin(Order.__table__, Order.id == OrderLine.order_id)
        where.append((Order.currency == currency) | Order.currency.is_(None))
    rows = periods.aggregate(
        session,
        Return.returned_at,
        [type_coerce(func.sum(Return.amount), Money()).label("amount")],
        source,
        *where,
        indexed=False,
    )
    return {start: row.amount or _ZERO for start, row in rows.items()}


@dataclass(frozen=True)
class _Ordering:
    customers: dict[datetime, int]  # different customers who ordered, per month
    foreign: int  # orders in another currency in the charted months
    foreign_in_year: int  # ... and in the last 12 months


def _ordering(session: Session, months: _Periods, currency: str, since: datetime) -> _Ordering:
    """Per month: how many different customers ordered; and, in the same pass over the orders,
    how many orders are in other currencies than ``currency``."""
    foreign = Order.currency != currency
    rows = months.aggregate(
        session,
        Order.placed_at,
        [
            func.count(func.distinct(Order.customer_id)).label("customers"),
            func.sum(case((foreign, 1), else_=0)).label("foreign"),
            func.sum(case((foreign & (Order.placed_at >= since), 1), else_=0)).label("recent"),
        ],
        Order.__table__,
    )
    return _Ordering(
        customers={start: row.customers for start, row in rows.items()},
        foreign=sum(int(row.foreign or 0) for row in rows.values()),
        foreign_in_year=sum(int(row.recent or 0) for row in rows.values()),
    )


@dataclass(frozen=True)
class _Buyers:
    buyers: int
    repeat: int
    active: int
    new: dict[date, int]  # customers by the month of their first order


def _buyers(session: Session, dialect: str, since: datetime) -> _Buyers:
    """Customers who ordered: all, on two days or more, since ``since``, new per month.

    One pass over the (customer, placed_at) index gives each customer's first and last order;
    bought on two different days <=> the first order's day differs from the last one's.
    """
    per_customer = (
        select(
            func.min(Order.placed_at).label("first_at"),
            func.max(Order.placed_at).label("last_at"),
        )
        .where(Order.customer_id.is_not(None))
        .group_by(Order.customer_id)
        .subquery()
    )
    first_month = _month(dialect, per_customer.c.first_at).label("month")
    repeat = case(
        (_day(dialect, per_customer.c.first_at) != _day(dialect, per_customer.c.last_at), 1),
        else_=0,
    )
    active = case((per_customer.c.last_at >= since, 1), else_=0)
    rows = session.execute(
        select(
            first_month,
            func.count().label("buyers"),
            func.sum(repeat).label("repeat"),
            func.sum(active).label("active"),
        ).group_by(first_month)
    ).all()
    return _Buyers(
        buyers=sum(row.buyers for row in rows),
        repeat=sum(int(row.repeat) for row in rows),
        active=sum(int(row.active) for row in rows),
        new={_month_start(row.month): row.buyers for row in rows},
    )


# SQLite stores an instant as UTC text in SQLAlchemy's fixed format "YYYY-MM-DD HH:MM:SS.ffffff"
# (``UTCDateTime``; the importer writes the same), so its month and day are prefixes, several
# times cheaper than strftime(). PostgreSQL formats the instant in UTC; the formats are literals
# in the SQL, so that the selected and the grouped expression are one and the same.
def _month(dialect: str, instant: Any) -> ColumnElement[str]:
    if dialect == "sqlite":
        return func.substr(instant, literal_column("1"), literal_column("7"))
    utc = func.timezone(literal_column("'UTC'"), instant)
    return func.to_char(utc, literal_column("'YYYY-MM'"))


def _day(dialect: str, instant: Any) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return func.substr(instant, literal_column("1"), literal_column("10"))
    return cast(func.timezone(literal_column("'UTC'"), instant), Date)


def _month_start(text: str) -> date:
    year, month = text.split("-")
    return date(int(year), int(month), 1)


def _countries(session: Session) -> tuple[int, list[CountryCustomers]]:
    """All customers, and per country: the top ten, the other countries, no country given.

    Grouped by the stored value; blank values and surrounding spaces are tidied here, on the
    few groups, not on every customer.
    """
    counts: dict[str | None, int] = {}
    for country, customers in session.execute(
        select(Customer.country, func.count()).group_by(Customer.country)
    ):
        name = (country or "").strip() or None
        counts[name] = counts.get(name, 0) + customers
    unknown = counts.pop(None, 0)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    result = [CountryCustomers("country", name, n) for name, n in ranked[:TOP_COUNTRIES]]
    others = sum(n for _name, n in ranked[TOP_COUNTRIES:])
    if others:
        result.append(CountryCustomers("other", None, others))
    if unknown:
        result.append(CountryCustomers("unknown", None, unknown))
    return sum(counts.values()) + unknown, result
