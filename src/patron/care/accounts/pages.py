"""The staff pages of key accounts, tasks and events.

``/accounts`` is an account manager's workspace (my accounts with their value, risk, orders,
cases and next tasks; others choose whose), with the policy per ABC class and the manual
override; ``/accounts/managers`` sets up the managers and runs the rule. ``/tasks`` lists a
user's tasks by due day with done and cancel buttons and a form for a new one. ``/events`` and
``/events/{key}`` build guest lists, invite, follow the answers and record who came. The
customer 360 gets a ``tasks`` section: the account manager and the open tasks.

Forms are plain posts answered with a redirect that says what was done or why not.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.access.schemas import SignedIn
from patron.care.accounts import events, service, tasks
from patron.care.accounts.schemas import (
    EventCreate,
    EventKind,
    EventStatus,
    EventUpdate,
    ManagerIn,
    TaskCreate,
    TaskKind,
)
from patron.customers import service as customers
from patron.customers.pages import CUSTOMER_360
from patron.db import utcnow
from patron.errors import PatronError
from patron.web.deps import SessionDep, SettingsDep, csrf, page
from patron.web.i18n import N_
from patron.web.rendering import NavItem, Section, SectionSource, render

TEMPLATES = Path(__file__).parent / "templates"
READ = "cases:read"
WRITE = "cases:write"
NAV = (NavItem(N_("Key accounts"), "/accounts", READ, order=52, also=("/tasks", "/events")),)
Reader = Annotated[SignedIn, page(READ)]
Writer = Annotated[SignedIn, page(WRITE)]
DONE = {
    "assigned": N_("The assignment was saved."),
    "run": N_("The assignment rule ran."),
    "manager": N_("The account manager was saved."),
    "task": N_("The task was created."),
    "done": N_("The task is done."),
    "cancelled": N_("The task is cancelled."),
    "event": N_("The event was created."),
    "guests": N_("The guest list was changed."),
    "invited": N_("The invitations are queued."),
    "attended": N_("The attendance was recorded."),
    "status": N_("The event was changed."),
    "none_invited": N_("Nobody new could be invited: see the guests who cannot be reached."),
}
TASK_KINDS = {
    "call": N_("Call"),
    "visit": N_("Visit"),
    "gift": N_("Gift"),
    "invitation": N_("Invitation"),
    "follow_up": N_("Follow-up"),
}
EVENT_KINDS = {
    "trade_fair": N_("Trade fair"),
    "jubilee": N_("Jubilee"),
    "product_test": N_("Product test"),
    "other": N_("Other"),
}
RSVP_NAMES = {"none": N_("no answer"), "accepted": N_("accepted"), "declined": N_("declined")}
REASONS = {
    "consent": N_("no marketing consent or no usable e-mail address"),
    "control_group": N_("in the global control group (never gets marketing)"),
}


def tasks_section(request: Request, session: Session, customer_id: int) -> Section:
    """The customer's account manager and open tasks, with a link to add one."""
    return Section(
        "tasks",
        "accounts/_customer_tasks.html",
        {
            "customer_id": customer_id,
            "account": service.key_account(session, customer_id),
            "tasks": tasks.list_tasks(session, customer_id=customer_id, status="open").data,
            "kind_names": TASK_KINDS,
        },
    )


SECTIONS = (SectionSource(CUSTOMER_360, READ, tasks_section),)
router = APIRouter(include_in_schema=False)


def _back(path: str, *, done: str | None = None, error: str | None = None) -> RedirectResponse:
    query = urlencode({k: v for k, v in (("done", done), ("error", error)) if v})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def _problem(error: Exception) -> str:
    if isinstance(error, PatronError):
        return error.message
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(error)


def _flash(request: Request) -> dict[str, Any]:
    return {
        "done": DONE.get(request.query_params.get("done", "")),
        "error": request.query_params.get("error", "")[:300],
    }


# --- workspace and managers --------------------------------------------------------------------


@router.get("/accounts")
def workspace_page(
    request: Request,
    session: SessionDep,
    me: Reader,
    manager: Annotated[int | None, Query(ge=1, lt=2**31)] = None,
) -> HTMLResponse:
    """My accounts (or, for anyone else, the chosen manager's), the policy and the override."""
    managers = service.list_managers(session).data
    mine = next((m for m in managers if m.user_id == me.user.id), None)
    chosen = next((m for m in managers if m.user_id == manager), None) if manager else None
    chosen = chosen or mine or (managers[0] if managers else None)
    space = service.workspace(session, manager_id=chosen.user_id) if chosen else None
    return render(
        request,
        "accounts/workspace.html",
        {
            "managers": managers,
            "chosen": chosen,
            "space": space,
            "kind_names": TASK_KINDS,
            **_flash(request),
        },
    )


