"""Tasks: calls, visits, gifts, invitations and follow-ups, each due on a day and owned by a user,
made by hand or by the rules that watch the key accounts.

The rules (``run_rules``) look at every customer with an account manager and give the task to
that manager:

- **P(alive) dropped** — the customer's P(alive) fell by at least ``task_p_alive_drop``
  between the two newest score snapshots: a ``call``, due today
  (key ``p_alive:<customer>:<newest snapshot>``).
- **Anniversary** — the anniversary of the first order (the snapshot's ``first_purchase``, else
  the first order in the store) is at most ``task_gift_days_before`` days away: a personal
  ``gift``, due that many days before it (key ``anniversary:<customer>:<year>``).
- **No contact** — no contact for ``task_no_contact_days`` days: an ``invitation`` (to an event,
  a visit), due today (key ``no_contact:<customer>:<day of the last contact>``, or ``never``).
  A contact is a personal one: an interaction of a kind in ``CONTACT_KINDS`` (a call, a
  meeting, a visit, attending an event — not an e-mail click or a product view, which are
  signals, not conversations), a completed task about the customer, or a reply or message in
  one of their cases.

A rule's task carries its key, unique in the store, so a rule never makes the same task twice
— not on the next run, not when two workers run at once, not after the task was cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.access import service as access
from patron.analytics.snapshots import CustomerScore, ScoreSnapshot
from patron.care.accounts.schemas import RulesRunPublic, TaskCreate, TaskPublic, TasksPublic
from patron.care.accounts.service import user_by_email
from patron.care.models import (
    AccountAssignment,
    Case,
    CaseEntry,
    EventGuest,
    Task,
)
from patron.config import Settings
from patron.customers import service as customers
from patron.customers.models import Customer, Interaction, Order
from patron.db import insert_new
from patron.engage.triggers import celebration
from patron.errors import Conflict, NotFound, PatronError

CONTACT_KINDS = ("call", "meeting", "visit", "event_attendance")
CONTACT_ENTRIES = ("reply", "customer")
LIMIT = 500


class TaskProblem(PatronError):
    code = "tasks.invalid"
    status = 422


# --- by hand -----------------------------------------------------------------------------------


def create_task(
    session: Session,
    request: TaskCreate,
    *,
    actor: str | None,
    now: datetime,
    event_id: int | None = None,
    case_id: int | None = None,
) -> TaskPublic:
    """A task from a person; the owner defaults to the customer's account manager. Commits."""
    customer_id = None
    if request.customer:
        customer_id = customers.customer_ref(session, key=request.customer).id
    owner_id: int | None = None
    if request.owner:
        owner_id = user_by_email(session, request.owner).id
    elif customer_id is not None:
        owner_id = session.scalar(
            select(AccountAssignment.manager_id).where(AccountAssignment.customer_id == customer_id)
        )
    task = Task(
        kind=request.kind.value,
        title=request.title.strip(),
        note=(request.note or "").strip() or None,
        customer_id=customer_id,
        owner_id=owner_id,
        due_on=request.due_on,
        status="open",
        event_id=event_id,
        case_id=case_id,
        created_by=actor,
        created_at=now,
    )
    session.add(task)
    session.commit()
    return public(session, [task])[0]


def create_once(
    session: Session,
    *,
    key: str,
    rule: str,
    kind: str,
    customer_id: int,
    title: str,
    note: str | None,
    due_on: date,
    now: datetime,
) -> int | None:
    """A task another area's rule calls for (a subscription's notice deadline), for the
    customer's account manager, unassigned when they have none; made once per ``key``, also
    when two workers run at once. The new task's id, or None when the key was taken. Does not
    commit: the task stands or falls with the caller's change."""
    owner_id = session.scalar(
        select(AccountAssignment.manager_id).where(AccountAssignment.customer_id == customer_id)
    )
    row = _task(key, rule, kind, customer_id, owner_id, title, due_on, now) | {"note": note}
    added = insert_new(session.connection(), Task, [row], unique=["key"], returning=["id"])
    return int(added[0].id) if added else None


def list_tasks(
    session: Session,
    *,
    owner_id: int | None = None,
    customer_id: int | None = None,
    status: str | None = "open",
    limit: int = LIMIT,
) -> TasksPublic:
    """Tasks, open ones first, then by due day (the next first) and number; narrowed to an
    owner, a customer or a status (None: every status)."""
    if status is not None and status not in ("open", "done", "cancelled"):
        raise TaskProblem(
            f"unknown status {status!r}; choose open, done or cancelled",
            details={"field": "status"},
        )
    if not 1 <= limit <= 5000:
        raise TaskProblem("the limit is a number from 1 to 5000", details={"field": "limit"})
    query = select(Task).order_by((Task.status != "open"), Task.due_on, Task.id).limit(limit)
    if owner_id is not None:
        query = query.where(Task.owner_id == owner_id)
    if customer_id is not None:
        query = query.where(Task.customer_id == customer_id)
    if status is not None:
        query = query.where(Task.status == status)
    data = public(session, list(session.scalars(query)))
    return TasksPublic(data=data, count=len(data))


