"""``patron account …``, ``patron task …`` and ``patron event …``: key accounts and their
managers, tasks, and events with guest lists, invitations and attendance.

Commands parse, call ``patron.care.accounts`` and print; with ``--json`` exactly one document.
The worker runs the assignment after each analysis and the task rules hourly; ``account run``
and ``task rules`` run them at once.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import typer

from patron.cli.output import JSON_OPTION, console, in_session, print_json, runtime, table

accounts_app = typer.Typer(
    help="Key accounts: account managers, assignment by rule, manual override.",
    no_args_is_help=True,
)
tasks_app = typer.Typer(
    help="Tasks: list, create, complete; run the task rules.", no_args_is_help=True
)
events_app = typer.Typer(
    help="Events: guest lists from segments, invitations, RSVPs, attendance.", no_args_is_help=True
)
EVENT = typer.Argument(..., help="The event's key.")


def _now() -> datetime:
    from patron.db import utcnow

    return utcnow()


def _show(document: Any, json_output: bool, text: str) -> None:
    if json_output:
        print_json(document)
    else:
        console().print(text)


# --- accounts ----------------------------------------------------------------------------------


@accounts_app.command("managers")
def managers(json_output: bool = JSON_OPTION) -> None:
    """The account managers: capacity, regions, whether active, key accounts now."""
    from patron.care.accounts import service

    found = in_session(service.list_managers)
    if json_output:
        print_json(found)
        return
    shown = table("Account managers", "manager", "accounts", "manual", "capacity", "regions")
    for m in found.data:
        shown.add_row(
            m.email + ("" if m.active else " (inactive)"),
            str(m.accounts),
            str(m.manual),
            str(m.capacity),
            ", ".join(m.regions) or "anywhere",
        )
    console().print(shown)


@accounts_app.command("set-manager")
def set_manager(
    email: str = typer.Argument(..., help="The user's e-mail address."),
    capacity: int = typer.Option(None, "--capacity", min=0, help="Key accounts at most."),
    regions: str = typer.Option(
        None, "--regions", help="Countries served, comma-separated ('' for anywhere)."
    ),
    active: bool = typer.Option(None, "--active/--inactive", help="Takes accounts or not."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Make a user (account_manager or admin) an account manager, or change one."""
    from patron.care.accounts import service
    from patron.care.accounts.schemas import ManagerIn

    rt = runtime()
    changes = ManagerIn(
        capacity=capacity,
        regions=None if regions is None else regions.split(","),
        active=active,
    )
    done = in_session(
        lambda s: service.set_manager(
            s, email=email, changes=changes, settings=rt.settings, now=_now()
        ),
        rt,
    )
    _show(done, json_output, f"{done.email}: capacity {done.capacity}, {done.accounts} accounts")


