"""Key accounts on the store (SQLite and PostgreSQL): managers, the rule's assignment of the
A-customers, the manual override, the re-run after the classes change, and the workspace."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.accounts import shop
from patron.care.accounts import service, tasks
from patron.care.accounts.schemas import ManagerIn, TaskCreate, TaskKind
from patron.care.models import AccountAssignment, Case
from patron.customers.models import Customer
from patron.errors import PatronError


@pytest.fixture
def config(database_url: str) -> shop.Settings:
    return shop.settings(database_url, account_capacity=2)


def _assignments(sessions: sessionmaker[Session]) -> dict[int, tuple[int, str]]:
    with sessions() as session:
        return {
            a.customer_id: (a.manager_id, a.source)
            for a in session.scalars(select(AccountAssignment))
        }


def _account_managers(sessions: sessionmaker[Session], ids: list[int]) -> dict[int, int | None]:
    with sessions() as session:
        rows = session.execute(
            select(Customer.id, Customer.account_manager_id).where(Customer.id.in_(ids))
        )
        return dict(rows.all())


def test_only_account_managers_and_admins_can_look_after_accounts(
    sessions: sessionmaker[Session], config: shop.Settings
) -> None:
    with sessions() as session:
        marketer = make.user(session, "marketer")
        with pytest.raises(PatronError) as refused:
            service.set_manager(
                session, email=marketer.email, changes=ManagerIn(), settings=config, now=make.at(0)
            )
        assert refused.value.code == "accounts.invalid"
        assert service.list_managers(session).count == 0
    user_id, email = shop.manager(sessions, config, role="admin")
    with sessions() as session:
        listed = service.list_managers(session).data
        assert [(m.user_id, m.capacity, m.regions, m.active) for m in listed] == [
            (user_id, config.account_capacity, [], True)
        ]
        changed = service.set_manager(
            session,
            email=email.upper(),
            changes=ManagerIn(regions=["NO", " DE ", ""]),
            settings=config,
            now=make.at(1),
        )
    # what the change leaves out stays as it was
    assert (changed.capacity, changed.regions) == (config.account_capacity, ["DE", "NO"])


def test_the_rule_assigns_a_customers_within_capacity_and_region(
    sessions: sessionmaker[Session], engine: Engine, config: shop.Settings
) -> None:
    german, _ = shop.manager(sessions, config, capacity=2, regions=["DE"])
    anywhere, _ = shop.manager(sessions, config, capacity=1)
    de = shop.customers(sessions, "DE", "DE", "DE")
    no = shop.customers(sessions, "NO")
    b = shop.customers(sessions, "DE")
    clv = {de[0]: 900.0, de[1]: 800.0, de[2]: 700.0, no[0]: 600.0, b[0]: 5000.0}
    shop.snapshot(
        engine,
        {c: {"abc": "B" if c in b else "A", "clv": v} for c, v in clv.items()},
    )
    with sessions() as session:
        run = service.run_assignment(session, settings=config, now=make.at(10))
    assert (run.a_customers, run.assigned, run.unplaced) == (4, 3, 1)
    placed = _assignments(sessions)
    # the two most valuable German accounts go to the German manager (capacity 2); the third
    # German one and the Norwegian one compete for the one place of the manager serving
    # anywhere, which goes to the more valuable account
    assert placed == {de[0]: (german, "rule"), de[1]: (german, "rule"), de[2]: (anywhere, "rule")}
    assert b[0] not in placed
    assert _account_managers(sessions, [*de, *no, *b]) == {
        de[0]: german,
        de[1]: german,
        de[2]: anywhere,
        no[0]: None,
        b[0]: None,
    }
    with sessions() as session:
        loads = {m.user_id: m.accounts for m in service.list_managers(session).data}
    assert loads == {german: 2, anywhere: 1}


def test_equal_managers_take_accounts_in_turn(
    sessions: sessionmaker[Session], engine: Engine, config: shop.Settings
) -> None:
    first, _ = shop.manager(sessions, config, capacity=10)
    second, _ = shop.manager(sessions, config, capacity=10)
    ids = shop.customers(sessions, *["AT"] * 7)
    shop.snapshot(engine, {c: {"abc": "A", "clv": float(100 - i)} for i, c in enumerate(ids)})
    with sessions() as session:
        service.run_assignment(session, settings=config, now=make.at(10))
    loads = Counter(m for m, _ in _assignments(sessions).values())
    assert sorted(loads.values()) == [3, 4]
    assert set(loads) == {first, second}


def test_a_manual_assignment_is_kept_and_a_rerun_releases_and_moves(
    sessions: sessionmaker[Session], engine: Engine, config: shop.Settings
) -> None:
    _one, one_email = shop.manager(sessions, config, capacity=2)
    two, two_email = shop.manager(sessions, config, capacity=2)
    a, b, c, d = shop.customers(sessions, "DE", "DE", "DE", "DE")
    shop.snapshot(engine, {x: {"abc": "A", "clv": 100.0 - i} for i, x in enumerate((a, b, c))})
    with sessions() as session:
        service.run_assignment(session, settings=config, now=make.at(10))
        # a person decides: d (not even A-class) goes to manager two
        manual = service.assign_manually(
            session, customer=str(d), manager=two_email, actor="boss@example.com", now=make.at(11)
        )
    assert (manual.manager_id, manual.source) == (two, "manual")
    before = _assignments(sessions)
    assert before[d] == (two, "manual")
    # new classes: b is no longer A; d stays manual although it is not A either
    shop.snapshot(engine, {a: {"abc": "A"}, b: {"abc": "C"}, c: {"abc": "A"}, d: {"abc": "C"}})
    with sessions() as session:
        run = service.run_assignment(session, settings=config, now=make.at(20))
    after = _assignments(sessions)
    assert run.released == 1
    assert b not in after
    assert after[d] == (two, "manual")
    assert after[a] == before[a]  # kept: its manager still has room
    assert _account_managers(sessions, [a, b, c, d]) == {
        x: after[x][0] if x in after else None for x in (a, b, c, d)
    }
    # one's capacity drops to 0: their accounts move to two as far as two has room (the
    # manual account counts toward two's capacity of 2)
    with sessions() as session:
        service.set_manager(
            session,
            email=one_email,
            changes=ManagerIn(capacity=0),
            settings=config,
            now=make.at(21),
        )
        moved = service.run_assignment(session, settings=config, now=make.at(22))
    final = _assignments(sessions)
    assert all(manager == two for manager, _ in final.values())
    assert len(final) == 2  # d (manual) and one of a, c: two has no more room
    assert moved.unplaced == 1
    assert _account_managers(sessions, [a, b, c, d]) == {
        x: final[x][0] if x in final else None for x in (a, b, c, d)
    }
    # clearing the manual assignment hands d back to the rule, which releases it (not A)
    with sessions() as session:
        cleared = service.assign_manually(
            session, customer=str(d), manager=None, actor=None, now=make.at(23)
        )
        assert cleared.source is None
        service.run_assignment(session, settings=config, now=make.at(24))
    assert d not in _assignments(sessions)
    assert _account_managers(sessions, [d]) == {d: None}


def test_the_manual_override_refuses_users_who_are_no_managers(
    sessions: sessionmaker[Session], config: shop.Settings
) -> None:
    (customer,) = shop.customers(sessions, "DE")
    with sessions() as session:
        agent = make.user(session, "service_agent")
        with pytest.raises(PatronError) as refused:
            service.assign_manually(
                session, customer=str(customer), manager=agent.email, actor=None, now=make.at(0)
            )
        assert refused.value.code == "accounts.not_a_manager"
        with pytest.raises(PatronError) as unknown:
            service.assign_manually(
                session, customer=str(customer), manager="nobody@x.org", actor=None, now=make.at(0)
            )
        assert unknown.value.code == "users.not_found"
    assert _assignments(sessions) == {}


def test_without_a_snapshot_the_rule_changes_nothing(
    sessions: sessionmaker[Session], config: shop.Settings
) -> None:
    shop.manager(sessions, config)
    with sessions() as session:
        run = service.run_assignment(session, settings=config, now=make.at(0))
    assert run.snapshot_id is None
    assert _assignments(sessions) == {}


def test_the_workspace_shows_value_risk_orders_cases_and_tasks(
    sessions: sessionmaker[Session], engine: Engine, config: shop.Settings
) -> None:
    mine, email = shop.manager(sessions, config, capacity=5)
    with sessions.begin() as session:
        rich = make.customer(session, name="Rich", country="DE")
        other = make.customer(session, name="Other", country="DE")
        for day, price in ((1, "10.00"), (5, "20.00"), (9, "30.00"), (12, "40.00")):
            make.order(
                session,
                rich,
                placed_at=make.at(day),
                lines=[make.line(unit_price=price, quantity=2)],
            )
        for status in ("new", "waiting", "closed"):
            session.add(
                Case(
                    customer_id=rich.id,
                    subject="broken",
                    category="product",
                    channel="email",
                    status=status,
                    opened_at=make.at(3),
                )
            )
        rich_id, other_id = rich.id, other.id
    shop.snapshot(
        engine,
        {
            rich_id: {"abc": "A", "clv": 1234.5, "p_alive": 0.83, "lifecycle_phase": "commitment"},
            other_id: {"abc": "A", "clv": 50.0, "p_alive": 0.2, "lifecycle_phase": "dissolution"},
        },
    )
    with sessions() as session:
        service.run_assignment(session, settings=config, now=make.at(20))
        for days, title in ((30, "later"), (25, "sooner")):
            tasks.create_task(
                session,
                TaskCreate(
                    kind=TaskKind.call,
                    title=title,
                    customer=str(rich_id),
                    due_on=make.at(days).date(),
                ),
                actor=email,
                now=make.at(20),
            )
        space = service.workspace(session, manager_id=mine, orders_per_account=3)
    assert [a.customer_id for a in space.accounts] == [rich_id, other_id]  # by CLV
    top = space.accounts[0]
    assert (top.abc, top.clv, top.p_alive, top.phase) == ("A", 1234.5, 0.83, "commitment")
    assert top.open_cases == 2
    assert [(o.placed_at, o.total) for o in top.orders] == [
        (make.at(12), Decimal("80.00")),
        (make.at(9), Decimal("60.00")),
        (make.at(5), Decimal("40.00")),
    ]
    assert [t.title for t in top.next_tasks] == ["sooner", "later"]
    # the tasks went to the customer's manager, as no owner was given
    assert [t.title for t in space.tasks] == ["sooner", "later"]
    assert all(t.owner_id == mine for t in space.tasks)
    assert space.accounts[1].orders == []
    assert space.accounts[1].open_cases == 0
