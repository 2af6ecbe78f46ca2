"""Use cases of cases: open one, answer the customer, note, move it along its status flow,
assign it, resolve it (which asks the customer for a CSAT rating), and read cases and queues.

A case belongs to one customer and optionally to one of their orders. Its deadlines are fixed
when it opens, from the SLA policy for its priority and the customer's ABC class at that moment
(``timing``). Every change is an entry of its history, and every function here commits its own
work; a refused request (an unknown customer, a status the flow does not allow) changes nothing.
Replies and the survey go out as transactional e-mails through engagement, whose templates
``case_reply`` and ``case_csat`` put ``[Case #id]`` in the subject, so the customer's answer
finds its way back (``inbound``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, nulls_last, select
from sqlalchemy.orm import Session

from patron.access import service as access
from patron.access.permissions import allows
from patron.analytics import snapshots
from patron.care.cases import notices, timing
from patron.care.cases.schemas import CaseDetail, CasePublic, CasesPublic, EntryPublic
from patron.care.models import (
    CASE_CHANNELS,
    CASE_KINDS,
    OPEN_STATUSES,
    PRIORITIES,
    Case,
    CaseEntry,
)
from patron.config import Settings
from patron.customers import service as customers
from patron.customers.models import Customer, Order
from patron.errors import NotFound, PatronError
from patron.outbox import service as outbox


def N_(message: str) -> str:
    """Marks a text for the translation catalogue: pages show it translated, API and CLI as is."""
    return message


# The categories a case is filed under, with the label pages show (translated).
CATEGORIES: dict[str, str] = {
    "delivery": N_("Delivery (late, lost)"),
    "damaged": N_("Damaged goods"),
    "wrong_item": N_("Wrong item"),
    "quality": N_("Quality"),
    "billing": N_("Billing and payment"),
    "return": N_("Return and refund"),
    "service": N_("Service and advice"),
    "other": N_("Other"),
}
# The status flow: where a case may go from each status. A resolved case may be reopened;
# a closed one is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"in_progress", "waiting", "resolved", "closed"}),
    "in_progress": frozenset({"waiting", "resolved", "closed"}),
    "waiting": frozenset({"in_progress", "resolved", "closed"}),
    "resolved": frozenset({"in_progress", "closed"}),
    "closed": frozenset(),
}
QUEUES = ("mine", "team", "unassigned", "all")
MAX_LIST = 500


class CaseInvalid(PatronError):
    code = "cases.invalid"
    status = 422


class TransitionRefused(PatronError):
    code = "cases.transition"
    status = 409


def _invalid(field: str, message: str, **details: Any) -> CaseInvalid:
    return CaseInvalid(message, details={"field": field, **details})


# --- opening ---------------------------------------------------------------------------------


def open_case(
    session: Session,
    *,
    customer: str | int,
    subject: str,
    description: str,
    kind: str = "complaint",
    category: str = "other",
    priority: str = "normal",
    channel: str = "web",
    order: str | None = None,
    assignee_id: int | None = None,
    team: str | None = None,
    key: str | None = None,
    author: str | None = None,
    settings: Settings,
    now: datetime,
) -> tuple[CaseDetail, bool]:
    """Open a case and commit; ``(case, created)``. The same ``key`` again answers with the
    case it opened first (``created`` False) and changes nothing.

    ``customer`` is an external id or Patron number as text (``customers.customer_ref``), or
    the Patron number itself as an int; ``order`` an external id of one of that customer's
    orders. The first entry is the customer's ``description``.
    """
    if key is not None:
        existing = session.scalar(select(Case.id).where(Case.key == key))
        if existing is not None:
            return detail(session, case_id=existing, settings=settings, now=now), False
    _check_choice("kind", kind, CASE_KINDS)
    _check_choice("category", category, tuple(CATEGORIES))
    _check_choice("priority", priority, PRIORITIES)
    _check_choice("channel", channel, CASE_CHANNELS)
    subject, description = _text("subject", subject, 300), _text("description", description)
    customer_id = (
        customers.customer_by_number(session, customer_id=customer).id
        if isinstance(customer, int)
        else customers.customer_ref(session, key=customer).id
    )
    order_id = _order_of(session, customer_id, order) if order else None
    if assignee_id is not None:
        _check_agent(session, assignee_id)
    classes = snapshots.customer_classes(session, customer_id) or {}
    customer_class = classes.get("abc_class")
    due = timing.deadlines(
        settings, priority=priority, customer_class=customer_class, opened_at=now
    )
    row = Case(
        key=key,
        customer_id=customer_id,
        order_id=order_id,
        kind=kind,
        subject=subject,
        category=category,
        priority=priority,
        channel=channel,
        status="new",
        assignee_id=assignee_id,
        team=_team(team),
        customer_class=customer_class,
        sla_policy=due.policy,
        opened_at=now,
        first_response_due=due.first_response_due,
        resolution_due=due.resolution_due,
        created_by=author,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    session.add(
        CaseEntry(case_id=row.id, kind="customer", body=description, author=None, created_at=now)
    )
    session.commit()
    return detail(session, case_id=row.id, settings=settings, now=now), True


def _check_choice(field: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise _invalid(
            field,
            f"{field} must be one of {', '.join(allowed)}, not {value!r}",
            value=value,
            allowed=list(allowed),
        )


def _text(field: str, value: str, limit: int = 20_000) -> str:
    text = (value or "").strip()
    if not text:
        raise _invalid(field, f"{field} must not be empty")
    if len(text) > limit:
        raise _invalid(field, f"{field} has at most {limit} characters, not {len(text)}")
    return text


def _team(team: str | None) -> str | None:
    text = (team or "").strip() or None
    if text is not None and len(text) > 64:
        raise _invalid("team", "a team's name has at most 64 characters")
    return text


def _order_of(session: Session, customer_id: int, order: str) -> int:
    row = session.execute(
        select(Order.id, Order.customer_id).where(Order.external_id == order.strip())
    ).first()
    if row is None:
        raise NotFound(
            f"no order with external id {order!r}",
            code="orders.not_found",
            details={"field": "order", "order": order},
        )
    if row.customer_id != customer_id:
        raise _invalid(
            "order", f"order {order!r} is not one of this customer's orders", order=order
        )
    return int(row.id)


def agents(session: Session) -> list[tuple[int, str]]:
    """Active users who may work on cases (their role grants ``cases:write``): (id, name)."""
    return [
        (user.id, user.name or user.email)
        for user in access.list_users(session).data
        if user.active and allows(user.role, "cases:write")
    ]


def _check_agent(session: Session, user_id: int) -> None:
    if user_id not in dict(agents(session)):
        raise _invalid(
            "assignee_id",
            f"user {user_id} is no active user whose role may work on cases",
            assignee_id=user_id,
        )


# --- changing a case -------------------------------------------------------------------------


def _locked(session: Session, case_id: int) -> Case:
    row = session.scalar(select(Case).where(Case.id == case_id).with_for_update())
    if row is None:
        raise NotFound(f"no case {case_id}", code="cases.not_found", details={"case_id": case_id})
    return row


def _entry(
    session: Session, row: Case, kind: str, body: str, author: str | None, now: datetime
) -> CaseEntry:
    entry = CaseEntry(case_id=row.id, kind=kind, body=body, author=author, created_at=now)
    session.add(entry)
    session.flush()
    return entry


def _move(session: Session, row: Case, status: str, author: str | None, now: datetime) -> None:
    """Move ``row`` to ``status`` if the flow allows it, with a ``change`` entry."""
    if status not in TRANSITIONS:
        raise _invalid("status", f"unknown status {status!r}", allowed=list(TRANSITIONS))
    before = row.status
    if status == before:
        return
    if status not in TRANSITIONS[before]:
        allowed = sorted(TRANSITIONS[before])
        raise TransitionRefused(
            f"case {row.id} cannot go from {before} to {status}"
            + (
                f"; from {before} it may go to {', '.join(allowed)}" if allowed else "; it is final"
            ),
            details={"case_id": row.id, "from": before, "to": status, "allowed": allowed},
        )
    row.status = status
    if status == "resolved":
        row.resolved_at = now
    elif status == "closed":
        row.closed_at = now
    elif before == "resolved":
        row.resolved_at = None  # reopened: no longer resolved
    row.updated_at = now
    _entry(session, row, "change", f"status: {before} → {status}", author, now)


def reopen_for_customer(session: Session, row: Case, *, author: str | None, now: datetime) -> None:
    """The customer wrote again: a case waiting for them, or resolved, is back in progress
    (flushes; the caller commits)."""
    _move(session, row, "in_progress", author, now)


def reply(
    session: Session,
    *,
    case_id: int,
    body: str,
    author: str | None,
    settings: Settings,
    now: datetime,
    wait: bool = False,
    send: bool = True,
) -> EntryPublic:
    """Answer the customer: a ``reply`` entry, e-mailed to them (``send``), and commit.

    The first reply is the case's first response. A new case goes to in progress, or with
    ``wait`` to waiting for the customer. An unreachable customer (no address, suppressed) is
    refused with ``message.unreachable`` and nothing is recorded: reply with ``send`` False
    to record an answer given another way.
    """
    row = _locked(session, case_id)
    text = _text("body", body)
    if row.status == "closed":
        raise TransitionRefused(
            f"case {case_id} is closed: it takes no more replies",
            details={"case_id": case_id, "from": "closed", "to": "reply"},
        )
    entry = _entry(session, row, "reply", text, author, now)
    if row.first_response_at is None:
        row.first_response_at = now
    if wait:
        _move(session, row, "waiting", author, now)
    elif row.status == "new":
        _move(session, row, "in_progress", author, now)
    row.updated_at = now
    entry_id = entry.id
    if send:
        try:
            entry.message_id = notices.reply(
                session, row, entry_id=entry_id, text=text, settings=settings, now=now
            )
        except PatronError:
            session.rollback()
            raise
    session.commit()
    return EntryPublic.model_validate(session.get_one(CaseEntry, entry_id))


def add_note(
    session: Session, *, case_id: int, body: str, author: str | None, now: datetime
) -> EntryPublic:
    """An internal note the customer never sees; commits."""
    row = _locked(session, case_id)
    entry = _entry(session, row, "note", _text("body", body), author, now)
    row.updated_at = now
    session.commit()
    return EntryPublic.model_validate(entry)


def change_status(
    session: Session,
    *,
    case_id: int,
    status: str,
    author: str | None,
    settings: Settings,
    now: datetime,
    note: str | None = None,
) -> CaseDetail:
    """Move a case along its status flow (``TRANSITIONS``) and commit; ``resolved`` is
    ``resolve``. A move the flow does not allow is refused (``cases.transition``, 409)."""
    if status == "resolved":
        return resolve(
            session, case_id=case_id, author=author, settings=settings, now=now, note=note
        )
    row = _locked(session, case_id)
    _move(session, row, status, author, now)
    if note and note.strip():
        _entry(session, row, "note", _text("note", note, 2000), author, now)
    session.commit()
    return detail(session, case_id=case_id, settings=settings, now=now)


def resolve(
    session: Session,
    *,
    case_id: int,
    author: str | None,
    settings: Settings,
    now: datetime,
    note: str | None = None,
) -> CaseDetail:
    """Mark a case resolved and commit, and ask the customer how satisfied they are (the CSAT
    survey, once per case). A customer the e-mail cannot reach does not keep the case open:
    a ``change`` entry says the survey could not be sent."""
    row = _locked(session, case_id)
    _move(session, row, "resolved", author, now)
    if note and note.strip():
        _entry(session, row, "note", _text("note", note, 2000), author, now)
    unsent = notices.csat(session, row, settings=settings, now=now)
    if unsent is not None:
        _entry(session, row, "change", unsent, None, now)
    session.commit()
    return detail(session, case_id=case_id, settings=settings, now=now)


def assign(
    session: Session,
    *,
    case_id: int,
    assignee_id: int | None,
    team: str | None,
    author: str | None,
    settings: Settings,
    now: datetime,
) -> CaseDetail:
    """Give the case to an agent and/or a team (None: nobody / no team) and commit."""
    row = _locked(session, case_id)
    if assignee_id is not None:
        _check_agent(session, assignee_id)
    team = _team(team)
    names = dict(agents(session))
    changes = []
    if assignee_id != row.assignee_id:
        who = names.get(assignee_id, "–") if assignee_id is not None else "–"
        changes.append(f"assignee: {who}")
        row.assignee_id = assignee_id
    if team != row.team:
        changes.append(f"team: {team or '–'}")
        row.team = team
    if changes:
        row.updated_at = now
        _entry(session, row, "change", ", ".join(changes), author, now)
    session.commit()
    return detail(session, case_id=case_id, settings=settings, now=now)


# --- reading ---------------------------------------------------------------------------------


def _select() -> Select[Case, str | None, str | None, str]:
    return (
        select(Case, Customer.name, Customer.external_id, Order.external_id)
        .join(Customer, Customer.id == Case.customer_id)
        .outerjoin(Order, Order.id == Case.order_id)
    )


def _next_due() -> ColumnElement[Any]:
    """SQL for a case's next deadline (as ``timing.next_due``, for sorting)."""
    return case(
        (Case.first_response_at.is_(None), Case.first_response_due),
        else_=Case.resolution_due,
    )