@accounts_app.command("assign")
def assign(
    customer: str = typer.Argument(..., help="External id or number."),
    manager: str = typer.Argument(
        None, help="The manager's e-mail address; leave out to hand the customer to the rule."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Manual override: this manager looks after the customer, and the rule leaves it so."""
    from patron.care.accounts import service

    done = in_session(
        lambda s: service.assign_manually(
            s, customer=customer, manager=manager, actor="cli", now=_now()
        )
    )
    text = (
        f"{done.name or done.customer_id}: {done.manager} ({done.source})"
        if done.manager
        else f"{done.name or done.customer_id}: the rule decides at its next run"
    )
    _show(done, json_output, text)


@accounts_app.command("run")
def run(json_output: bool = JSON_OPTION) -> None:
    """Run the assignment rule now over the newest snapshot's A-customers."""
    from patron.care.accounts import service

    rt = runtime()
    done = in_session(lambda s: service.run_assignment(s, settings=rt.settings, now=_now()), rt)
    if done.snapshot_id is None:
        _show(done, json_output, "No analysis yet (patron analyze): nothing to assign.")
        return
    _show(
        done,
        json_output,
        f"{done.a_customers} A-customers: {done.assigned} assigned, {done.kept} kept, "
        f"{done.moved} moved, {done.released} released, {done.unplaced} without a manager",
    )


# --- tasks -------------------------------------------------------------------------------------


@tasks_app.command("list")
def list_tasks(
    owner: str = typer.Option(None, "--owner", help="The owner's e-mail address."),
    customer: str = typer.Option(None, "--customer", help="External id or number."),
    status: str = typer.Option("open", "--status", help="open, done, cancelled or all."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Tasks, open first by due day."""
    from patron.care.accounts import service, tasks
    from patron.customers import service as customers

    found = in_session(
        lambda s: tasks.list_tasks(
            s,
            owner_id=service.user_by_email(s, owner).id if owner else None,
            customer_id=customers.customer_ref(s, key=customer).id if customer else None,
            status=None if status == "all" else status,
        )
    )
    if json_output:
        print_json(found)
        return
    shown = table("Tasks", "#", "due", "kind", "title", "customer", "owner", "status")
    for t in found.data:
        shown.add_row(
            str(t.id),
            t.due_on.isoformat(),
            t.kind.value,
            t.title,
            t.customer_name or str(t.customer_id or ""),
            t.owner or "",
            t.status.value,
        )
    console().print(shown)


@tasks_app.command("add")
def add_task(
    kind: str = typer.Argument(..., help="call, visit, gift, invitation or follow_up."),
    title: str = typer.Argument(...),
    due: str = typer.Option(None, "--due", help="Due day (YYYY-MM-DD); default today."),
    customer: str = typer.Option(None, "--customer", help="External id or number."),
    owner: str = typer.Option(
        None, "--owner", help="E-mail address; default: the customer's account manager."
    ),
    note: str = typer.Option(None, "--note"),
    json_output: bool = JSON_OPTION,
) -> None:
    """Create a task."""
    from patron.care.accounts import tasks
    from patron.care.accounts.schemas import TaskCreate
    from patron.errors import PatronError

    try:
        request = TaskCreate.model_validate(
            {
                "kind": kind,
                "title": title,
                "customer": customer,
                "owner": owner,
                "due_on": date.fromisoformat(due) if due else _now().date(),
                "note": note,
            }
        )
    except ValueError as error:
        raise PatronError(f"invalid task: {error}", code="tasks.invalid") from None
    done = in_session(lambda s: tasks.create_task(s, request, actor="cli", now=_now()))
    _show(done, json_output, f"task {done.id}: {done.kind.value} due {done.due_on}")


@tasks_app.command("done")
def done_task(
    task: str = typer.Argument(..., help="The task's number."),
    cancel: bool = typer.Option(False, "--cancel", help="Cancel it instead."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Complete (or cancel) an open task."""
    from patron.care.accounts import tasks

    close = tasks.cancel_task if cancel else tasks.complete_task
    done = in_session(lambda s: close(s, task, now=_now()))
    _show(done, json_output, f"task {done.id} is {done.status.value}")


@tasks_app.command("rules")
def rules(json_output: bool = JSON_OPTION) -> None:
    """Run the task rules now (P(alive) drop, anniversary gift, no contact)."""
    from patron.care.accounts import tasks

    rt = runtime()
    made = in_session(lambda s: tasks.run_rules(s, settings=rt.settings, now=_now()), rt)
    _show(
        made,
        json_output,
        f"{made.p_alive} call(s) for a P(alive) drop, {made.anniversary} gift(s) for an "
        f"anniversary, {made.no_contact} invitation(s) for no contact",
    )


# --- events ------------------------------------------------------------------------------------


@events_app.command("create")
def create_event(
    key: str = typer.Argument(..., help="A short key: lower-case letters, digits, dashes."),
    name: str = typer.Argument(...),
    starts: str = typer.Option(
        ..., "--starts", help="When it starts (ISO, e.g. 2026-09-17T10:00; the shop's time)."
    ),
    ends: str = typer.Option(None, "--ends", help="When it ends."),
    kind: str = typer.Option("other", "--kind", help="trade_fair, jubilee, product_test, other."),
    place: str = typer.Option(None, "--place"),
    description: str = typer.Option(None, "--description"),
    segment: str = typer.Option(None, "--segment", help="Who is invited (a segment)."),
    capacity: int = typer.Option(None, "--capacity", min=1, help="People at most."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Create an event."""
    from patron.care.accounts import events
    from patron.care.accounts.schemas import EventCreate
    from patron.errors import PatronError

    rt = runtime()
    try:
        request = EventCreate.model_validate(
            {
                "key": key,
                "name": name,
                "kind": kind,
                "starts_at": _moment(starts, rt.settings.timezone),
                "ends_at": _moment(ends, rt.settings.timezone) if ends else None,
                "place": place,
                "description": description,
                "segment": segment,
                "capacity": capacity,
            }
        )
    except ValueError as error:
        raise PatronError(f"invalid event: {error}", code="events.invalid") from None
    done = in_session(lambda s: events.create_event(s, request, actor="cli", now=_now()), rt)
    _show(done, json_output, f"event {done.key} created")


def _moment(text: str, zone: str) -> datetime:
    from zoneinfo import ZoneInfo

    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))


@events_app.command("guests")
def guests(
    key: str = EVENT,
    segment: str = typer.Option(None, "--segment", help="Add everyone in this segment."),
    add: list[str] = typer.Option(None, "--add", help="Add a customer (repeatable)."),
    remove: list[str] = typer.Option(None, "--remove", help="Remove a customer (repeatable)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Build or change the guest list (without options: from the event's own segment)."""
    from patron.care.accounts import events

    def work(session: Any) -> Any:
        if remove:
            return events.remove_guests(session, key, customer_keys=remove)
        return events.add_guests(session, key, segment=segment, customer_keys=add or [])

    done = in_session(work)
    _show(
        done,
        json_output,
        f"{done.added} added, {done.removed} removed, {done.guests} guests on the list",
    )


@events_app.command("invite")
def invite(key: str = EVENT, json_output: bool = JSON_OPTION) -> None:
    """Invite the guests not yet invited: a personal e-mail each to those with marketing
    consent, through a campaign; the others are listed with the reason."""
    from patron.care.accounts import events

    rt = runtime()
    done = in_session(
        lambda s: events.invite(s, key, settings=rt.settings, actor="cli", now=_now()), rt
    )
    if json_output:
        print_json(done)
        return
    out = console()
    out.print(
        f"{done.invited} invited ({', '.join(done.campaigns) or 'no campaign'}), "
        f"{done.already} invited before, {len(done.not_reachable)} cannot be reached"
    )
    for guest in done.not_reachable:
        out.print(f"  {guest.customer_id} {guest.name or ''}: {guest.reason}")


@events_app.command("attend")
def attend(
    key: str = EVENT,
    customers: list[str] = typer.Argument(..., help="External ids or numbers of who came."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Record that these customers came (an interaction on each)."""
    from patron.care.accounts import events

    done = in_session(
        lambda s: events.mark_attended(s, key, customer_keys=customers, actor="cli", now=_now())
    )
    _show(done, json_output, f"{done.recorded} recorded, {done.already} recorded before")


@events_app.command("show")
def show(key: str = EVENT, json_output: bool = JSON_OPTION) -> None:
    """An event with its counts and guests."""
    from patron.care.accounts import events

    rt = runtime()
    found = in_session(lambda s: events.detail(s, key, settings=rt.settings), rt)
    if json_output:
        print_json(found)
        return
    e, c = found.event, found.event.counts
    out = console()
    out.print(f"[bold]{e.name}[/] ({e.kind.value}, {e.status.value}) {e.starts_at:%Y-%m-%d %H:%M}")
    if c is not None:
        out.print(
            f"{c.guests} guests, {c.invited} invited, {c.accepted} accepted, {c.declined} "
            f"declined, {c.attended} attended, {c.expected} people expected"
        )
    shown = table("Guests", "#", "name", "invited", "answer", "attended", "reachable")
    for g in found.guests:
        shown.add_row(
            str(g.customer_id),
            g.name or "",
            "yes" if g.invited_at else "",
            g.rsvp,
            "yes" if g.attended_at else "",
            "" if g.reachable is None else ("yes" if g.reachable else f"no: {g.reason}"),
        )
    out.print(shown)
