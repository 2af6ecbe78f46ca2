"""JSON routes of key accounts, tasks and events under ``/api/v1``.

Account managers and their key accounts (the rule's run and the manual override), tasks (list,
create, done, cancel) and events (guest lists, invitations through engagement, attendance).
Reading needs ``cases:read``, changing ``cases:write``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from patron.care.accounts import events, service, tasks
from patron.care.accounts.schemas import (
    AssignmentRunPublic,
    AttendanceIn,
    AttendancePublic,
    EventCreate,
    EventDetailPublic,
    EventPublic,
    EventsPublic,
    EventUpdate,
    GuestsChanged,
    GuestsIn,
    InvitationRunPublic,
    KeyAccountIn,
    KeyAccountPublic,
    KeyAccountsPublic,
    ManagerIn,
    ManagerPublic,
    ManagersPublic,
    TaskCreate,
    TaskPublic,
    TasksPublic,
)
from patron.customers import service as customers
from patron.db import utcnow
from patron.web.deps import (
    ApiKeyActorDep,
    SessionDep,
    SettingsDep,
    described_errors,
    error_responses,
    require,
)

router = APIRouter(prefix="/api/v1", tags=["key accounts"], responses=error_responses(401, 403))
READ = require("cases:read")
WRITE = require("cases:write")
NOT_TEXT = "The body is not UTF-8 JSON (`http.bad_request`)."
INVALID = "The request is invalid (`request.invalid`, `accounts.invalid`, `tasks.invalid`, `events.invalid`, `segment.invalid`)."
EmailPath = Annotated[str, Path(max_length=254, description="The user's e-mail address.")]
CustomerPath = Annotated[str, Path(max_length=64, description="External id or number.")]
TaskPath = Annotated[str, Path(max_length=12, description="The task's number.")]
EventPath = Annotated[str, Path(max_length=48, description="The event's key.")]


def known_user(session: SessionDep, email: EmailPath) -> str:
    """The user's address, if there is such a user (404 first, before the body)."""
    return service.user_by_email(session, email).email


def known_customer(session: SessionDep, customer: CustomerPath) -> str:
    """The customer's key as given, if it names a customer (404 first, before the body)."""
    customers.customer_ref(session, key=customer)
    return customer


def known_task(session: SessionDep, task: TaskPath) -> int:
    return tasks.get_task(session, task).id


def known_event(session: SessionDep, key: EventPath) -> str:
    return events.get_event(session, key).key


KnownUser = Annotated[str, Depends(known_user)]
KnownCustomer = Annotated[str, Depends(known_customer)]
KnownTask = Annotated[int, Depends(known_task)]
KnownEvent = Annotated[str, Depends(known_event)]


# --- managers and key accounts ------------------------------------------------------------------


@router.get("/account-managers", response_model=ManagersPublic, dependencies=[READ])
def list_managers(session: SessionDep) -> ManagersPublic:
    """Every account manager: capacity, regions, whether active, and their key accounts now."""
    return service.list_managers(session)


@router.put(
    "/account-managers/{email}",
    response_model=ManagerPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {400: NOT_TEXT, 404: "No user with this address (`users.not_found`).", 422: INVALID}
    ),
)
def put_manager(
    session: SessionDep, settings: SettingsDep, email: KnownUser, body: ManagerIn
) -> ManagerPublic:
    """Make a user (role account_manager or admin) an account manager, or change one; what the
    body leaves out stays. The rule takes the change into account at its next run."""
    return service.set_manager(session, email=email, changes=body, settings=settings, now=utcnow())


@router.get(
    "/key-accounts",
    response_model=KeyAccountsPublic,
    dependencies=[READ],
    responses=described_errors({404: "No user with this address (`users.not_found`)."}),
)
def list_key_accounts(
    session: SessionDep,
    manager: Annotated[
        str | None, Query(max_length=254, description="A manager's address.")
    ] = None,
    source: Annotated[str | None, Query(pattern="^(rule|manual)$")] = None,
) -> KeyAccountsPublic:
    """The customers with an account manager, whether a rule or a person decided it, and why."""
    manager_id = service.user_by_email(session, manager).id if manager else None
    return service.key_accounts(session, manager_id=manager_id, source=source)


@router.put(
    "/key-accounts/{customer}",
    response_model=KeyAccountPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: NOT_TEXT,
            404: "No such customer or user (`customers.not_found`, `users.not_found`).",
            409: "The user is no (active) account manager (`accounts.not_a_manager`).",
            422: INVALID,
        }
    ),
)
def put_key_account(
    session: SessionDep, actor: ApiKeyActorDep, customer: KnownCustomer, body: KeyAccountIn
) -> KeyAccountPublic:
    """Manual override: this manager looks after the customer, and the rule leaves it so;
    `{"manager": null}` removes the assignment and lets the rule decide at its next run."""
    return service.assign_manually(
        session, customer=customer, manager=body.manager, actor=actor, now=utcnow()
    )


@router.post(
    "/key-accounts/assignment-runs", response_model=AssignmentRunPublic, dependencies=[WRITE]
)
def run_assignment(session: SessionDep, settings: SettingsDep) -> AssignmentRunPublic:
    """Run the assignment rule now over the newest snapshot's A-customers (the worker does
    it by itself after each analysis)."""
    return service.run_assignment(session, settings=settings, now=utcnow())


# --- tasks -------------------------------------------------------------------------------------


