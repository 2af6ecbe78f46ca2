"""``patron case …``: cases from the command line — open, list, show, answer, note, resolve,
close, check the deadlines (what the worker does each round), and the service-recovery report.

Commands parse, call ``patron.care.cases`` and print; with ``--json`` exactly one document.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

import typer

from patron.cli.output import JSON_OPTION, console, in_session, print_json, runtime, table

if TYPE_CHECKING:
    from patron.care.cases.schemas import CaseDetail, CasePublic

app = typer.Typer(help="Complaints and cases: open, list, answer, resolve.", no_args_is_help=True)
CASE = typer.Argument(..., help="The case's number.")
AUTHOR = typer.Option(None, "--by", help="Who does it (an e-mail address), for the history.")


def _now() -> datetime:
    from patron.db import utcnow

    return utcnow()


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


def _standing(case: CasePublic) -> str:
    if case.working_hours_left is None:
        return case.due_state.value
    return f"{case.due_state.value} ({case.working_hours_left:+.1f} h)"


@app.command("open")
def open_case(
    customer: str = typer.Argument(..., help="The customer's external id or number."),
    subject: str = typer.Option(..., "--subject", help="What the case is about, in a line."),
    description: str = typer.Option(..., "--text", help="What the customer said."),
    kind: str = typer.Option("complaint", "--kind", help="complaint, question or request."),
    category: str = typer.Option(
        "other",
        "--category",
        help="delivery, damaged, wrong_item, quality, billing, return, service or other.",
    ),
    priority: str = typer.Option("normal", "--priority", help="low, normal, high or urgent."),
    channel: str = typer.Option(
        "phone", "--channel", help="email, phone, web, api, store, chat or letter."
    ),
    order: str | None = typer.Option(None, "--order", help="The order's external id."),
    team: str | None = typer.Option(None, "--team", help="The team that handles it."),
    key: str | None = typer.Option(None, "--key", help="An idempotency key."),
    author: str | None = AUTHOR,
    json_output: bool = JSON_OPTION,
) -> None:
    """Open a case; its deadlines follow from its priority and the customer's ABC class."""
    from patron.care.cases import service

    rt = runtime()
    made, created = in_session(
        lambda s: service.open_case(
            s,
            customer=customer,
            subject=subject,
            description=description,
            kind=kind,
            category=category,
            priority=priority,
            channel=channel,
            order=order,
            team=team,
            key=key,
            author=author,
            settings=rt.settings,
            now=_now(),
        ),
        rt,
    )
    if json_output:
        print_json(made)
        return
    verb = "Opened" if created else "Found (same key)"
    console().print(
        f"{verb} case [bold]{made.id}[/]: first response due {_when(made.first_response_due)}, "
        f"resolution due {_when(made.resolution_due)} (policy {made.sla_policy})."
    )


@app.command("list")
def list_cases(
    status: list[str] = typer.Option(
        [], "--status", help="new, in_progress, waiting, resolved, closed (repeatable)."
    ),
    all_cases: bool = typer.Option(False, "--all", help="Closed and resolved ones too."),
    customer: str | None = typer.Option(None, "--customer", help="One customer's cases."),
    team: str | None = typer.Option(None, "--team", help="One team's cases."),
    limit: int = typer.Option(100, "--limit", min=1, max=500),
    json_output: bool = JSON_OPTION,
) -> None:
    """Cases, the most urgent deadline first (open ones unless --status or --all)."""
    from patron.care.cases import service
    from patron.care.models import OPEN_STATUSES
    from patron.customers import service as customers

    rt = runtime()
    wanted = status or ([] if all_cases else list(OPEN_STATUSES))
    found = in_session(
        lambda s: service.list_cases(
            s,
            settings=rt.settings,
            now=_now(),
            status=wanted,
            customer_id=customers.customer_ref(s, key=customer).id if customer else None,
            team=team,
            limit=limit,
        ),
        rt,
    )
    if json_output:
        print_json(found)
        return
    shown = table(
        f"Cases ({found.count})",
        "#",
        "subject",
        "customer",
        "priority",
        "status",
        "due",
        "standing",
    )
    for case in found.data:
        shown.add_row(
            str(case.id),
            case.subject,
            case.customer_external_id or str(case.customer_id),
            case.priority.value,
            case.status.value,
            _when(case.due_at),
            _standing(case),
        )
    console().print(shown)


@app.command("show")
def show(case_id: int = CASE, json_output: bool = JSON_OPTION) -> None:
    """A case with its deadlines and whole history."""
    from patron.care.cases import service

    rt = runtime()
    found = in_session(
        lambda s: service.detail(s, case_id=case_id, settings=rt.settings, now=_now()), rt
    )
    if json_output:
        print_json(found)
        return
    _print_case(found)


def _print_case(found: CaseDetail) -> None:
    out = console()
    out.print(f"[bold]Case {found.id}[/] {found.subject}")
    out.print(
        f"{found.kind.value} · {found.category} · {found.priority.value} · {found.status.value}"
        f" · customer {found.customer_external_id or found.customer_id}"
        + (f" (class {found.customer_class})" if found.customer_class else "")
    )
    out.print(
        f"first response due {_when(found.first_response_due)}"
        f" (answered {_when(found.first_response_at)}); "
        f"resolution due {_when(found.resolution_due)} (resolved {_when(found.resolved_at)});"
        f" now {_standing(found)}"
    )
    history = table("History", "when", "kind", "by", "text")
    for entry in found.entries:
        history.add_row(_when(entry.created_at), entry.kind, entry.author or "", entry.body)
    out.print(history)


