"""Read use cases of the knowledge store: find a customer, the customer 360, lists and counts.

Every function takes an open ``Session`` and returns schemas, so the web and the CLI format
plain data and never touch a lazy-loading row after its session has closed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, String, func, or_, select, type_coerce, update
from sqlalchemy.orm import InstrumentedAttribute, Session, joinedload, selectinload

from patron.access.models import User
from patron.customers.models import (
    INTERACTION_KINDS,
    Consent,
    Customer,
    Interaction,
    Order,
    OrderLine,
    Product,
    Return,
)
from patron.customers.schemas import (
    ConsentState,
    CurrencyRevenue,
    Customer360Public,
    CustomerFigures,
    CustomerOverview,
    CustomerPublic,
    CustomerSort,
    CustomersPublic,
    InteractionPublic,
    OrderActivity,
    OrderLinePublic,
    OrderPublic,
    OrderSummary,
    ReturnPublic,
    StoreStats,
    TimelineEntry,
)
from patron.errors import NotFound, PatronError
from patron.units import MONEY_SCALE

MAX_PER_PAGE = 500
# A page number is a 32-bit integer, so the row offset it asks for fits a 64-bit one on both
# backends (a larger one overflowed SQLite's INTEGER and PostgreSQL's bigint: a 500).
MAX_PAGE = 2**31 - 1
_LARGEST_ID = 2**31 - 1  # customers.id is a 32-bit INTEGER on PostgreSQL
_NO_MONEY = Decimal(0).quantize(Decimal(1).scaleb(-MONEY_SCALE))  # "0.0000", as stored amounts read
# Index entries a filtered page may walk before SQLite sorts the matches apart instead.
_LONGEST_INDEX_WALK = 20_000
_NAMES_PER_ORDER = 3  # product names an order shows in the timeline

_SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "name": Customer.name,
    "external_id": Customer.external_id,
    "created_at": Customer.created_at,
}


class CustomerRef(NamedTuple):
    """What another area needs to book for a customer: who, by which key, born when."""

    id: int
    external_id: str | None
    birthday: date | None


def customer_ref(session: Session, *, key: str) -> CustomerRef:
    """``find_customer``'s customer, reading three columns (for hot paths such as bookings)."""
    key = key.strip()
    columns = select(Customer.id, Customer.external_id, Customer.birthday)
    found = session.execute(columns.where(Customer.external_id == key)).first()
    if found is None and key.isascii() and key.isdigit() and int(key) <= _LARGEST_ID:
        found = session.execute(columns.where(Customer.id == int(key))).first()
    if found is None:
        raise NotFound(
            f"no customer with external id or number {key!r}",
            code="customers.not_found",
            details={"key": key},
        )
    return CustomerRef(*found)


def customer_for_email(
    session: Session, *, email: str, name: str | None, now: datetime
) -> tuple[CustomerRef, bool]:
    """The customer who writes from ``email`` (the oldest one the shop knows by an external id
    first; the address compared without regard to case), or a new person with that address
    and ``name`` — (customer, created). Flushes, never commits: the caller's use case does."""
    address = email.strip()
    columns = select(Customer.id, Customer.external_id, Customer.birthday)
    order = (Customer.external_id.is_(None), Customer.id)
    found = session.execute(columns.where(Customer.email == address).order_by(*order)).first()
    if found is None:
        lowered = func.lower(Customer.email) == address.lower()
        found = session.execute(columns.where(lowered).order_by(*order)).first()
    if found is not None:
        return CustomerRef(*found), False
    customer = Customer(
        kind="person",
        email=address[:254],
        name=(name or "").strip()[:200] or None,
        first_contact_at=now,
        acquisition_channel="email",
        created_at=now,
        updated_at=now,
    )
    session.add(customer)
    session.flush()
    return CustomerRef(customer.id, None, None), True


def customer_by_number(session: Session, *, customer_id: int) -> CustomerPublic:
    """The customer with Patron's number ``customer_id`` (pages' forms post the number)."""
    found = session.get(Customer, customer_id) if 0 < customer_id <= _LARGEST_ID else None
    if found is None:
        raise NotFound(
            f"no customer with number {customer_id}",
            code="customers.not_found",
            details={"customer_id": customer_id},
        )
    return CustomerPublic.model_validate(found)