@router.post("/accounts/assign", dependencies=[csrf()])
def assign_page(
    session: SessionDep,
    me: Writer,
    customer: Annotated[str, Form(max_length=64)] = "",
    manager: Annotated[str, Form(max_length=254)] = "",
    back: Annotated[str, Form(max_length=200)] = "/accounts",
) -> RedirectResponse:
    """Manual override: a manager for a customer, or (empty) hand the customer to the rule."""
    target = back if back.startswith(("/accounts", "/customers/")) else "/accounts"
    try:
        service.assign_manually(
            session,
            customer=customer.strip(),
            manager=manager.strip() or None,
            actor=me.user.email,
            now=utcnow(),
        )
    except PatronError as error:
        session.rollback()
        return _back(target, error=error.message)
    return _back(target, done="assigned")


@router.get("/accounts/managers")
def managers_page(request: Request, session: SessionDep, me: Reader) -> HTMLResponse:
    """The account managers with capacity, regions and load; the key accounts by manager."""
    return render(
        request,
        "accounts/managers.html",
        {
            "managers": service.list_managers(session).data,
            "accounts": service.key_accounts(session).data,
            **_flash(request),
        },
    )


@router.post("/accounts/managers/save", dependencies=[csrf()])
def set_manager_page(
    session: SessionDep,
    settings: SettingsDep,
    me: Writer,
    email: Annotated[str, Form(max_length=254)] = "",
    capacity: Annotated[str, Form(max_length=6)] = "",
    regions: Annotated[str, Form(max_length=2000)] = "",
    active: Annotated[str, Form(max_length=5)] = "",
) -> RedirectResponse:
    try:
        changes = ManagerIn(
            capacity=int(capacity) if capacity.strip() else None,
            regions=regions.split(","),
            active=active == "true",
        )
        service.set_manager(session, email=email, changes=changes, settings=settings, now=utcnow())
    except (PatronError, ValidationError, ValueError) as error:
        session.rollback()
        return _back("/accounts/managers", error=_problem(error))
    return _back("/accounts/managers", done="manager")


@router.post("/accounts/assignment-runs", dependencies=[csrf()])
def run_page(session: SessionDep, settings: SettingsDep, me: Writer) -> RedirectResponse:
    service.run_assignment(session, settings=settings, now=utcnow())
    return _back("/accounts/managers", done="run")


# --- tasks -------------------------------------------------------------------------------------


@router.get("/tasks")
def tasks_page(
    request: Request,
    session: SessionDep,
    me: Reader,
    owner: Annotated[str, Query(max_length=12)] = "me",
    customer: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(pattern="^(open|done|cancelled|all)$")] = "open",
) -> HTMLResponse:
    """My tasks (or everyone's, or one customer's), open first by due day; a new-task form."""
    problem = None
    customer_id = None
    if customer.strip():
        try:
            customer_id = customers.customer_ref(session, key=customer).id
        except PatronError as error:
            problem = error.message
    owner_id = me.user.id if owner == "me" else int(owner) if owner.isdigit() else None
    listed = tasks.list_tasks(
        session,
        owner_id=None if customer_id else owner_id,
        customer_id=customer_id,
        status=None if status == "all" else status,
    )
    return render(
        request,
        "accounts/tasks.html",
        {
            "tasks": listed.data,
            "owner": owner,
            "customer": customer,
            "status": status,
            "kind_names": TASK_KINDS,
            "managers": service.list_managers(session).data,
            "today": utcnow().date(),
            **_flash(request),
            **({"error": problem} if problem else {}),
        },
    )


@router.post("/tasks/new", dependencies=[csrf()])
def new_task_page(
    session: SessionDep,
    me: Writer,
    kind: Annotated[str, Form(max_length=16)] = "",
    title: Annotated[str, Form(max_length=300)] = "",
    customer: Annotated[str, Form(max_length=64)] = "",
    owner: Annotated[str, Form(max_length=254)] = "",
    due_on: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> RedirectResponse:
    """A task from the form; without an owner, the customer's manager, else the author."""
    try:
        request = TaskCreate(
            kind=TaskKind(kind),
            title=title.strip(),
            customer=customer.strip() or None,
            owner=owner.strip() or (None if customer.strip() else me.user.email),
            due_on=date.fromisoformat(due_on),
            note=note or None,
        )
        tasks.create_task(session, request, actor=me.user.email, now=utcnow())
    except (PatronError, ValidationError, ValueError) as error:
        session.rollback()
        return _back("/tasks", error=_problem(error))
    return _back("/tasks", done="task")


@router.post("/tasks/{task_id}/{action}", dependencies=[csrf()])
def task_action_page(
    session: SessionDep,
    me: Writer,
    task_id: str,
    action: str,
    back: Annotated[str, Form(max_length=200)] = "/tasks",
) -> RedirectResponse:
    """Done or cancel; back where the button was, saying what happened."""
    target = back if back.startswith(("/tasks", "/accounts", "/customers/")) else "/tasks"
    if action not in ("done", "cancel"):
        return _back(target, error=f"unknown action {action!r}")
    try:
        if action == "done":
            tasks.complete_task(session, task_id, now=utcnow())
        else:
            tasks.cancel_task(session, task_id, now=utcnow())
    except PatronError as error:
        session.rollback()
        return _back(target, error=error.message)
    return _back(target, done="done" if action == "done" else "cancelled")


# --- events ------------------------------------------------------------------------------------


@router.get("/events")
def events_page(request: Request, session: SessionDep, me: Reader) -> HTMLResponse:
    return render(
        request,
        "accounts/events.html",
        {
            "events": events.list_events(session).data,
            "kind_names": EVENT_KINDS,
            **_flash(request),
        },
    )


@router.post("/events/new", dependencies=[csrf()])
def new_event_page(
    session: SessionDep,
    settings: SettingsDep,
    me: Writer,
    key: Annotated[str, Form(max_length=48)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=16)] = "other",
    starts_at: Annotated[str, Form(max_length=40)] = "",
    ends_at: Annotated[str, Form(max_length=40)] = "",
    place: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=4000)] = "",
    segment: Annotated[str, Form(max_length=2000)] = "",
    capacity: Annotated[str, Form(max_length=7)] = "",
) -> RedirectResponse:
    try:
        made = events.create_event(
            session,
            EventCreate(
                key=key.strip(),
                name=name.strip(),
                kind=EventKind(kind),
                starts_at=_when(starts_at, settings.timezone) or _missing("starts_at"),
                ends_at=_when(ends_at, settings.timezone),
                place=place.strip() or None,
                description=description.strip() or None,
                segment=segment.strip() or None,
                capacity=int(capacity) if capacity.strip() else None,
            ),
            actor=me.user.email,
            now=utcnow(),
        )
    except (PatronError, ValidationError, ValueError) as error:
        session.rollback()
        return _back("/events", error=_problem(error))
    return _back(f"/events/{made.key}", done="event")


