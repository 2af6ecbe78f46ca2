"""Key accounts: which account manager looks after which A-customer, and the manager's workspace.

The policy, one kind of care per ABC class of the newest score snapshot (DOMAIN.md §1):

- **A-customers** get a personal account manager, assigned by a rule (``run_assignment``):
  within each manager's capacity, a manager serving the customer's country before one who
  serves anywhere, the least loaded first, so equal managers take accounts in turn
  (``assignment.plan`` holds the rule and its order). A person may override it
  (``assign_manually``); the rule never changes a manual assignment, and clearing one hands
  the customer back to the rule at its next run.
- **B-customers** get targeted offers, no manager: campaigns to segments such as
  ``abc = "B"`` and the next best action on the customer 360 (engage).
- **C-customers** get efficient automated care: the journeys (thank-you, birthday, win-back
  …) and the newsletter (engage).

The rule runs again whenever the classes may have changed: ``patron analyze`` runs it after
storing a snapshot, and the worker (``upkeep.run_due``) as soon as it sees a snapshot newer
than the one the last run read. A customer no longer A-class loses a rule assignment; a manual
one stays. ``customers.account_manager_id`` always says the same as the assignments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from patron.access import service as access
from patron.access.schemas import UserPublic
from patron.analytics.snapshots import CustomerScore, latest_snapshot
from patron.care.accounts import assignment
from patron.care.accounts.schemas import (
    AssignmentRunPublic,
    KeyAccountPublic,
    KeyAccountsPublic,
    ManagerIn,
    ManagerPublic,
    ManagersPublic,
    OrderBrief,
    WorkspaceAccount,
    WorkspacePublic,
)
from patron.care.models import OPEN_STATUSES, AccountAssignment, AccountManager, CareRun, Case, Task
from patron.config import Settings
from patron.customers import service as customers
from patron.customers.models import Customer
from patron.errors import Conflict, NotFound, PatronError

MANAGER_ROLES = ("account_manager", "admin")
ASSIGNMENT = "assignment"  # the CareRun job of the rule


class AccountsProblem(PatronError):
    code = "accounts.invalid"
    status = 422


# --- managers ----------------------------------------------------------------------------------


def user_by_email(session: Session, email: str) -> UserPublic:
    """The staff user with this e-mail address (case-insensitive), or ``users.not_found``."""
    address = email.strip().lower()
    for user in access.list_users(session).data:  # staff users are few
        if user.email == address:
            return user
    raise NotFound(
        f"no user with the e-mail address {address!r}",
        code="users.not_found",
        details={"email": address},
    )


def set_manager(
    session: Session,
    *,
    email: str,
    changes: ManagerIn,
    settings: Settings,
    now: datetime,
) -> ManagerPublic:
    """Make a user an account manager, or change one: capacity (a new one gets the shop's
    ``account_capacity``), regions (countries; none: anywhere), active. Only users whose role
    is account_manager or admin may look after accounts. Commits."""
    user = user_by_email(session, email)
    if user.role not in MANAGER_ROLES:
        raise AccountsProblem(
            f"{user.email} is a {user.role}; only an account_manager or an admin can look "
            "after key accounts (change the role with `patron user set-role` first)",
            details={"field": "email", "role": user.role},
        )
    row = session.get(AccountManager, user.id)
    if row is None:
        row = AccountManager(
            user_id=user.id,
            capacity=settings.account_capacity,
            regions=[],
            active=True,
            created_at=now,
        )
        session.add(row)
    if changes.capacity is not None:
        row.capacity = changes.capacity
    if changes.regions is not None:
        row.regions = list(changes.regions)
    if changes.active is not None:
        row.active = changes.active
    session.commit()
    return _manager(user, row, *_loads(session).get(user.id, (0, 0)))


def list_managers(session: Session) -> ManagersPublic:
    """Every account manager with their load (key accounts now, of which manual)."""
    users = {u.id: u for u in access.list_users(session).data}
    loads = _loads(session)
    rows = session.scalars(select(AccountManager).order_by(AccountManager.user_id))
    data = [
        _manager(users[row.user_id], row, *loads.get(row.user_id, (0, 0)))
        for row in rows
        if row.user_id in users
    ]
    data.sort(key=lambda m: m.email)
    return ManagersPublic(data=data, count=len(data))


def _loads(session: Session) -> dict[int, tuple[int, int]]:
    found: dict[int, tuple[int, int]] = {}
    rows = session.execute(
        select(AccountAssignment.manager_id, AccountAssignment.source, func.count()).group_by(
            AccountAssignment.manager_id, AccountAssignment.source
        )
    )
    for manager_id, source, n in rows:
        total, manual = found.get(manager_id, (0, 0))
        found[manager_id] = (total + n, manual + (n if source == "manual" else 0))
    return found


def _manager(user: UserPublic, row: AccountManager, accounts: int, manual: int) -> ManagerPublic:
    return ManagerPublic(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        capacity=row.capacity,
        regions=list(row.regions or []),
        active=row.active,
        accounts=accounts,
        manual=manual,
    )


# --- the rule ----------------------------------------------------------------------------------


def run_assignment(session: Session, *, settings: Settings, now: datetime) -> AssignmentRunPublic:
    """Assign the A-customers of the newest snapshot to managers by the rule, release rule
    assignments of customers no longer A-class, keep manual ones; commits.

    Without any snapshot nothing is known about classes, so nothing changes.
    """
    snapshot = latest_snapshot(session)
    if snapshot is None:
        return AssignmentRunPublic(
            snapshot_id=None, a_customers=0, assigned=0, kept=0, moved=0, released=0, unplaced=0
        )
    a_rows = session.execute(
        select(CustomerScore.customer_id, CustomerScore.clv, Customer.country)
        .join(Customer, Customer.id == CustomerScore.customer_id)
        .where(
            CustomerScore.snapshot_id == snapshot.id,
            CustomerScore.abc == "A",
            Customer.erased_at.is_(None),  # an erased person's orders still count, not them
        )
    ).all()
    current = {row.customer_id: row for row in session.scalars(select(AccountAssignment))}
    a_ids = {int(row[0]) for row in a_rows}
    released = set(current) - a_ids
    countries = dict(
        session.execute(
            select(Customer.id, Customer.country).where(Customer.id.in_(sorted(released)))
        ).all()
    )
    accounts = [
        _account(customer_id, country, current.get(customer_id), clv)
        for customer_id, clv, country in a_rows
    ] + [_account(c, countries.get(c), current[c], None) for c in sorted(released)]
    managers = [
        assignment.Manager(m.user_id, m.capacity, tuple(m.regions or ()), m.active)
        for m in session.scalars(select(AccountManager))
    ]
    plan = assignment.plan(accounts, managers, released=released)
    counts = _carry_out(session, plan, current, now)
    customers.set_account_managers(
        session,
        {p.customer_id: p.manager_id for p in plan.placements} | dict.fromkeys(plan.removals, None),
    )
    mark_run(session, ASSIGNMENT, now=now, snapshot_id=snapshot.id)
    session.commit()
    return AssignmentRunPublic(
        snapshot_id=snapshot.id,
        a_customers=len(a_ids),
        assigned=counts["assigned"],
        kept=counts["kept"],
        moved=counts["moved"],
        released=len([c for c in plan.removals if c in released]),
        unplaced=sum(1 for p in plan.placements if p.manager_id is None),
    )


def _account(
    customer_id: int, country: str | None, now: AccountAssignment | None, clv: float | None
) -> assignment.Account:
    return assignment.Account(
        customer_id=int(customer_id),
        region=country or None,
        manager_id=now.manager_id if now is not None else None,
        manual=now is not None and now.source == "manual",
        value=clv,
    )


def _carry_out(
    session: Session,
    plan: assignment.Plan,
    current: dict[int, AccountAssignment],
    now: datetime,
) -> Counter[str]:
    counts: Counter[str] = Counter()
    if plan.removals:
        session.execute(
            delete(AccountAssignment)
            .where(
                AccountAssignment.customer_id.in_(plan.removals),
                AccountAssignment.source == "rule",
            )
            .execution_options(synchronize_session=False)
        )
    for placement in plan.placements:
        if placement.manager_id is None:
            continue
        row = current.get(placement.customer_id)
        if row is None:
            session.add(
                AccountAssignment(
                    customer_id=placement.customer_id,
                    manager_id=placement.manager_id,
                    source="rule",
                    reason=placement.reason[:200],
                    assigned_at=now,
                )
            )
            counts["assigned"] += 1
        elif row.manager_id == placement.manager_id:
            counts["kept"] += 1
        else:
            row.manager_id, row.source, row.assigned_at = placement.manager_id, "rule", now
            row.reason = placement.reason[:200]
            counts["moved"] += 1
    session.flush()
    return counts


def mark_run(session: Session, job: str, *, now: datetime, snapshot_id: int | None) -> None:
    """Record that ``job`` ran now on ``snapshot_id`` (uncommitted)."""
    row = session.get(CareRun, job)
    if row is None:
        session.add(CareRun(job=job, ran_at=now, snapshot_id=snapshot_id))
    else:
        row.ran_at, row.snapshot_id = now, snapshot_id


def last_run(session: Session, job: str) -> CareRun | None:
    return session.get(CareRun, job)


# --- manual override ---------------------------------------------------------------------------


def assign_manually(
    session: Session, *, customer: str, manager: str | None, actor: str | None, now: datetime
) -> KeyAccountPublic:
    """A person decides who looks after ``customer`` (any customer, A-class or not); the rule
    never changes it. ``manager`` None removes the assignment, and the rule decides at its next
    run. Commits."""
    found = customers.customer_ref(session, key=customer)
    row = session.get(AccountAssignment, found.id)
    if manager is None:
        if row is not None:
            session.delete(row)
        customers.set_account_managers(session, {found.id: None})
        session.commit()
        return key_account(session, found.id)
    user = user_by_email(session, manager)
    registered = session.get(AccountManager, user.id)
    if registered is None or not registered.active:
        state = "not an account manager" if registered is None else "an inactive account manager"
        raise Conflict(
            f"{user.email} is {state}; set them up with `patron account set-manager` first",
            code="accounts.not_a_manager",
            details={"field": "manager", "email": user.email},
        )
    reason = f"manual assignment by {actor}" if actor else "manual assignment"
    if row is None:
        session.add(
            AccountAssignment(
                customer_id=found.id,
                manager_id=user.id,
                source="manual",
                reason=reason[:200],
                assigned_at=now,
            )
        )
    else:
        row.manager_id, row.source, row.reason, row.assigned_at = (
            user.id,
            "manual",
            reason[:200],
            now,
        )
    customers.set_account_managers(session, {found.id: user.id})
    session.commit()
    return key_account(session, found.id)


# --- reading -----------------------------------------------------------------------------------


def key_account(session: Session, customer_id: int) -> KeyAccountPublic:
    """Who looks after one customer (source None: nobody)."""
    accounts = _key_accounts(session, [customer_id])
    if accounts:
        return accounts[0]
    profile = customers.customer_by_number(session, customer_id=customer_id)
    return KeyAccountPublic(
        customer_id=profile.id,
        external_id=profile.external_id,
        name=profile.name,
        country=profile.country,
        manager_id=None,
        manager=None,
        source=None,
        reason=None,
        assigned_at=None,
    )


def key_accounts(
    session: Session, *, manager_id: int | None = None, source: str | None = None
) -> KeyAccountsPublic:
    """The key accounts (customers with a manager), by manager and customer number."""
    query = select(AccountAssignment.customer_id).order_by(
        AccountAssignment.manager_id, AccountAssignment.customer_id
    )
    if manager_id is not None:
        query = query.where(AccountAssignment.manager_id == manager_id)
    if source is not None:
        query = query.where(AccountAssignment.source == source)
    data = _key_accounts(session, list(session.scalars(query)))
    return KeyAccountsPublic(data=data, count=len(data))


def _key_accounts(session: Session, customer_ids: Iterable[int]) -> list[KeyAccountPublic]:
    ids = list(customer_ids)
    if not ids:
        return []
    users = {u.id: u for u in access.list_users(session).data}
    rows = session.execute(
        select(AccountAssignment, Customer.external_id, Customer.name, Customer.country)
        .join(Customer, Customer.id == AccountAssignment.customer_id)
        .where(AccountAssignment.customer_id.in_(ids))
    ).all()
    by_id = {row[0].customer_id: row for row in rows}
    found = []
    for customer_id in ids:
        if customer_id not in by_id:
            continue
        row, external_id, name, country = by_id[customer_id]
        user = users.get(row.manager_id)
        found.append(
            KeyAccountPublic(
                customer_id=customer_id,
                external_id=external_id,
                name=name,
                country=country,
                manager_id=row.manager_id,
                manager=(user.name or user.email) if user else None,
                source=row.source,
                reason=row.reason,
                assigned_at=row.assigned_at,
            )
        )
    return found


def manager_of(session: Session, customer_id: int) -> int | None:
    return session.scalar(
        select(AccountAssignment.manager_id).where(AccountAssignment.customer_id == customer_id)
    )


# --- the workspace -----------------------------------------------------------------------------


def workspace(
    session: Session, *, manager_id: int, tasks_per_account: int = 3, orders_per_account: int = 3
) -> WorkspacePublic:
    """An account manager's accounts, the most valuable first: CLV, P(alive), phase and ABC
    class of the newest snapshot, the latest orders, open cases, the next open tasks; and the
    manager's own open tasks, the next first."""
    from patron.care.accounts import tasks  # tasks name owners with this module's look-up

    assigned = dict(
        session.execute(
            select(AccountAssignment.customer_id, AccountAssignment.source).where(
                AccountAssignment.manager_id == manager_id
            )
        ).all()
    )
    ids = sorted(assigned)
    snapshot = latest_snapshot(session)
    scores = _scores(session, snapshot.id if snapshot else None, ids)
    people = {
        row.id: row
        for row in session.execute(
            select(Customer.id, Customer.external_id, Customer.name, Customer.country).where(
                Customer.id.in_(ids)
            )
        )
    }
    orders = customers.recent_orders(session, ids, per_customer=orders_per_account)
    cases = dict(
        session.execute(
            select(Case.customer_id, func.count())
            .where(Case.customer_id.in_(ids), Case.status.in_(OPEN_STATUSES))
            .group_by(Case.customer_id)
        ).all()
    )
    open_tasks = tasks.public(
        session,
        list(
            session.scalars(
                select(Task)
                .where(Task.customer_id.in_(ids), Task.status == "open")
                .order_by(Task.due_on, Task.id)
            )
        ),
    )
    accounts = [
        WorkspaceAccount(
            customer_id=c,
            external_id=people[c].external_id if c in people else None,
            name=people[c].name if c in people else None,
            country=people[c].country if c in people else None,
            source=assigned[c],
            abc=scores.get(c, {}).get("abc"),
            clv=scores.get(c, {}).get("clv"),
            p_alive=scores.get(c, {}).get("p_alive"),
            phase=scores.get(c, {}).get("lifecycle_phase"),
            orders=[OrderBrief(**o._asdict()) for o in orders.get(c, [])],
            open_cases=int(cases.get(c, 0)),
            next_tasks=[t for t in open_tasks if t.customer_id == c][:tasks_per_account],
        )
        for c in ids
    ]
    accounts.sort(key=lambda a: (a.clv is None, -(a.clv or 0.0), a.customer_id))
    mine = tasks.list_tasks(session, owner_id=manager_id, status="open", limit=50).data
    return WorkspacePublic(
        manager_id=manager_id,
        snapshot_id=snapshot.id if snapshot else None,
        accounts=accounts,
        tasks=mine,
    )


def _scores(session: Session, snapshot_id: int | None, ids: list[int]) -> dict[int, dict[str, Any]]:
    if snapshot_id is None or not ids:
        return {}
    rows = session.execute(
        select(
            CustomerScore.customer_id,
            CustomerScore.abc,
            CustomerScore.clv,
            CustomerScore.p_alive,
            CustomerScore.lifecycle_phase,
        ).where(CustomerScore.snapshot_id == snapshot_id, CustomerScore.customer_id.in_(ids))
    )
    return {row.customer_id: row._asdict() for row in rows}