def find_customer(session: Session, *, key: str) -> CustomerPublic:
    """The customer whose external id is ``key``, else whose Patron number is ``key``.

    The external id wins because it is what shop staff and integrators know; a shop whose ids
    are plain numbers still reaches its own customer first, never a different one by accident.
    """
    key = key.strip()
    customer = session.scalar(select(Customer).where(Customer.external_id == key))
    if customer is None and key.isascii() and key.isdigit() and int(key) <= _LARGEST_ID:
        customer = session.get(Customer, int(key))
    if customer is None:
        raise NotFound(
            f"no customer with external id or number {key!r}",
            code="customers.not_found",
            details={"key": key},
        )
    return CustomerPublic.model_validate(customer)


def customer_360(session: Session, *, customer_id: int) -> Customer360Public:
    """Profile, consent state, orders with their lines, returns and interactions of one customer."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(
            f"no customer with number {customer_id}",
            code="customers.not_found",
            details={"customer_id": customer_id},
        )
    return Customer360Public(
        profile=CustomerPublic.model_validate(customer),
        consent=consent_state(session, customer_id=customer_id),
        orders=_orders(session, customer_id),
        returns=_returns(session, customer_id),
        interactions=_interactions(session, customer_id),
    )


def list_customers(
    session: Session,
    *,
    search: str | None = None,
    page: int = 1,
    per_page: int = 50,
    sort: str = "name",
    country: str | None = None,
    kind: str | None = None,
) -> CustomersPublic:
    """One page of customers whose name, e-mail address or external id starts with ``search``.

    Matching is a case-insensitive prefix match, written so that an index can serve it:
    ``col LIKE 'term%'`` on SQLite (whose LIKE ignores ASCII case), served by an index on
    ``col COLLATE NOCASE``; ``lower(col) LIKE 'term%'`` on PostgreSQL, served by an index on
    ``lower(col) text_pattern_ops``. Migration 0001 creates those indexes for name, e-mail and
    external id, so a search of 100k customers takes a few milliseconds; ``created_at`` (a sort
    key) is indexed too.
    Never matched: words inside a name (``Schmidt`` does not find ``Anna Schmidt``), and on
    SQLite the other case of non-ASCII letters (``öz`` does not find ``Özil``).

    ``country`` and ``kind`` keep only customers with exactly that value. Neither column is
    indexed, so the count reads every customer (about 25 ms per 100,000 on SQLite). The page
    itself walks the sort key's index and skips the customers that do not match: quick near
    the start, slow deep into a rare value's pages (page 50 of a 4 % country walks 60,000
    entries). When the walk would be long, SQLite sorts the matching ids instead (see
    ``_sorted_apart``); PostgreSQL's planner makes that choice itself.
    """
    order = _order_by(sort)
    _check_page(page, per_page)
    dialect = session.get_bind().dialect.name
    where = _search_filter(search, dialect)
    searched = bool(where)
    if country:
        where.append(Customer.country == country)
    if kind:
        where.append(Customer.kind == kind)
    count = session.scalar(select(func.count()).select_from(Customer).where(*where)) or 0
    offset = (page - 1) * per_page
    query = select(Customer).where(*where).order_by(*order).limit(per_page).offset(offset)
    if dialect == "sqlite" and where and not searched and offset < count:
        everyone = session.scalar(select(func.count()).select_from(Customer)) or 0
        if (offset + per_page) * everyone > _LONGEST_INDEX_WALK * count:
            query = _sorted_apart(where, sort, per_page, offset)
    rows = session.scalars(query)
    return CustomersPublic(data=[CustomerPublic.model_validate(row) for row in rows], count=count)


def _sorted_apart(
    where: list[ColumnElement[bool]], sort: str, per_page: int, offset: int
) -> Select[Customer]:
    """One page by sorting the matching ids apart from the sort key's index (SQLite).

    ``column || ''`` orders like the column, NULL stays NULL, but no index can serve it: SQLite
    reads the table once and sorts only the narrow (key, id) pairs that match, then fetches the
    page's rows by id. Bounded (about 20-90 ms per 100,000 customers), where the index walk
    grows with the page number.
    """
    column = type_coerce(_SORT_COLUMNS[sort.removeprefix("-")], String).concat("")
    key: list[ColumnElement[Any]] = (
        [column.desc().nulls_last(), Customer.id.desc()]
        if sort.startswith("-")
        else [column.asc().nulls_last(), Customer.id.asc()]
    )
    page = select(Customer.id).where(*where).order_by(*key).limit(per_page).offset(offset)
    ids = page.subquery()
    return select(Customer).join(ids, ids.c.id == Customer.id).order_by(*_order_by(sort))


def countries(session: Session, *, limit: int = 300) -> list[str]:
    """The distinct countries of the customers, alphabetically (at most ``limit`` of them).

    ``customers.country`` has no index, so this reads every customer: cache it where it is
    asked for often.
    """
    rows = session.scalars(
        select(Customer.country)
        .where(Customer.country.is_not(None), Customer.country != "")
        .distinct()
        .order_by(Customer.country)
        .limit(limit)
    )
    return [country for country in rows if country]


def order_activity(session: Session, customer_ids: Collection[int]) -> dict[int, OrderActivity]:
    """Number of orders and last purchase of each of a few customers (one page), in one query.

    Served by the index on ``orders (customer_id, placed_at)`` alone. Customers without any
    order are missing from the result.
    """
    if not customer_ids:
        return {}
    rows = session.execute(
        select(Order.customer_id, func.count(), func.max(Order.placed_at))
        .where(Order.customer_id.in_(customer_ids))
        .group_by(Order.customer_id)
    )
    return {
        customer_id: OrderActivity(
            customer_id=customer_id, orders=orders, last_purchase_at=last_purchase_at
        )
        for customer_id, orders, last_purchase_at in rows
        if customer_id is not None
    }


def customer_overview(
    session: Session, *, customer_id: int, timeline_limit: int = 100, currency: str = "EUR"
) -> CustomerOverview:
    """What the customer 360 page shows, in a fixed number of queries whatever the history.

    Profile, account manager, consent state, key figures over the whole history, and the
    newest ``timeline_limit`` orders, returned lines and interactions merged newest first.
    ``currency`` is the shop's, for returns whose purchase is unknown when the customer's own
    orders do not name one currency.
    """
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(
            f"no customer with number {customer_id}",
            code="customers.not_found",
            details={"customer_id": customer_id},
        )
    manager = (
        session.get(User, customer.account_manager_id)
        if customer.account_manager_id is not None
        else None
    )
    figures, return_lines = _figures(session, customer_id, currency)
    orders = _order_summaries(session, customer_id, timeline_limit)
    usual = figures.revenue[0].currency if len(figures.revenue) == 1 else currency
    entries = [
        *(TimelineEntry(kind="order", at=order.placed_at, order=order) for order in orders),
        *(
            TimelineEntry(kind="return", at=item.returned_at, returned=item, currency=code or usual)
            for item, code in _latest_returns(session, customer_id, timeline_limit)
        ),
        *(
            TimelineEntry(kind="interaction", at=item.occurred_at, interaction=item)
            for item in _interactions(session, customer_id, limit=timeline_limit)
        ),
    ]
    entries.sort(key=lambda entry: entry.at, reverse=True)  # stable: ties keep their order
    return CustomerOverview(
        profile=CustomerPublic.model_validate(customer),
        account_manager=(manager.name or manager.email) if manager is not None else None,
        consent=consent_state(session, customer_id=customer_id),
        figures=figures,
        timeline=entries[:timeline_limit],
        timeline_total=figures.orders + return_lines + figures.interactions,
    )


def _figures(session: Session, customer_id: int, currency: str) -> tuple[CustomerFigures, int]:
    """The customer's key figures, and the number of their returned lines."""
    counts = session.execute(
        select(
            func.count(Order.id),
            func.min(Order.placed_at),
            func.max(Order.placed_at),
            select(func.count(func.distinct(Return.document)))
            .where(Return.customer_id == customer_id)
            .scalar_subquery(),
            select(func.count())
            .select_from(Return)
            .where(Return.customer_id == customer_id)
            .scalar_subquery(),
            select(func.count())
            .select_from(Interaction)
            .where(Interaction.customer_id == customer_id)
            .scalar_subquery(),
        ).where(Order.customer_id == customer_id)
    ).one()
    orders, first, last, return_documents, return_lines, interactions = counts
    gross: dict[str, Decimal] = {}
    for code, amount in session.execute(
        select(Order.currency, func.sum(OrderLine.amount))
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.customer_id == customer_id, OrderLine.kind == "sale")
        .group_by(Order.currency)
    ):
        gross[code] = amount
    usual = next(iter(gross)) if len(gross) == 1 else currency
    returned: dict[str, Decimal] = {}
    for code, amount in session.execute(
        select(Order.currency, func.sum(Return.amount))
        .select_from(Return)
        .outerjoin(OrderLine, Return.order_line_id == OrderLine.id)
        .outerjoin(Order, OrderLine.order_id == Order.id)
        .where(Return.customer_id == customer_id)
        .group_by(Order.currency)
    ):
        key = code or usual
        returned[key] = returned.get(key, _NO_MONEY) + amount
    revenue = [
        CurrencyRevenue(
            currency=code,
            gross=gross.get(code, _NO_MONEY),
            returned=returned.get(code, _NO_MONEY),
            net=gross.get(code, _NO_MONEY) - returned.get(code, _NO_MONEY),
        )
        for code in sorted(gross.keys() | returned.keys())
    ]
    figures = CustomerFigures(
        orders=orders,
        first_purchase_at=first,
        last_purchase_at=last,
        returns=return_documents or 0,
        interactions=interactions or 0,
        revenue=revenue,
    )
    return figures, return_lines or 0