def get_task(session: Session, task_id: int | str) -> Task:
    ref = str(task_id).strip()
    task = session.get(Task, int(ref)) if ref.isdigit() and int(ref) < 2**31 else None
    if task is None:
        raise NotFound(f"no task {ref!r}", code="tasks.not_found", details={"task": ref})
    return task


def complete_task(session: Session, task_id: int | str, *, now: datetime) -> TaskPublic:
    """An open task is done (a completed task about a customer counts as a contact)."""
    return _close(session, task_id, "done", now)


def cancel_task(session: Session, task_id: int | str, *, now: datetime) -> TaskPublic:
    """An open task is dropped; a rule does not make it again."""
    return _close(session, task_id, "cancelled", now)


def _close(session: Session, task_id: int | str, status: str, now: datetime) -> TaskPublic:
    task = get_task(session, task_id)
    if task.status != "open":
        raise Conflict(
            f"task {task.id} is {task.status}; only an open task can be "
            f"{'completed' if status == 'done' else 'cancelled'}",
            code="tasks.wrong_status",
            details={"status": task.status},
        )
    task.status, task.done_at = status, now
    session.commit()
    return public(session, [task])[0]


def public(session: Session, tasks: Sequence[Task]) -> list[TaskPublic]:
    """Tasks with their customer's name and their owner's name (two queries at most)."""
    customer_ids = {t.customer_id for t in tasks if t.customer_id is not None}
    names = (
        dict(
            session.execute(
                select(Customer.id, Customer.name).where(Customer.id.in_(sorted(customer_ids)))
            ).all()
        )
        if customer_ids
        else {}
    )
    users = (
        {u.id: u.name or u.email for u in access.list_users(session).data}
        if any(t.owner_id for t in tasks)
        else {}
    )
    return [
        TaskPublic.model_validate(task).model_copy(
            update={
                "customer_name": names.get(task.customer_id) if task.customer_id else None,
                "owner": users.get(task.owner_id) if task.owner_id else None,
            }
        )
        for task in tasks
    ]


# --- the rules ---------------------------------------------------------------------------------


def run_rules(session: Session, *, settings: Settings, now: datetime) -> RulesRunPublic:
    """Make the tasks the rules call for now (see the module docstring); commits."""
    owners = dict(
        session.execute(select(AccountAssignment.customer_id, AccountAssignment.manager_id)).all()
    )
    today = now.astimezone(settings.tz).date()
    made = {"p_alive": 0, "anniversary": 0, "no_contact": 0}
    if owners:
        rows = [
            *_p_alive_drops(session, owners, settings.task_p_alive_drop, today, now),
            *_anniversaries(session, owners, settings, today, now),
            *_quiet_accounts(session, owners, settings.task_no_contact_days, today, now),
        ]
        added = insert_new(
            session.connection(), Task, rows, unique=["key"], returning=["id", "rule"]
        )
        for row in added:
            made[row.rule] += 1
    session.commit()
    return RulesRunPublic(**made)


def _task(
    key: str,
    rule: str,
    kind: str,
    customer_id: int,
    owner_id: int | None,
    title: str,
    due: date,
    now: datetime,
) -> dict[str, Any]:
    return {
        "key": key,
        "customer_id": customer_id,
        "owner_id": owner_id,
        "kind": kind,
        "title": title[:300],
        "note": None,
        "due_on": due,
        "status": "open",
        "rule": rule,
        "case_id": None,
        "event_id": None,
        "created_by": f"rule:{rule}",
        "created_at": now,
        "done_at": None,
    }


def _p_alive_drops(
    session: Session, owners: dict[int, int], drop: float, today: date, now: datetime
) -> list[dict[str, Any]]:
    newest = list(
        session.scalars(select(ScoreSnapshot.id).order_by(ScoreSnapshot.id.desc()).limit(2))
    )
    if len(newest) < 2:
        return []
    new, old = newest
    scores: dict[int, dict[int, float]] = {new: {}, old: {}}
    for snapshot_id, customer_id, p_alive in session.execute(
        select(CustomerScore.snapshot_id, CustomerScore.customer_id, CustomerScore.p_alive).where(
            CustomerScore.snapshot_id.in_(newest),
            CustomerScore.customer_id.in_(sorted(owners)),
            CustomerScore.p_alive.is_not(None),
        )
    ):
        if p_alive is not None:
            scores[snapshot_id][customer_id] = float(p_alive)
    rows = []
    for customer_id, after in sorted(scores[new].items()):
        before = scores[old].get(customer_id)
        # a small tolerance, so that 0.8 - 0.6 counts as the 0.2 it is written as
        if before is not None and before - after >= drop - 1e-9:
            title = f"Call: P(alive) fell from {before:.0%} to {after:.0%}"
            rows.append(
                _task(
                    f"p_alive:{customer_id}:{new}",
                    "p_alive",
                    "call",
                    customer_id,
                    owners[customer_id],
                    title,
                    today,
                    now,
                )
            )
    return rows


