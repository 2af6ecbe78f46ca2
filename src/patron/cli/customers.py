"""``patron customers`` and ``patron stats``: one customer's 360, a searchable list, the counts.

Rich and the service load inside the commands, so ``patron --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from patron.cli import output
from patron.cli.output import JSON_OPTION, in_session, print_json, runtime

if TYPE_CHECKING:
    from datetime import datetime, tzinfo
    from decimal import Decimal

    from rich.console import RenderableType
    from rich.table import Table
    from sqlalchemy.orm import Session

    from patron.customers.schemas import (
        ConsentState,
        Customer360Public,
        CustomerPublic,
        CustomersPublic,
        InteractionPublic,
        OrderPublic,
        ReturnPublic,
        StoreStats,
    )

T = TypeVar("T")

app = typer.Typer(
    help="The customer knowledge store: show one customer, list many.", no_args_is_help=True
)

STAT_LABELS = {
    "customers": "customers",
    "anonymous_sales": "anonymous sales",
    "orders": "orders",
    "order_lines": "order lines",
    "returns": "returns",
    "products": "products",
    "interactions": "interactions",
    "consents": "consent events",
}
NUMERIC_COLUMNS = frozenset({"#", "qty", "unit price", "discount", "amount", "count"})
WHEN_COLUMNS = frozenset({"placed", "since", "when", "returned"})


@app.command("show")
def show(
    key: str = typer.Argument(..., help="External id, or Patron's number for the customer."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Everything known about one customer: profile, consent, orders, returns, interactions."""
    from patron.customers import service

    def load(session: Session) -> Customer360Public:
        customer = service.find_customer(session, key=key)
        return service.customer_360(session, customer_id=customer.id)

    view, zone = _read(load)
    if json_output:
        print_json(view)
    else:
        _print_360(view, zone)


