"""Read use cases of the knowledge store: find a customer, the customer 360, lists and counts.

Every function takes an open ``Session`` and returns schemas, so the web and the CLI format
plain data and never touch a lazy-loading row after its session has closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, joinedload, selectinload

from patron.customers.models import (
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
    Customer360Public,
    CustomerPublic,
    CustomerSort,
    CustomersPublic,
    InteractionPublic,
    OrderLinePublic,
    OrderPublic,
    ReturnPublic,
    StoreStats,
)
from patron.errors import NotFound, PatronError
from patron.units import MONEY_SCALE

MAX_PER_PAGE = 500
# A page number is a 32-bit integer, so the row offset it asks for fits a 64-bit one on both
# backends (a larger one overflowed SQLite's INTEGER and PostgreSQL's bigint: a 500).
MAX_PAGE = 2**31 - 1
_LARGEST_ID = 2**31 - 1  # customers.id is a 32-bit INTEGER on PostgreSQL
_NO_MONEY = Decimal(0).quantize(Decimal(1).scaleb(-MONEY_SCALE))  # "0.0000", as stored amounts read

_SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "name": Customer.name,
    "external_id": Customer.external_id,
    "created_at": Customer.created_at,
}


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
    """
    order = _order_by(sort)
    _check_page(page, per_page)
    where = _search_filter(search, session.get_bind().dialect.name)
    count = session.scalar(select(func.count()).select_from(Customer).where(*where)) or 0
    rows = session.scalars(
        select(Customer)
        .where(*where)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return CustomersPublic(data=[CustomerPublic.model_validate(row) for row in rows], count=count)


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
    pattern = _escape_like(term) + "%"
    columns = (Customer.name, Customer.email, Customer.external_id)
    if dialect == "sqlite":
        return [or_(*(column.like(pattern, escape="\\") for column in columns))]
    lowered = pattern.lower()
    return [or_(*(func.lower(column).like(lowered, escape="\\") for column in columns))]


def _escape_like(term: str) -> str:
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
    return [
        ReturnPublic(
            id=item.id,
            document=item.document,
            line_no=item.line_no,
            kind=item.kind,
            returned_at=item.returned_at,
            order_line_id=item.order_line_id,
            product_id=item.product_id,
            sku=item.product.sku if item.product else None,
            product_name=item.product.name if item.product else None,
            quantity=item.quantity,
            amount=item.amount,
            reason=item.reason,
        )
        for item in returns
    ]


def _interactions(session: Session, customer_id: int) -> list[InteractionPublic]:
    query = (
        select(Interaction, Product.name)
        .outerjoin(Product, Interaction.product_id == Product.id)
        .where(Interaction.customer_id == customer_id)
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
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