def _when(text: str, zone: str) -> datetime | None:
    """A ``datetime-local`` field's value, a time in the shop's time zone."""
    if not text.strip():
        return None
    when = datetime.fromisoformat(text.strip())
    return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(zone))


def _missing(field: str) -> datetime:
    raise ValueError(f"{field}: say when the event starts")


@router.get("/events/{key}")
def event_page(
    request: Request, session: SessionDep, settings: SettingsDep, me: Reader, key: str
) -> HTMLResponse:
    """An event: its facts and counts, the guest list, and the forms that change them."""
    found = events.detail(session, key, settings=settings)
    return render(
        request,
        "accounts/event.html",
        {
            "found": found,
            "event": found.event,
            "kind_names": EVENT_KINDS,
            "rsvp_names": RSVP_NAMES,
            "reasons": REASONS,
            **_flash(request),
        },
    )


@router.post("/events/{key}/guests", dependencies=[csrf()])
def guests_page(
    session: SessionDep,
    me: Writer,
    key: str,
    segment: Annotated[str, Form(max_length=2000)] = "",
    customer: Annotated[str, Form(max_length=64)] = "",
    remove: Annotated[str, Form(max_length=5)] = "",
) -> RedirectResponse:
    """Build the list from a segment (the event's own when empty), or add or remove one guest."""
    try:
        if remove == "true":
            events.remove_guests(session, key, customer_keys=[customer])
        elif customer.strip():
            events.add_guests(session, key, customer_keys=[customer.strip()])
        else:
            events.add_guests(session, key, segment=segment.strip() or None)
    except PatronError as error:
        session.rollback()
        return _back(f"/events/{key}", error=error.message)
    return _back(f"/events/{key}", done="guests")


@router.post("/events/{key}/invite", dependencies=[csrf()])
def invite_page(
    session: SessionDep, settings: SettingsDep, me: Writer, key: str
) -> RedirectResponse:
    try:
        run = events.invite(session, key, settings=settings, actor=me.user.email, now=utcnow())
    except PatronError as error:
        session.rollback()
        return _back(f"/events/{key}", error=error.message)
    return _back(f"/events/{key}", done="invited" if run.invited else "none_invited")


@router.post("/events/{key}/attendance", dependencies=[csrf()])
async def attendance_page(
    request: Request, session: SessionDep, me: Writer, key: str
) -> RedirectResponse:
    """Record the ticked guests (``customer`` fields) and a typed-in walk-in as attended."""
    form = await request.form()
    keys = [str(v).strip() for v in form.getlist("customer") if str(v).strip()][:10_000]
    try:
        if not keys:
            raise PatronError("tick the guests who came", code="events.invalid")
        events.mark_attended(session, key, customer_keys=keys, actor=me.user.email, now=utcnow())
    except PatronError as error:
        session.rollback()
        return _back(f"/events/{key}", error=error.message)
    return _back(f"/events/{key}", done="attended")


@router.post("/events/{key}/status", dependencies=[csrf()])
def event_status_page(
    session: SessionDep,
    me: Writer,
    key: str,
    status: Annotated[str, Form(max_length=16)] = "",
) -> RedirectResponse:
    """Mark the event done or cancelled (a cancelled event's invitation links stop working)."""
    try:
        events.update_event(session, key, EventUpdate(status=EventStatus(status)))
    except (PatronError, ValidationError, ValueError) as error:
        session.rollback()
        return _back(f"/events/{key}", error=_problem(error))
    return _back(f"/events/{key}", done="status")