@router.get(
    "/tasks",
    response_model=TasksPublic,
    dependencies=[READ],
    responses=described_errors(
        {404: "No such owner or customer (`users.not_found`, `customers.not_found`)."}
    ),
)
def list_tasks(
    session: SessionDep,
    owner: Annotated[str | None, Query(max_length=254, description="The owner's address.")] = None,
    customer: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern="^(open|done|cancelled|all)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> TasksPublic:
    """Tasks, open first by due day; narrowed to an owner, a customer, a status (`all`: any)."""
    return tasks.list_tasks(
        session,
        owner_id=service.user_by_email(session, owner).id if owner else None,
        customer_id=customers.customer_ref(session, key=customer).id if customer else None,
        status=None if status == "all" else status,
        limit=limit,
    )


@router.post(
    "/tasks",
    status_code=201,
    response_model=TaskPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: NOT_TEXT,
            404: "No such customer or owner (`customers.not_found`, `users.not_found`).",
            422: INVALID,
        }
    ),
)
def create_task(session: SessionDep, actor: ApiKeyActorDep, body: TaskCreate) -> TaskPublic:
    """A call, visit, gift, invitation or follow-up, due on a day; the owner defaults to the
    customer's account manager."""
    return tasks.create_task(session, body, actor=actor, now=utcnow())


TASK_CHANGE_ERRORS = described_errors(
    {
        400: NOT_TEXT,
        404: "No such task (`tasks.not_found`).",
        409: "Not open (`tasks.wrong_status`).",
    }
)


@router.post(
    "/tasks/{task}/done",
    response_model=TaskPublic,
    dependencies=[WRITE],
    responses=TASK_CHANGE_ERRORS,
)
def complete_task(session: SessionDep, task: KnownTask) -> TaskPublic:
    return tasks.complete_task(session, task, now=utcnow())


@router.post(
    "/tasks/{task}/cancel",
    response_model=TaskPublic,
    dependencies=[WRITE],
    responses=TASK_CHANGE_ERRORS,
)
def cancel_task(session: SessionDep, task: KnownTask) -> TaskPublic:
    return tasks.cancel_task(session, task, now=utcnow())


# --- events ------------------------------------------------------------------------------------


@router.get("/events", response_model=EventsPublic, dependencies=[READ])
def list_events(session: SessionDep) -> EventsPublic:
    """Every event with its counts (guests, invited, accepted, declined, attended)."""
    return events.list_events(session)


@router.post(
    "/events",
    status_code=201,
    response_model=EventPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {400: NOT_TEXT, 409: "An event with this key exists (`events.exists`).", 422: INVALID}
    ),
)
def create_event(session: SessionDep, actor: ApiKeyActorDep, body: EventCreate) -> EventPublic:
    """A trade fair, jubilee, product test or other event; its segment chooses its guests."""
    return events.create_event(session, body, actor=actor, now=utcnow())


@router.get(
    "/events/{key}",
    response_model=EventDetailPublic,
    dependencies=[READ],
    responses=described_errors({400: NOT_TEXT, 404: "No such event (`events.not_found`)."}),
)
def get_event(session: SessionDep, settings: SettingsDep, key: KnownEvent) -> EventDetailPublic:
    """The event, its counts and its guests (with whether those not yet invited can be
    reached by a marketing e-mail now)."""
    return events.detail(session, key, settings=settings)


@router.patch(
    "/events/{key}",
    response_model=EventPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {400: NOT_TEXT, 404: "No such event (`events.not_found`).", 422: INVALID}
    ),
)
def update_event(session: SessionDep, key: KnownEvent, body: EventUpdate) -> EventPublic:
    """Change what the body names (e.g. `{"status": "cancelled"}`)."""
    return events.update_event(session, key, body)


@router.post(
    "/events/{key}/guests",
    response_model=GuestsChanged,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: NOT_TEXT,
            404: "No such event or customer (`events.not_found`, `customers.not_found`).",
            422: INVALID,
        }
    ),
)
def change_guests(session: SessionDep, key: KnownEvent, body: GuestsIn) -> GuestsChanged:
    """Add everyone in a segment (the event's own by default), add the listed customers, or
    (`"remove": true`) take them off the list."""
    if body.remove:
        return events.remove_guests(session, key, customer_keys=body.customers or [])
    return events.add_guests(session, key, segment=body.segment, customer_keys=body.customers or [])


@router.post(
    "/events/{key}/invitations",
    response_model=InvitationRunPublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: NOT_TEXT,
            404: "No such event (`events.not_found`).",
            409: "The event is cancelled (`events.cancelled`).",
            410: "The event is over (`events.over`).",
        }
    ),
)
def invite(
    session: SessionDep, settings: SettingsDep, actor: ApiKeyActorDep, key: KnownEvent
) -> InvitationRunPublic:
    """A personal invitation by e-mail to each guest not yet invited who agreed to marketing,
    each with their own link to accept or decline; the others are listed with the reason."""
    return events.invite(session, key, settings=settings, actor=actor, now=utcnow())


@router.post(
    "/events/{key}/attendance",
    response_model=AttendancePublic,
    dependencies=[WRITE],
    responses=described_errors(
        {
            400: NOT_TEXT,
            404: "No such event or customer (`events.not_found`, `customers.not_found`).",
            422: INVALID,
        }
    ),
)
def attendance(
    session: SessionDep, actor: ApiKeyActorDep, key: KnownEvent, body: AttendanceIn
) -> AttendancePublic:
    """Record that these customers came: on the guest list and as an interaction on each."""
    return events.mark_attended(
        session, key, customer_keys=body.customers, actor=actor, now=utcnow()
    )