def _order_summaries(session: Session, customer_id: int, limit: int) -> list[OrderSummary]:
    """The customer's newest ``limit`` orders with totals and first product names (2 queries)."""
    orders = list(
        session.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .limit(limit)
        )
    )
    if not orders:
        return []
    totals: dict[int, Decimal] = {}
    items: dict[int, Decimal] = {}
    lines: dict[int, int] = {}
    names: dict[int, list[str]] = {}
    rows = session.execute(
        select(
            OrderLine.order_id, OrderLine.kind, OrderLine.quantity, OrderLine.amount, Product.name
        )
        .outerjoin(Product, OrderLine.product_id == Product.id)
        .where(OrderLine.order_id.in_([order.id for order in orders]))
        .order_by(OrderLine.order_id, OrderLine.line_no)
    )
    for order_id, kind, quantity, amount, product_name in rows:
        if kind != "sale":
            continue
        totals[order_id] = totals.get(order_id, _NO_MONEY) + amount
        items[order_id] = items.get(order_id, Decimal(0)) + quantity
        lines[order_id] = lines.get(order_id, 0) + 1
        if product_name and len(names.setdefault(order_id, [])) < _NAMES_PER_ORDER:
            names[order_id].append(product_name)
    return [
        OrderSummary(
            id=order.id,
            external_id=order.external_id,
            placed_at=order.placed_at,
            channel=order.channel,
            store=order.store,
            currency=order.currency,
            status=order.status,
            total=totals.get(order.id, _NO_MONEY),
            items=items.get(order.id, Decimal(0)),
            lines=lines.get(order.id, 0),
            product_names=names.get(order.id, []),
        )
        for order in orders
    ]