def _anniversaries(
    session: Session, owners: dict[int, int], settings: Settings, today: date, now: datetime
) -> list[dict[str, Any]]:
    days = settings.task_gift_days_before
    rows = []
    for customer_id, first in sorted(_first_purchases(session, owners, settings).items()):
        for year in (today.year, today.year + 1):
            if year <= first.year:
                continue
            day = celebration(first, year)
            if today <= day <= today + timedelta(days=days):
                years = year - first.year
                rows.append(
                    _task(
                        f"anniversary:{customer_id}:{year}",
                        "anniversary",
                        "gift",
                        customer_id,
                        owners[customer_id],
                        f"Personal gift: {years} year(s) since the first order on {day:%Y-%m-%d}",
                        day - timedelta(days=days),
                        now,
                    )
                )
    return rows


def _first_purchases(
    session: Session, owners: dict[int, int], settings: Settings
) -> dict[int, date]:
    """Each key account's first purchase: from the newest snapshot that has the customer, else
    from their first order in the store (in the shop's time zone)."""
    ids = sorted(owners)
    newest = (
        select(CustomerScore.customer_id, func.max(CustomerScore.snapshot_id).label("snapshot"))
        .where(CustomerScore.customer_id.in_(ids))
        .group_by(CustomerScore.customer_id)
        .subquery()
    )
    found: dict[int, date] = {}
    for customer_id, first in session.execute(
        select(CustomerScore.customer_id, CustomerScore.first_purchase).join(
            newest,
            (newest.c.customer_id == CustomerScore.customer_id)
            & (newest.c.snapshot == CustomerScore.snapshot_id),
        )
    ):
        if first is not None:
            found[int(customer_id)] = first
    missing = [c for c in ids if c not in found]
    if missing:
        for buyer, placed in session.execute(
            select(Order.customer_id, func.min(Order.placed_at))
            .where(Order.customer_id.in_(missing))
            .group_by(Order.customer_id)
        ):
            if buyer is not None and placed is not None:
                found[buyer] = _aware(placed).astimezone(settings.tz).date()
    return found


def _quiet_accounts(
    session: Session, owners: dict[int, int], days: int, today: date, now: datetime
) -> list[dict[str, Any]]:
    last = last_contacts(session, owners)
    rows = []
    for customer_id in sorted(owners):
        contact = last.get(customer_id)
        if contact is not None and (now - contact) < timedelta(days=days):
            continue
        since = contact.date().isoformat() if contact is not None else "never"
        title = (
            f"Invite: no personal contact since {since}"
            if contact is not None
            else "Invite: no personal contact yet"
        )
        rows.append(
            _task(
                f"no_contact:{customer_id}:{since}",
                "no_contact",
                "invitation",
                customer_id,
                owners[customer_id],
                title,
                today,
                now,
            )
        )
    return rows


def last_contacts(session: Session, customer_ids: Iterable[int]) -> dict[int, datetime]:
    """The last personal contact with each customer (see the module docstring); customers never
    contacted are missing."""
    ids = sorted(set(customer_ids))
    queries = (
        select(Interaction.customer_id, func.max(Interaction.occurred_at))
        .where(Interaction.customer_id.in_(ids), Interaction.kind.in_(CONTACT_KINDS))
        .group_by(Interaction.customer_id),
        select(Task.customer_id, func.max(Task.done_at))
        .where(Task.customer_id.in_(ids), Task.status == "done")
        .group_by(Task.customer_id),
        select(Case.customer_id, func.max(CaseEntry.created_at))
        .join(Case, Case.id == CaseEntry.case_id)
        .where(Case.customer_id.in_(ids), CaseEntry.kind.in_(CONTACT_ENTRIES))
        .group_by(Case.customer_id),
        select(EventGuest.customer_id, func.max(EventGuest.attended_at))
        .where(EventGuest.customer_id.in_(ids))
        .group_by(EventGuest.customer_id),
    )
    last: dict[int, datetime] = {}
    for query in queries:
        for customer_id, moment in session.execute(query):
            if customer_id is None or moment is None:
                continue
            moment = _aware(moment)
            if customer_id not in last or moment > last[customer_id]:
                last[customer_id] = moment
    return last


def _aware(value: datetime | str) -> datetime:
    """MAX() over a timestamp may come back as text on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