def _public(
    found: Any, names: dict[int, str], *, settings: Settings, now: datetime
) -> dict[str, Any]:
    row, customer_name, customer_external_id, order_external_id = found
    standing = timing.standing(row, settings=settings, now=now)
    return {
        "id": row.id,
        "customer_id": row.customer_id,
        "customer_name": customer_name,
        "customer_external_id": customer_external_id,
        "order_id": row.order_id,
        "order_external_id": order_external_id,
        "kind": row.kind,
        "subject": row.subject,
        "category": row.category,
        "priority": row.priority,
        "channel": row.channel,
        "status": row.status,
        "assignee_id": row.assignee_id,
        "assignee": names.get(row.assignee_id) if row.assignee_id is not None else None,
        "team": row.team,
        "customer_class": row.customer_class,
        "sla_policy": row.sla_policy,
        "opened_at": row.opened_at,
        "first_response_due": row.first_response_due,
        "resolution_due": row.resolution_due,
        "first_response_at": row.first_response_at,
        "resolved_at": row.resolved_at,
        "closed_at": row.closed_at,
        "first_response_breached_at": row.first_response_breached_at,
        "resolution_breached_at": row.resolution_breached_at,
        "csat_score": row.csat_score,
        "due_at": standing.due_at,
        "due_state": standing.state,
        "working_hours_left": standing.hours_left,
    }