def _latest_returns(
    session: Session, customer_id: int, limit: int
) -> list[tuple[ReturnPublic, str | None]]:
    """The customer's newest ``limit`` returned lines, each with its purchase's currency."""
    rows = session.execute(
        select(Return, Product, Order.currency)
        .outerjoin(Product, Return.product_id == Product.id)
        .outerjoin(OrderLine, Return.order_line_id == OrderLine.id)
        .outerjoin(Order, OrderLine.order_id == Order.id)
        .where(Return.customer_id == customer_id)
        .order_by(Return.returned_at.desc(), Return.id.desc())
        .limit(limit)
    )
    return [(_return_public(item, product), currency) for item, product, currency in rows]


def consent_state(session: Session, *, customer_id: int) -> list[ConsentState]:
    """The latest event per channel and purpose from the append-only consent history.

    Events recorded at the same instant are ordered by their row id: the one written last wins.
    """
    events = session.scalars(
        select(Consent)
        .where(Consent.customer_id == customer_id)
        .order_by(Consent.channel, Consent.purpose, Consent.recorded_at, Consent.id)
    )
    return [ConsentState.model_validate(event) for event in latest_per_subject(events)]


def latest_per_subject(events: Iterable[Consent]) -> list[Consent]:
    """From events sorted oldest first within each (channel, purpose), keep each pair's last one."""
    latest: dict[tuple[str, str], Consent] = {}
    for event in events:
        latest[(event.channel, event.purpose)] = event
    return list(latest.values())


