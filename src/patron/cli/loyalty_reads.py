"""``patron loyalty balance|statement|progress|members|liability``: what members and the books
read. Registered on ``patron.cli.loyalty.app``."""

from __future__ import annotations

import typer

from patron.cli import loyalty_shared as shared
from patron.cli.output import JSON_OPTION, print_json


def balance(
    customer: str = shared.CUSTOMER,
    programme: str | None = shared.PROGRAMME,
    json_output: bool = JSON_OPTION,
) -> None:
    """A member's points: balance, available, pending, debt, what expires soon, the tier."""
    from patron.db import utcnow
    from patron.loyalty import reading

    found, zone = shared.member_read(reading.balance, programme, customer, now=utcnow())
    if json_output:
        print_json(found)
        return
    grid = shared.grid(f"{customer} in {found.programme}")
    grid.add_row("balance", f"{found.balance:,} points")
    grid.add_row("available", f"{found.available:,} points, worth {found.value} {found.currency}")
    grid.add_row("pending", f"{found.pending:,} points (usable once the return window is over)")
    if found.debt:
        grid.add_row("return debt", f"[red]{found.debt:,} points[/]")
    grid.add_row("tier", found.tier.name if found.tier else "none")
    if found.tier_review_at:
        grid.add_row("tier review", shared.when(found.tier_review_at, zone))
    for item in found.expiring:
        grid.add_row("expiring", f"{item['points']:,} points on {item['date']}")
    shared.console().print(grid)


def statement(
    customer: str = shared.CUSTOMER,
    programme: str | None = shared.PROGRAMME,
    page: int = typer.Option(1, min=1, help="Page number, from 1 (newest entries first)."),
    per_page: int = typer.Option(50, "--per-page", min=1, max=500, help="Entries per page."),
    json_output: bool = JSON_OPTION,
) -> None:
    """A member's entries, newest first, each with the balance after it."""
    from patron.loyalty import reading

    found, zone = shared.member_read(
        reading.statement, programme, customer, page=page, per_page=per_page
    )
    if json_output:
        print_json(found)
        return
    table = shared.table(
        f"Statement of {customer}", "#", "when", "kind", "points", "balance", "about"
    )
    for entry in found.data:
        about = " · ".join(p for p in (entry.reference, entry.reason, entry.actor) if p)
        table.add_row(
            str(entry.number),
            shared.when(entry.at, zone),
            entry.kind,
            f"{entry.amount:+,}",
            f"{entry.running_balance:,}",
            about,
        )
    table.caption = f"{found.count} entries, {len(found.lots)} lots"
    shared.print_or_none(table, "no entries yet")


def progress(
    customer: str = shared.CUSTOMER,
    programme: str | None = shared.PROGRAMME,
    json_output: bool = JSON_OPTION,
) -> None:
    """Where a member stands: tier, qualifying value, what the next tier needs and by when."""
    from patron.db import utcnow
    from patron.loyalty import reading

    found, zone = shared.member_read(reading.progress, programme, customer, now=utcnow())
    if json_output:
        print_json(found)
        return
    unit = "points" if found.qualify_on == "points" else "spend"
    grid = shared.grid(f"{customer}: tier progress")
    grid.add_row("tier", found.tier.name if found.tier else "none")
    grid.add_row(
        "counts", f"{shared.number(found.value)} {unit} in the last {found.window_months} months"
    )
    if found.next_tier is not None and found.missing is not None:
        by = f", by {shared.when(found.by, zone)}" if found.by else ""
        grid.add_row(
            "next", f"{found.next_tier.name}: {shared.number(found.missing)} {unit} more{by}"
        )
    if found.needed_to_keep is not None:
        until = f" by {shared.when(found.keep_until, zone)}" if found.keep_until else ""
        grid.add_row("to keep", f"{shared.number(found.needed_to_keep)} {unit} more{until}")
    console = shared.console()
    console.print(grid)
    for rule in found.rules:
        console.print(f"  • {rule}")


def liability(json_output: bool = JSON_OPTION) -> None:
    """What the points outstanding are worth, per programme: the figure for the books."""
    from patron.db import utcnow
    from patron.loyalty import reading

    rows, _ = shared.run(lambda session: reading.liability(session, now=utcnow()))
    if json_output:
        print_json({"data": [row.model_dump(mode="json") for row in rows], "count": len(rows)})
        return
    table = shared.table(
        "Points liability",
        "programme",
        "members",
        "points",
        "value",
        "pending",
        "expiring next month",
        "debt",
    )
    for row in rows:
        table.add_row(
            row.programme,
            f"{row.members:,}",
            f"{row.points:,}",
            f"{row.value:,} {row.currency}",
            f"{row.pending:,}",
            f"{row.expiring_next_month:,} ({row.expiring_value:,} {row.currency})",
            f"{row.debt:,}",
        )
    shared.print_or_none(table, "no programme yet")


def members(
    programme: str | None = shared.PROGRAMME,
    search: str | None = typer.Option(
        None, "--search", "-s", help="Part of a name, e-mail address or external id."
    ),
    tier: str | None = typer.Option(None, "--tier", help="Only members of this tier (code)."),
    page: int = typer.Option(1, min=1, help="Page number, from 1."),
    per_page: int = typer.Option(50, "--per-page", min=1, max=500, help="Members per page."),
    json_output: bool = JSON_OPTION,
) -> None:
    """The members, highest balance first."""
    from patron.loyalty import reading

    found, zone = shared.run(
        lambda session: reading.members(
            session,
            programme_code=shared.programme_code(session, programme),
            search=search,
            tier=tier,
            page=page,
            per_page=per_page,
        )
    )
    if json_output:
        print_json(found)
        return
    table = shared.table(
        "Members", "#", "external id", "name", "tier", "balance", "debt", "last entry"
    )
    for row in found.data:
        table.add_row(
            str(row.customer_id),
            row.external_id or "",
            row.name or "",
            row.tier or "",
            f"{row.balance:,}",
            f"{row.debt:,}" if row.debt else "",
            shared.when(row.last_entry_at, zone),
        )
    table.caption = f"page {page} · {found.count:,} members"
    shared.print_or_none(table, "no members match")