def _user_names(session: Session) -> dict[int, str]:
    return {user.id: user.name or user.email for user in access.list_users(session).data}


def detail(session: Session, *, case_id: int, settings: Settings, now: datetime) -> CaseDetail:
    """One case with its whole history, oldest entry first."""
    found = session.execute(_select().where(Case.id == case_id)).first()
    if found is None:
        raise NotFound(f"no case {case_id}", code="cases.not_found", details={"case_id": case_id})
    entries = session.scalars(
        select(CaseEntry).where(CaseEntry.case_id == case_id).order_by(CaseEntry.id)
    )
    values = _public(found, _user_names(session), settings=settings, now=now)
    return CaseDetail(**values, entries=[EntryPublic.model_validate(e) for e in entries])


def list_cases(
    session: Session,
    *,
    settings: Settings,
    now: datetime,
    status: Sequence[str] = (),
    customer_id: int | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    team: str | None = None,
    kind: str | None = None,
    category: str | None = None,
    priority: str | None = None,
    limit: int = 100,
) -> CasesPublic:
    """Cases matching every filter given, the next deadline first (cases without one last,
    newest first); ``count`` is how many match in all."""
    for wanted in status:
        _check_choice("status", wanted, tuple(TRANSITIONS))
    where: list[ColumnElement[bool]] = []
    if status:
        where.append(Case.status.in_(list(status)))
    if customer_id is not None:
        where.append(Case.customer_id == customer_id)
    if assignee_id is not None:
        where.append(Case.assignee_id == assignee_id)
    if unassigned:
        where.append(Case.assignee_id.is_(None))
    if team:
        where.append(Case.team == team)
    for value, column in ((kind, Case.kind), (category, Case.category), (priority, Case.priority)):
        if value:
            where.append(column == value)
    limit = max(1, min(limit, MAX_LIST))
    due = case((Case.status.in_(OPEN_STATUSES), _next_due()), else_=None)
    query = _select().where(*where).order_by(nulls_last(due.asc()), Case.opened_at.desc())
    rows = session.execute(query.limit(limit)).all()
    count = session.scalar(select(func.count()).select_from(Case).where(*where)) or 0
    names = _user_names(session)
    return CasesPublic(
        data=[CasePublic(**_public(r, names, settings=settings, now=now)) for r in rows],
        count=count,
    )