def store_stats(session: Session) -> StoreStats:
    """Row counts of the store, in one round trip."""
    counts = session.execute(
        select(
            _count(Customer).label("customers"),
            _count(Order, Order.customer_id.is_(None)).label("anonymous_sales"),
            _count(Order).label("orders"),
            _count(OrderLine).label("order_lines"),
            _count(Return).label("returns"),
            _count(Product).label("products"),
            _count(Interaction).label("interactions"),
            _count(Consent).label("consents"),
        )
    ).one()
    return StoreStats(**counts._asdict())


def _count(model: type[Any], *where: ColumnElement[bool]) -> Any:
    return select(func.count()).select_from(model).where(*where).scalar_subquery()


def _order_by(sort: str) -> list[ColumnElement[Any]]:
    try:
        key = CustomerSort(sort)
    except ValueError:
        allowed = [member.value for member in CustomerSort]
        raise PatronError(
            f"cannot sort customers by {sort!r}; use one of {', '.join(allowed)}",
            code="customers.invalid_sort",
            details={"sort": sort, "allowed": allowed},
        ) from None
    column = _SORT_COLUMNS[key.value.removeprefix("-")]
    # Empty values last in both directions, and the id as tie-breaker, so that pages neither
    # overlap nor skip rows and both backends agree on the order.
    if key.value.startswith("-"):
        return [column.desc().nulls_last(), Customer.id.desc()]
    return [column.asc().nulls_last(), Customer.id.asc()]


def _check_page(page: int, per_page: int) -> None:
    if not 1 <= page <= MAX_PAGE or not 1 <= per_page <= MAX_PER_PAGE:
        raise PatronError(
            f"page must be between 1 and {MAX_PAGE} and per_page between 1 and {MAX_PER_PAGE}",
            code="customers.invalid_page",
            details={"page": page, "per_page": per_page},
        )


def _search_filter(search: str | None, dialect: str) -> list[ColumnElement[bool]]:
    term = (search or "").strip()
    if not term:
        return []
    pattern = escape_like(term) + "%"
    columns = (Customer.name, Customer.email, Customer.external_id)
    if dialect == "sqlite":
        return [or_(*(column.like(pattern, escape="\\") for column in columns))]
    lowered = pattern.lower()
    return [or_(*(func.lower(column).like(lowered, escape="\\") for column in columns))]


