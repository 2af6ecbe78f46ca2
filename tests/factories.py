"""Small builders of knowledge-store rows for tests: sensible defaults, every field overridable.

Each helper adds its row to the given session and flushes (so ids exist); the test commits.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from patron.access.schemas import UserPublic
from patron.customers.models import (
    Consent,
    Customer,
    Interaction,
    Order,
    OrderLine,
    Product,
    Return,
)

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
_serial = itertools.count(1)
RowT = TypeVar("RowT")


def at(days: float = 0, **delta: float) -> datetime:
    """An instant ``days`` (and any other ``timedelta`` keywords) after ``T0``."""
    return T0 + timedelta(days=days, **delta)


def _add(session: Session, row: RowT) -> RowT:
    session.add(row)
    session.flush()
    return row


def customer(session: Session, **fields: Any) -> Customer:
    n = next(_serial)
    values: dict[str, Any] = {
        "external_id": f"C{n:05d}",
        "name": f"Customer {n:05d}",
        "email": f"customer{n:05d}@example.org",
        "kind": "person",
    }
    return _add(session, Customer(**(values | fields)))


def product(session: Session, **fields: Any) -> Product:
    n = next(_serial)
    values: dict[str, Any] = {"sku": f"SKU-{n:05d}", "name": f"Product {n:05d}"}
    values["price"] = Decimal("10.00")
    return _add(session, Product(**(values | fields)))


def line(
    product: Product | None = None,
    *,
    quantity: Decimal | int | str = 1,
    unit_price: Decimal | int | str = "10.00",
    discount: Decimal | int | str = 0,
    **fields: Any,
) -> dict[str, Any]:
    """Fields of one line for ``order(lines=[...])``; amount = quantity × price − discount."""
    q, p, d = Decimal(quantity), Decimal(unit_price), Decimal(discount)
    values = {"product": product, "quantity": q, "unit_price": p, "discount": d}
    values["amount"] = q * p - d
    return values | fields


def order(
    session: Session,
    customer: Customer | None = None,
    *,
    lines: Sequence[dict[str, Any]] = (),
    **fields: Any,
) -> Order:
    """An order (anonymous without ``customer``) with the given lines, numbered from 1."""
    n = next(_serial)
    values: dict[str, Any] = {"external_id": f"O{n:05d}", "placed_at": T0, "currency": "EUR"}
    built = Order(customer=customer, **(values | fields))
    built.lines = [OrderLine(line_no=i, **spec) for i, spec in enumerate(lines, start=1)]
    return _add(session, built)


def return_(
    session: Session,
    order_line: OrderLine | None = None,
    *,
    customer: Customer | None = None,
    **fields: Any,
) -> Return:
    """A return of ``order_line`` (all of it, unless quantity/amount say otherwise)."""
    n = next(_serial)
    values: dict[str, Any] = {"document": f"R{n:05d}", "line_no": 1, "returned_at": at(7)}
    if order_line is not None:
        values |= {
            "order_line_id": order_line.id,
            "product_id": order_line.product_id,
            "quantity": order_line.quantity,
            "amount": order_line.amount,
            "customer_id": order_line.order.customer_id,
        }
    else:
        values |= {"quantity": Decimal(1), "amount": Decimal("10.00")}
    if customer is not None:
        values["customer_id"] = customer.id
    return _add(session, Return(**(values | fields)))


def interaction(session: Session, customer: Customer, **fields: Any) -> Interaction:
    values: dict[str, Any] = {"kind": "visit", "occurred_at": T0}
    return _add(session, Interaction(customer_id=customer.id, **(values | fields)))


def consent(session: Session, customer: Customer, **fields: Any) -> Consent:
    values: dict[str, Any] = {
        "channel": "email",
        "purpose": "marketing",
        "granted": True,
        "source": "test",
        "recorded_at": T0,
    }
    return _add(session, Consent(customer_id=customer.id, **(values | fields)))


def api_token(session: Session, *scopes: str, name: str = "test") -> str:
    """The token of a new API key with these scopes (created through the access service, which
    commits: call it outside the test's own transaction)."""
    from patron.access import service as access

    _key, token = access.create_api_key(session, name=name, scopes=list(scopes))
    return token


PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def user(
    session: Session, role: str = "admin", *, email: str | None = None, **fields: Any
) -> UserPublic:
    """A new active user (password ``PASSWORD``) through the access service, which commits."""
    from patron.access import service as access

    address = email or f"{role}-{next(_serial)}@example.com"
    return access.create_user(
        session, email=address, password=fields.pop("password", PASSWORD), role=role, **fields
    )


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found[1]


def browser(app: Any, sessions: sessionmaker[Session], role: str, **fields: str) -> TestClient:
    """A client that asks for HTML, as a browser does, signed in as a new user with ``role``."""
    with sessions() as session:
        email = user(session, role, **fields).email
    client = TestClient(app, headers={"Accept": "text/html"})
    sign_in(client, email)
    return client


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    """Sign ``client`` in through the sign-in form, as a browser would; the final response."""
    form = client.get("/sign-in")
    assert form.status_code == 200, form.text
    return client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_token(form.text)},
    )
