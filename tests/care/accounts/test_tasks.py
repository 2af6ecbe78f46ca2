"""Tasks on the store (SQLite and PostgreSQL): by hand (create, list, done, cancel, with clear
errors) and by the rules for key accounts, each of which fires once and never twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.accounts import shop
from patron.care.accounts import service, tasks
from patron.care.accounts.schemas import TaskCreate, TaskKind, TaskStatus
from patron.care.models import TASK_KINDS, TASK_STATUSES, Case, CaseEntry, Task
from patron.customers.models import Customer
from patron.errors import PatronError

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(database_url: str) -> shop.Settings:
    return shop.settings(
        database_url,
        task_p_alive_drop=0.2,
        task_gift_days_before=14,
        task_no_contact_days=90,
    )


def _tasks(sessions: sessionmaker[Session]) -> list[Task]:
    with sessions() as session:
        return list(session.scalars(select(Task).order_by(Task.id)))


def _key_account(
    sessions: sessionmaker[Session], config: shop.Settings, **fields: object
) -> tuple[int, int]:
    """A customer a manager looks after (manually): (customer id, manager id)."""
    manager, email = shop.manager(sessions, config)
    with sessions.begin() as session:
        customer = make.customer(session, country="DE", **fields).id
    with sessions() as session:
        service.assign_manually(
            session, customer=str(customer), manager=email, actor=None, now=NOW - timedelta(days=1)
        )
    return customer, manager


def test_the_schemas_name_the_tables_kinds_and_statuses() -> None:
    assert tuple(TaskKind) == TASK_KINDS
    assert tuple(TaskStatus) == TASK_STATUSES


def test_tasks_by_hand_are_listed_open_first_by_due_day_and_closed_once(
    sessions: sessionmaker[Session], config: shop.Settings
) -> None:
    customer, manager = _key_account(sessions, config)
    with sessions() as session:
        owner = make.user(session, "service_agent")
        made = [
            tasks.create_task(
                session,
                TaskCreate(kind=kind, title=title, customer=cust, owner=who, due_on=day),
                actor="me@example.com",
                now=NOW,
            )
            for kind, title, cust, who, day in (
                (TaskKind.visit, "visit", str(customer), None, date(2026, 6, 20)),
                (TaskKind.call, "call", str(customer), owner.email, date(2026, 6, 12)),
                (TaskKind.follow_up, "general", None, owner.email, date(2026, 6, 11)),
            )
        ]
        assert [t.owner_id for t in made] == [manager, owner.id, owner.id]
        tasks.complete_task(session, made[2].id, now=NOW)
        listed = tasks.list_tasks(session, status=None).data
        assert [t.title for t in listed] == ["call", "visit", "general"]  # open first, by day
        assert [t.title for t in tasks.list_tasks(session, owner_id=owner.id).data] == ["call"]
        mine = tasks.list_tasks(session, customer_id=customer).data
        assert [t.customer_name for t in mine] == [made[0].customer_name] * 2
        with pytest.raises(PatronError) as twice:
            tasks.cancel_task(session, made[2].id, now=NOW)
        assert twice.value.code == "tasks.wrong_status"
        for unknown in ("999999", "x", "-1"):
            with pytest.raises(PatronError) as missing:
                tasks.complete_task(session, unknown, now=NOW)
            assert missing.value.code == "tasks.not_found"
        with pytest.raises(PatronError) as nobody:
            tasks.create_task(
                session,
                TaskCreate(kind=TaskKind.call, title="x", owner="no@x.org", due_on=NOW.date()),
                actor=None,
                now=NOW,
            )
        assert nobody.value.code == "users.not_found"
    statuses = {t.title: (t.status, t.done_at) for t in _tasks(sessions)}
    assert statuses == {"visit": ("open", None), "call": ("open", None), "general": ("done", NOW)}


def test_a_p_alive_drop_makes_one_call_task(
    sessions: sessionmaker[Session], engine: Engine, config: shop.Settings
) -> None:
    falling, manager = _key_account(sessions, config)
    steady, _ = _key_account(sessions, config)
    (stranger,) = shop.customers(sessions, "DE")  # no manager: no task
    shop.snapshot(
        engine, {falling: {"p_alive": 0.9}, steady: {"p_alive": 0.5}, stranger: {"p_alive": 0.9}}
    )
    newest = shop.snapshot(
        engine, {falling: {"p_alive": 0.7}, steady: {"p_alive": 0.35}, stranger: {"p_alive": 0.1}}
    )
    with sessions() as session:
        first = tasks.run_rules(session, settings=config, now=NOW)
        again = tasks.run_rules(session, settings=config, now=NOW + timedelta(hours=1))
    assert (first.p_alive, again.p_alive) == (1, 0)
    made = [t for t in _tasks(sessions) if t.rule == "p_alive"]
    assert [(t.key, t.kind, t.owner_id, t.due_on) for t in made] == [
        (f"p_alive:{falling}:{newest}", "call", manager, NOW.date())
    ]


def test_an_anniversary_makes_one_gift_task_days_before(
    sessions: sessionmaker[Session], engine: Engine, config: shop.Settings
) -> None:
    soon, manager = _key_account(sessions, config)
    far, _ = _key_account(sessions, config)
    from_orders, _ = _key_account(sessions, config)
    # soon: 3rd anniversary in 10 days (within 14); far: in 30 days; from_orders: no snapshot
    # value, first order 2 years before a day 5 days ahead
    shop.snapshot(
        engine,
        {
            soon: {"first_purchase": date(2023, 6, 20)},
            far: {"first_purchase": date(2020, 7, 10)},
        },
    )
    with sessions.begin() as session:
        buyer = session.get(Customer, from_orders)
        make.order(session, buyer, placed_at=datetime(2024, 6, 15, 12, tzinfo=UTC))
        make.order(session, buyer, placed_at=datetime(2025, 1, 2, 12, tzinfo=UTC))
    with sessions() as session:
        first = tasks.run_rules(session, settings=config, now=NOW)
        again = tasks.run_rules(session, settings=config, now=NOW + timedelta(days=1))
    assert (first.anniversary, again.anniversary) == (2, 0)
    made = {t.customer_id: t for t in _tasks(sessions) if t.rule == "anniversary"}
    assert set(made) == {soon, from_orders}
    assert made[soon].key == f"anniversary:{soon}:2026"
    assert made[soon].kind == "gift"
    assert made[soon].owner_id == manager
    assert made[soon].due_on == date(2026, 6, 20) - timedelta(days=14)
    assert made[from_orders].due_on == date(2026, 6, 15) - timedelta(days=14)


def test_no_contact_makes_one_invitation_task_per_last_contact(
    sessions: sessionmaker[Session], config: shop.Settings
) -> None:
    quiet, _ = _key_account(sessions, config)
    recent, _ = _key_account(sessions, config)
    by_case, _ = _key_account(sessions, config)
    never, _ = _key_account(sessions, config)
    old = NOW - timedelta(days=120)
    with sessions.begin() as session:
        person = session.get(Customer, quiet)
        make.interaction(session, person, kind="meeting", occurred_at=old)
        make.interaction(session, person, kind="email_click", occurred_at=NOW)  # no contact
        make.interaction(
            session,
            session.get(Customer, recent),
            kind="call",
            occurred_at=NOW - timedelta(days=10),
        )
        case = Case(customer_id=by_case, subject="s", category="c", channel="email", opened_at=old)
        session.add(case)
        session.flush()
        session.add(
            CaseEntry(case_id=case.id, kind="reply", body="hi", created_at=NOW - timedelta(days=5))
        )
        session.add(CaseEntry(case_id=case.id, kind="note", body="x", created_at=NOW))
    with sessions() as session:
        first = tasks.run_rules(session, settings=config, now=NOW)
        again = tasks.run_rules(session, settings=config, now=NOW + timedelta(days=1))
    assert (first.no_contact, again.no_contact) == (2, 0)
    made = {t.customer_id: t.key for t in _tasks(sessions) if t.rule == "no_contact"}
    assert made == {
        quiet: f"no_contact:{quiet}:{old.date().isoformat()}",
        never: f"no_contact:{never}:never",
    }
    # the invitation is done (a contact): no new task; a later, long silence makes a new one
    with sessions() as session:
        task = session.scalar(select(Task).where(Task.customer_id == quiet))
        assert task is not None
        done_at = NOW + timedelta(days=2)
        tasks.complete_task(session, task.id, now=done_at)
        assert tasks.run_rules(session, settings=config, now=done_at).no_contact == 0
        later = done_at + timedelta(days=91)
        assert tasks.run_rules(session, settings=config, now=later).no_contact >= 1
        assert session.scalar(
            select(Task.id).where(Task.key == f"no_contact:{quiet}:{done_at.date().isoformat()}")
        )