def queue(
    session: Session,
    *,
    settings: Settings,
    now: datetime,
    view: str = "all",
    user_id: int | None = None,
    team: str | None = None,
    limit: int = 200,
) -> CasesPublic:
    """The open cases of one queue, the most urgent deadline first: ``mine`` (assigned to
    ``user_id``), ``team`` (of ``team``), ``unassigned`` or ``all``."""
    _check_choice("view", view, QUEUES)
    if view == "mine" and user_id is None:
        raise _invalid("user_id", "the queue 'mine' needs the agent's user number")
    if view == "team" and not (team or "").strip():
        raise _invalid("team", "the queue 'team' needs a team")
    return list_cases(
        session,
        settings=settings,
        now=now,
        status=OPEN_STATUSES,
        assignee_id=user_id if view == "mine" else None,
        unassigned=view == "unassigned",
        team=(team or "").strip() if view == "team" else None,
        limit=limit,
    )


def open_cases_for_customer(
    session: Session, *, customer_id: int, settings: Settings, now: datetime, limit: int = 10
) -> tuple[list[CasePublic], list[CasePublic]]:
    """The customer 360's cases: (open ones, most urgent first; the newest closed ones)."""
    open_ = list_cases(
        session, settings=settings, now=now, customer_id=customer_id, status=OPEN_STATUSES
    ).data
    done = list_cases(
        session,
        settings=settings,
        now=now,
        customer_id=customer_id,
        status=("resolved", "closed"),
        limit=limit,
    ).data
    return open_, done


