"""``patron privacy …``: a person's data export, erasure requests and their decision.

Commands parse, call ``patron.privacy`` and print; with ``--json`` exactly one document.
Decisions taken here are recorded without a user (``decided_by`` empty).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from patron.cli.output import JSON_OPTION, console, in_session, print_json, table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from patron.privacy.schemas import ErasureRequestPublic

app = typer.Typer(
    help="Privacy: export everything about a person; erasure requests.", no_args_is_help=True
)
CUSTOMER = typer.Argument(..., help="The customer's external id or number.")
REQUEST = typer.Argument(..., help="The erasure request's number.")


def _now() -> datetime:
    from patron.db import utcnow

    return utcnow()


def _customer_id(session: Session, key: str) -> int:
    from patron.customers import service as customers

    return customers.find_customer(session, key=key).id


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


def _show(request: ErasureRequestPublic) -> None:
    out = console()
    out.print(
        f"Erasure request {request.id} (customer {request.customer_id}, "
        f"from {request.source.value}): [bold]{request.status.value}[/bold]"
    )
    if request.note:
        out.print(f"Reason: {request.note}")
    summary = request.summary or {}
    for what in ("deleted", "anonymised"):
        for name, count in (summary.get(what) or {}).items():
            out.print(f"  {what} {count} row(s) of {name}")
    if summary.get("suppressions"):
        out.print(f"  {summary['suppressions']} suppressed address(es) kept as a hash")
    for name, count in (summary.get("safety_net") or {}).items():
        out.print(f"  [yellow]the safety net scrubbed {count} value(s) of {name}[/yellow]")


def _answer(request: ErasureRequestPublic, json_output: bool) -> None:
    if json_output:
        print_json(request)
    else:
        _show(request)


@app.command("export")
def export(
    customer: str = CUSTOMER,
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write the JSON document to this file (default: print it)."
    ),
) -> None:
    """Everything Patron holds about one person, as JSON (every table that refers to them)."""
    from patron.privacy.export import person_data

    data = in_session(lambda s: person_data(s, _customer_id(s, customer)))
    text = json.dumps(data, ensure_ascii=False, indent=1)
    if output is None:
        print(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    rows = sum(len(r) for r in data["tables"].values()) + sum(
        len(r) for r in data["mentions"].values()
    )
    console(stderr=True).print(
        f"Wrote {rows} rows of {len(data['tables']) + len(data['mentions'])} tables to {output}"
    )


@app.command("request")
def request_erasure(customer: str = CUSTOMER, json_output: bool = JSON_OPTION) -> None:
    """Record an erasure request for staff to decide (asked again: the open request)."""
    from patron.privacy import service

    made = in_session(
        lambda s: service.request_erasure(s, _customer_id(s, customer), source="staff", now=_now())
    )
    _answer(made, json_output)


@app.command("requests")
def requests(
    status: str | None = typer.Option(None, "--status", help="requested, rejected or done."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    json_output: bool = JSON_OPTION,
) -> None:
    """Erasure requests: open ones first (oldest first), then decided ones (newest first)."""
    from patron.privacy import service

    found = in_session(lambda s: service.list_requests(s, status=status, limit=limit))
    if json_output:
        print_json(found)
        return
    shown = table("Erasure requests", "#", "customer", "from", "status", "asked", "decided")
    for r in found.data:
        shown.add_row(
            str(r.id),
            str(r.customer_id),
            r.source.value,
            r.status.value,
            _when(r.requested_at),
            _when(r.decided_at),
        )
    console().print(shown)


@app.command("approve")
def approve(request_id: int = REQUEST, json_output: bool = JSON_OPTION) -> None:
    """Approve a request: the person is erased at once (orders stay, anonymised)."""
    from patron.privacy import service

    done = in_session(lambda s: service.approve(s, request_id, user_id=None, now=_now()))
    _answer(done, json_output)


@app.command("reject")
def reject(
    request_id: int = REQUEST,
    note: str = typer.Option(..., "--reason", help="Why (e.g. an open dispute)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Reject a request, saying why; the person's data stays."""
    from patron.privacy import service

    done = in_session(lambda s: service.reject(s, request_id, user_id=None, note=note, now=_now()))
    _answer(done, json_output)


@app.command("erase")
def erase(
    customer: str = CUSTOMER,
    yes: bool = typer.Option(False, "--yes", help="Do it: an erasure cannot be undone."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Erase a person at once (recorded as a request from staff, approved)."""
    from patron.errors import PatronError
    from patron.privacy import service

    if not yes:
        raise PatronError(
            "an erasure cannot be undone: repeat the command with --yes",
            code="privacy.unconfirmed",
        )
    done = in_session(
        lambda s: service.erase_now(s, _customer_id(s, customer), user_id=None, now=_now())
    )
    _answer(done, json_output)