@app.command("list")
def list_customers(
    search: str | None = typer.Option(
        None, "--search", "-s", help="Start of a name, e-mail address or external id."
    ),
    page: int = typer.Option(1, min=1, help="Page number, from 1."),
    per_page: int = typer.Option(50, "--per-page", min=1, max=500, help="Customers per page."),
    sort: str = typer.Option(
        "name", help="name, external_id or created_at; a leading '-' sorts descending."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """List customers, optionally only those matching --search."""
    from patron.customers import service

    found, zone = _read(
        lambda session: service.list_customers(
            session, search=search, page=page, per_page=per_page, sort=sort
        )
    )
    if json_output:
        print_json(found)
    else:
        _print_list(found, page=page, per_page=per_page, zone=zone)


def stats(json_output: bool = JSON_OPTION) -> None:
    """Count what the store holds: customers, anonymous sales, orders, returns, products…"""
    from patron.customers import service

    counts, _zone = _read(service.store_stats)
    if json_output:
        print_json(counts)
    else:
        _print_stats(counts)


def _read(work: Callable[[Session], T]) -> tuple[T, tzinfo]:
    """Run one use case on a fresh session; also return the shop's time zone for display."""
    rt = runtime()
    return in_session(work, rt), rt.settings.tz


def _print_360(view: Customer360Public, zone: tzinfo) -> None:
    console = output.console()
    console.print(_profile(view.profile, zone))
    for table in (
        _consent(view.consent, zone),
        _orders(view.orders, zone),
        _returns(view.returns, zone),
        _interactions(view.interactions, zone),
    ):
        console.print(table)


def _profile(profile: CustomerPublic, zone: tzinfo) -> Table:
    from rich.table import Table

    title = f"{profile.name or '(no name)'}  [dim]{profile.external_id or '-'} · #{profile.id}[/]"
    grid = Table.grid(padding=(0, 2))
    grid.title, grid.title_justify = title, "left"
    fields = {
        "kind": profile.kind,
        "e-mail": profile.email,
        "phone": profile.phone,
        "city": ", ".join(part for part in (profile.city, profile.country) if part) or None,
        "language": profile.language,
        "birthday": profile.birthday.isoformat() if profile.birthday else None,
        "first contact": _when(profile.first_contact_at, zone),
        "acquired via": profile.acquisition_channel,
        "account manager": str(profile.account_manager_id or "") or None,
        "in Patron since": _when(profile.created_at, zone),
    }
    for label, value in fields.items():
        if value:
            grid.add_row(f"[dim]{label}[/]", value)
    return grid


def _consent(states: list[ConsentState], zone: tzinfo) -> RenderableType:
    table = _table("Consent", "channel", "purpose", "state", "since", "source")
    for state in states:
        shown = "[green]granted[/]" if state.granted else "[red]withdrawn[/]"
        table.add_row(
            state.channel, state.purpose, shown, _when(state.recorded_at, zone), state.source
        )
    return _or_none(table, "no consent recorded: nothing may be sent")


def _orders(orders: list[OrderPublic], zone: tzinfo) -> RenderableType:
    table = _table(
        "Orders", "order", "placed", "product", "qty", "unit price", "discount", "amount"
    )
    for order in orders:
        where = " · ".join(part for part in (order.channel, order.store, order.status) if part)
        table.add_row(
            f"[bold]{order.external_id}[/]",
            _when(order.placed_at, zone),
            f"[dim]{where}[/]",
            "",
            "",
            "",
            f"[bold]{_money(order.total)} {order.currency}[/]",
        )
        for line in order.lines:
            product = line.product_name or line.sku or ("adjustment" if line.kind != "sale" else "")
            table.add_row(
                f"  {line.line_no}",
                "",
                product,
                _quantity(line.quantity),
                _money(line.unit_price),
                _money(line.discount) if line.discount else "",
                _money(line.amount),
            )
    return _or_none(table, "no orders")


def _returns(returns: list[ReturnPublic], zone: tzinfo) -> RenderableType:
    table = _table("Returns", "document", "returned", "kind", "product", "qty", "amount", "reason")
    for item in returns:
        table.add_row(
            f"{item.document}/{item.line_no}",
            _when(item.returned_at, zone),
            item.kind,
            item.product_name or item.sku or "",
            _quantity(item.quantity),
            _money(item.amount),
            item.reason or "",
        )
    return _or_none(table, "no returns")


def _interactions(interactions: list[InteractionPublic], zone: tzinfo) -> RenderableType:
    table = _table("Interactions", "when", "kind", "product", "note")
    for item in interactions:
        table.add_row(
            _when(item.occurred_at, zone), item.kind, item.product_name or "", item.note or ""
        )
    return _or_none(table, "no interactions")


def _print_list(found: CustomersPublic, *, page: int, per_page: int, zone: tzinfo) -> None:
    console = output.console()
    if not found.data:
        console.print(
            f"page {page} is past the end: {found.count} customers match"
            if found.count
            else "no customers match"
        )
        return
    table = _table("Customers", "#", "external id", "name", "e-mail", "city", "since")
    for customer in found.data:
        table.add_row(
            str(customer.id),
            customer.external_id or "",
            customer.name or "",
            customer.email or "",
            customer.city or "",
            _when(customer.created_at, zone),
        )
    pages = max(1, -(-found.count // per_page))
    table.caption = f"page {page} of {pages} · {found.count} customers"
    console.print(table)


def _print_stats(counts: StoreStats) -> None:
    table = _table("Knowledge store", "what", "count")
    for field, label in STAT_LABELS.items():
        table.add_row(label, f"{getattr(counts, field):,}")
    output.console().print(table)


def _or_none(table: Table, message: str) -> RenderableType:
    """An empty section is its title and a line saying so, not an empty frame."""
    if table.rows:
        return table
    from rich.text import Text

    return Text.from_markup(f"[bold]{table.title}[/]  [dim]{message}[/]")


def _when(value: datetime | None, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


def _money(value: Decimal) -> str:
    """Two decimals, more only when the value has them: 12.5000 → 12.50, 0.1250 → 0.125."""
    whole, _, fraction = f"{value:f}".partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def _quantity(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _table(title: str, *columns: str) -> Table:
    return output.table(
        title, *columns, right=NUMERIC_COLUMNS, no_wrap=NUMERIC_COLUMNS | WHEN_COLUMNS
    )