def escape_like(term: str) -> str:
    """``term`` for a LIKE pattern with ``escape="\\"``: its own %, _ and \\ match literally."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _orders(session: Session, customer_id: int) -> list[OrderPublic]:
    orders = session.scalars(
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .options(selectinload(Order.lines).joinedload(OrderLine.product))
    )
    return [_order_public(order) for order in orders]


def _order_public(order: Order) -> OrderPublic:
    lines = [_line_public(line) for line in order.lines]
    return OrderPublic(
        id=order.id,
        external_id=order.external_id,
        placed_at=order.placed_at,
        channel=order.channel,
        store=order.store,
        currency=order.currency,
        status=order.status,
        total=sum((line.amount for line in lines if line.kind == "sale"), start=_NO_MONEY),
        lines=lines,
    )


def _line_public(line: OrderLine) -> OrderLinePublic:
    return OrderLinePublic(
        line_no=line.line_no,
        kind=line.kind,
        product_id=line.product_id,
        sku=line.product.sku if line.product else None,
        product_name=line.product.name if line.product else None,
        quantity=line.quantity,
        unit_price=line.unit_price,
        discount=line.discount,
        amount=line.amount,
    )


def _returns(session: Session, customer_id: int) -> list[ReturnPublic]:
    returns = session.scalars(
        select(Return)
        .where(Return.customer_id == customer_id)
        .order_by(Return.returned_at.desc(), Return.id.desc())
        .options(joinedload(Return.product))
    )
    return [_return_public(item, item.product) for item in returns]


def _return_public(item: Return, product: Product | None) -> ReturnPublic:
    return ReturnPublic(
        id=item.id,
        document=item.document,
        line_no=item.line_no,
        kind=item.kind,
        returned_at=item.returned_at,
        order_line_id=item.order_line_id,
        product_id=item.product_id,
        sku=product.sku if product else None,
        product_name=product.name if product else None,
        quantity=item.quantity,
        amount=item.amount,
        reason=item.reason,
    )


def _interactions(
    session: Session, customer_id: int, *, limit: int | None = None
) -> list[InteractionPublic]:
    query = (
        select(Interaction, Product.name)
        .outerjoin(Product, Interaction.product_id == Product.id)
        .where(Interaction.customer_id == customer_id)
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
        .limit(limit)
    )
    return [
        InteractionPublic(
            id=interaction.id,
            kind=interaction.kind,
            occurred_at=interaction.occurred_at,
            product_id=interaction.product_id,
            product_name=product_name,
            note=interaction.note,
            payload=interaction.payload,
        )
        for interaction, product_name in session.execute(query)
    ]


# --- for care: key accounts' managers, contacts and latest orders ---------------------------


_UPDATE_CHUNK = 5_000  # customers per UPDATE: well below PostgreSQL's 65,535 parameters


def set_account_managers(session: Session, managers: dict[int, int | None]) -> int:
    """Record who looks after each customer (customer id → user id, None: nobody); how many
    customers changed. One UPDATE per manager and chunk of customers, touching only rows that
    differ. Never commits: the caller's use case (the key-account assignment) does."""
    by_manager: dict[int | None, list[int]] = {}
    for customer_id, manager_id in managers.items():
        by_manager.setdefault(manager_id, []).append(customer_id)
    changed = 0
    for manager_id, ids in by_manager.items():
        ids.sort()
        for start in range(0, len(ids), _UPDATE_CHUNK):
            result = session.execute(
                update(Customer)
                .where(
                    Customer.id.in_(ids[start : start + _UPDATE_CHUNK]),
                    Customer.account_manager_id.is_distinct_from(manager_id),
                )
                .values(account_manager_id=manager_id)
                .execution_options(synchronize_session=False)
            )
            changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


def record_interaction(
    session: Session,
    *,
    customer_id: int,
    kind: str,
    occurred_at: datetime,
    note: str | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Add a contact to the customer's history (it shows on the 360's timeline); its id.
    Flushes, never commits."""
    if kind not in INTERACTION_KINDS:
        raise PatronError(
            f"unknown interaction kind {kind!r}; choose one of: {', '.join(INTERACTION_KINDS)}",
            code="customers.invalid",
            details={"field": "kind", "value": kind},
        )
    row = Interaction(
        customer_id=customer_id, kind=kind, occurred_at=occurred_at, note=note, payload=payload
    )
    session.add(row)
    session.flush()
    return int(row.id)


class RecentOrder(NamedTuple):
    """One of a customer's newest orders: number, when, its total of sale lines."""

    customer_id: int
    external_id: str
    placed_at: datetime
    currency: str
    total: Decimal


def recent_orders(
    session: Session, customer_ids: Collection[int], *, per_customer: int = 3
) -> dict[int, list[RecentOrder]]:
    """The newest ``per_customer`` orders of each of a few customers (a page of them), newest
    first, in one query; customers without orders are missing."""
    if not customer_ids:
        return {}
    ranked = (
        select(
            Order.id,
            Order.customer_id,
            Order.external_id,
            Order.placed_at,
            Order.currency,
            func.row_number()
            .over(
                partition_by=Order.customer_id,
                order_by=(Order.placed_at.desc(), Order.id.desc()),
            )
            .label("n"),
        )
        .where(Order.customer_id.in_(sorted(customer_ids)))
        .subquery()
    )
    total = (
        select(func.sum(OrderLine.amount))
        .where(OrderLine.order_id == ranked.c.id, OrderLine.kind == "sale")
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            ranked.c.customer_id,
            ranked.c.external_id,
            ranked.c.placed_at,
            ranked.c.currency,
            total,
        )
        .where(ranked.c.n <= per_customer)
        .order_by(ranked.c.customer_id, ranked.c.n)
    )
    found: dict[int, list[RecentOrder]] = {}
    for customer_id, external_id, placed_at, currency, amount in rows:
        found.setdefault(customer_id, []).append(
            RecentOrder(customer_id, external_id, placed_at, currency, amount or _NO_MONEY)
        )
    return found