def teams(session: Session) -> list[str]:
    """The teams cases have been given to, for the pages' choices."""
    rows = session.scalars(
        select(Case.team).where(Case.team.is_not(None)).distinct().order_by(Case.team)
    )
    return [team for team in rows if team]


# --- the worker's watch over the deadlines ---------------------------------------------------

DEADLINES = ("first_response", "resolution")


def check_deadlines(session: Session, *, settings: Settings, now: datetime) -> dict[str, int]:
    """Record, once each, a warning when an open case's deadline comes within
    ``care_warn_hours`` working hours and its breach when it has passed, each with a webhook
    event (``case.sla_warning``, ``case.sla_breached``); commits. A deadline already passed when
    first seen is recorded as breached only. The counts of warnings and breaches recorded."""
    horizon = timing.warning_horizon(settings, now)
    first_open = (
        Case.first_response_at.is_(None)
        & Case.first_response_breached_at.is_(None)
        & (Case.first_response_due <= horizon)
    )
    resolution_open = Case.resolution_breached_at.is_(None) & (Case.resolution_due <= horizon)
    rows = session.scalars(
        select(Case)
        .where(Case.status.in_(OPEN_STATUSES), first_open | resolution_open)
        .order_by(Case.id)
        .with_for_update(skip_locked=True)
    ).all()
    counts = {"warnings": 0, "breaches": 0}
    for row in rows:
        for deadline in DEADLINES:
            recorded = _watch(session, row, deadline, horizon=horizon, now=now)
            if recorded:
                counts[recorded] += 1
    session.commit()
    return counts


def _watch(
    session: Session, row: Case, deadline: str, *, horizon: datetime, now: datetime
) -> str | None:
    due: datetime | None = getattr(row, f"{deadline}_due")
    if due is None or getattr(row, f"{deadline}_breached_at") is not None:
        return None
    if deadline == "first_response" and row.first_response_at is not None:
        return None
    if due <= now:
        setattr(row, f"{deadline}_breached_at", now)
        topic, counted = "case.sla_breached", "breaches"
    elif due <= horizon and getattr(row, f"{deadline}_warned_at") is None:
        setattr(row, f"{deadline}_warned_at", now)
        topic, counted = "case.sla_warning", "warnings"
    else:
        return None
    outbox.enqueue(
        session,
        topic=topic,
        payload={
            "case_id": row.id,
            "customer_id": row.customer_id,
            "deadline": deadline,
            "due": due.isoformat(),
            "priority": row.priority,
            "status": row.status,
            "assignee_id": row.assignee_id,
            "team": row.team,
        },
        key=f"{topic}:{row.id}:{deadline}",
        now=now,
    )
    return counted