@app.command("reply")
def reply(
    case_id: int = CASE,
    text: str = typer.Argument(..., help="The answer to the customer."),
    wait: bool = typer.Option(False, "--wait", help="Then wait for the customer."),
    no_email: bool = typer.Option(
        False, "--no-email", help="Record a reply given another way; send no e-mail."
    ),
    author: str | None = AUTHOR,
    json_output: bool = JSON_OPTION,
) -> None:
    """Answer the customer by e-mail (the worker sends it)."""
    from patron.care.cases import service

    rt = runtime()
    entry = in_session(
        lambda s: service.reply(
            s,
            case_id=case_id,
            body=text,
            author=author,
            settings=rt.settings,
            now=_now(),
            wait=wait,
            send=not no_email,
        ),
        rt,
    )
    if json_output:
        print_json(entry)
        return
    sent = f" (message {entry.message_id} queued)" if entry.message_id else ""
    console().print(f"Replied to case [bold]{case_id}[/]{sent}.")


@app.command("note")
def note(
    case_id: int = CASE,
    text: str = typer.Argument(..., help="The note, for colleagues only."),
    author: str | None = AUTHOR,
    json_output: bool = JSON_OPTION,
) -> None:
    """Add an internal note."""
    from patron.care.cases import service

    entry = in_session(
        lambda s: service.add_note(s, case_id=case_id, body=text, author=author, now=_now())
    )
    if json_output:
        print_json(entry)
        return
    console().print(f"Noted on case [bold]{case_id}[/].")


def _move(case_id: int, status: str, author: str | None, json_output: bool) -> None:
    from patron.care.cases import service

    rt = runtime()
    found = in_session(
        lambda s: service.change_status(
            s, case_id=case_id, status=status, author=author, settings=rt.settings, now=_now()
        ),
        rt,
    )
    if json_output:
        print_json(found)
        return
    console().print(f"Case [bold]{found.id}[/] is {found.status.value}.")
    if found.entries and found.entries[-1].kind == "change" and status == "resolved":
        last = found.entries[-1].body
        if not last.startswith("status:"):
            console(stderr=True).print(f"[bold yellow]note[/] {last}")


@app.command("resolve")
def resolve(
    case_id: int = CASE, author: str | None = AUTHOR, json_output: bool = JSON_OPTION
) -> None:
    """Mark the case resolved; the customer gets the satisfaction (CSAT) survey."""
    _move(case_id, "resolved", author, json_output)


@app.command("close")
def close(
    case_id: int = CASE, author: str | None = AUTHOR, json_output: bool = JSON_OPTION
) -> None:
    """Close the case for good."""
    _move(case_id, "closed", author, json_output)


@app.command("deadlines")
def deadlines(json_output: bool = JSON_OPTION) -> None:
    """Record warnings and breaches of the deadlines now (the worker does it every round)."""
    from patron.care.cases import service

    rt = runtime()
    counts = in_session(lambda s: service.check_deadlines(s, settings=rt.settings, now=_now()), rt)
    if json_output:
        print_json(counts)
        return
    console().print(f"{counts['warnings']} warnings, {counts['breaches']} breaches recorded.")


@app.command("report")
def report(
    window: int = typer.Option(90, "--window", min=1, max=3650, help="Days after the complaint."),
    as_of: str | None = typer.Option(None, "--as-of", help="The report's day (YYYY-MM-DD)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Service recovery: repurchase rate and CLV change after a resolved complaint, an
    unresolved one, and none, with the counts behind each number."""
    from patron.care.cases import recovery
    from patron.errors import PatronError

    if as_of:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            raise PatronError(
                f"--as-of {as_of!r} is not a date like 2026-06-30", code="cases.invalid"
            ) from None
        moment = datetime.combine(day, time.max, tzinfo=UTC)
    else:
        moment = _now()
    found = in_session(lambda s: recovery.report(s, as_of=moment, window_days=window))
    if json_output:
        print_json(found)
        return
    shown = table(
        f"Service recovery ({window} days after)",
        "group",
        "customers",
        "repurchase",
        "came back / eligible",
        "CLV change",
        "with CLV",
        right=("customers", "repurchase", "came back / eligible", "CLV change", "with CLV"),
    )
    for group in found.groups:
        shown.add_row(
            group.group,
            str(group.customers),
            "n/a" if group.repurchase_rate is None else f"{group.repurchase_rate:.1%}",
            f"{group.repurchased} / {group.repurchase_eligible}",
            "n/a" if group.clv_change is None else f"{group.clv_change:+.2f}",
            str(group.clv_customers),
        )
    out = console()
    out.print(shown)
    if found.reference_for_none is not None:
        out.print(
            f"[dim]No-complaint group from the median complaint date {_when(found.reference_for_none)}; {found.snapshots} score snapshots.[/]"
        )
