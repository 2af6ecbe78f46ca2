"""The service-recovery report on a small shop built by hand, every number computed by hand:
who complained (resolved or not) or did not, who came back within the window, and how the CLV
moved between the score snapshots around each reference date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

import factories as make
from care.cases.helpers import snapshot
from patron.care.cases import recovery
from patron.care.models import Case
from patron.customers.models import Customer

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)


def day(month: int, date: int, year: int = 2026) -> datetime:
    return datetime(year, month, date, 10, 0, tzinfo=UTC)


def complaint(
    session: Session,
    customer: Customer,
    opened: datetime,
    *,
    status: str = "resolved",
    resolved: datetime | None = None,
    kind: str = "complaint",
) -> None:
    session.add(
        Case(
            customer_id=customer.id,
            kind=kind,
            subject="Problem",
            category="other",
            priority="normal",
            channel="email",
            status=status,
            opened_at=opened,
            resolved_at=resolved,
        )
    )
    session.flush()


def bought(
    session: Session, customer: Customer, *days: datetime, status: str = "completed"
) -> None:
    for placed in days:
        make.order(session, customer, placed_at=placed, status=status)


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        c = {
            name: make.customer(session, external_id=name)
            for name in ("R1", "R2", "R3", "R4", "U1", "U2", "Q1", "N1", "N2", "N3")
        }
        # resolved: R1 comes back within 90 days, R2 does not, R3's window is still open
        complaint(session, c["R1"], day(1, 10), resolved=day(1, 12))
        bought(session, c["R1"], day(12, 1, 2025), day(2, 15))
        complaint(session, c["R2"], day(2, 1), resolved=day(2, 2))
        bought(session, c["R2"], day(11, 1, 2025))
        complaint(session, c["R3"], day(5, 1), status="closed", resolved=day(5, 3))
        bought(session, c["R3"], day(5, 10))
        # unresolved: R4 has a resolved complaint and an open one; U1's was closed without a
        # solution (and its order afterwards was cancelled); U2's is open, and U2 bought again
        # only after the 90 days
        complaint(session, c["R4"], day(1, 20), resolved=day(1, 21))
        complaint(session, c["R4"], day(3, 1), status="in_progress")
        bought(session, c["R4"], day(3, 15))
        complaint(session, c["U1"], day(2, 10), status="closed")
        bought(session, c["U1"], day(2, 20), status="cancelled")
        complaint(session, c["U2"], day(3, 1), status="new")
        bought(session, c["U2"], day(6, 15))
        # no complaint (a question is none): who had bought before the median complaint date
        complaint(session, c["Q1"], day(1, 5), kind="question")
        bought(session, c["Q1"], day(12, 15, 2025), day(2, 20))
        bought(session, c["N1"], day(11, 1, 2025), day(4, 1))
        bought(session, c["N2"], day(10, 1, 2025))
        bought(session, c["N3"], day(3, 1))  # a customer only since after that date
        ids = {name: customer.id for name, customer in c.items()}
        snapshot(
            session,
            day(12, 31, 2025),
            {
                ids["R1"]: {"clv": 100.0},
                ids["R2"]: {"clv": 50.0},
                ids["R3"]: {"clv": 0.0},
                ids["R4"]: {"clv": 200.0},
                ids["U1"]: {"clv": 60.0},
                ids["U2"]: {"clv": 20.0},
                ids["Q1"]: {"clv": 10.0},
                ids["N1"]: {"clv": 40.0},
                ids["N2"]: {"clv": 30.0},
            },
        )
        snapshot(
            session,
            day(3, 31),
            {
                ids["R1"]: {"clv": 500.0},
                ids["R3"]: {"clv": 80.0},
                ids["R4"]: {"clv": 250.0},
                ids["U2"]: {"clv": None},
            },
        )
        snapshot(
            session,
            day(6, 1),
            {
                ids["R1"]: {"clv": 130.0},
                ids["R2"]: {"clv": 40.0},
                ids["R3"]: {"clv": 90.0},
                ids["U1"]: {"clv": 30.0},
                ids["U2"]: {"clv": 20.0},
                ids["Q1"]: {"clv": 25.0},
                ids["N1"]: {"clv": 40.0},
                ids["N2"]: {"clv": None},
            },
        )
        snapshot(session, day(7, 10), {ids["R1"]: {"clv": 999.0}})  # after the report's date


def test_the_report_counts_every_group_by_hand(sessions: sessionmaker[Session], shop: None) -> None:
    with sessions() as session:
        found = recovery.report(session, as_of=AS_OF, window_days=90)
    groups = {g.group: g for g in found.groups}
    assert [g.group for g in found.groups] == ["resolved", "unresolved", "none"]
    assert found.snapshots == 3
    # complaint dates: Jan 10, Jan 20, Feb 1, Feb 10, Mar 1, May 1 → the middle two's midpoint
    assert found.reference_for_none == day(2, 1) + timedelta(days=4.5)

    resolved = groups["resolved"]  # R1, R2, R3
    assert (resolved.customers, resolved.repurchase_eligible, resolved.repurchased) == (3, 2, 1)
    assert resolved.repurchase_rate == pytest.approx(1 / 2)
    # R1: 130 − 100 (Jun 1 minus Dec 31); R2: 40 − 50; R3: 90 − 80 (Jun 1 minus Mar 31)
    assert resolved.clv_customers == 3
    assert resolved.clv_change == pytest.approx((30 - 10 + 10) / 3)

    unresolved = groups["unresolved"]  # R4, U1, U2
    assert (unresolved.customers, unresolved.repurchase_eligible, unresolved.repurchased) == (
        3,
        3,
        1,
    )
    assert unresolved.repurchase_rate == pytest.approx(1 / 3)
    # R4 is missing from the Jun 1 snapshot; U1: 30 − 60; U2: 20 − 20
    assert unresolved.clv_customers == 2
    assert unresolved.clv_change == pytest.approx(-15)

    none = groups["none"]  # Q1, N1, N2 (N3 bought only later)
    assert (none.customers, none.repurchase_eligible, none.repurchased) == (3, 3, 2)
    assert none.repurchase_rate == pytest.approx(2 / 3)
    # Q1: 25 − 10; N1: 40 − 40; N2 has no CLV on Jun 1
    assert none.clv_customers == 2
    assert none.clv_change == pytest.approx(7.5)


def test_a_shorter_window_and_an_earlier_date_change_the_counts(
    sessions: sessionmaker[Session], shop: None
) -> None:
    with sessions() as session:
        found = recovery.report(session, as_of=day(3, 1) - timedelta(hours=1), window_days=30)
    groups = {g.group: g for g in found.groups}
    # by Mar 1 09:00: R3's complaint, R4's second one and U2's are still in the future
    resolved = groups["resolved"]  # R1 (Jan 10), R2 (Feb 1) and R4 (its only one, resolved)
    assert resolved.customers == 3
    # windows of 30 days that ended by then: R1 (Feb 9), R4 (Feb 19); R2's ends Mar 3
    assert resolved.repurchase_eligible == 2
    assert resolved.repurchased == 0  # R1 came back on Feb 15, after 36 days
    assert groups["unresolved"].customers == 1  # U1
    assert found.snapshots == 1  # only Dec 31 was taken by then
    assert all(g.clv_customers == 0 and g.clv_change is None for g in found.groups)


def test_without_complaints_or_snapshots_the_numbers_are_empty(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        anna = make.customer(session)
        bought(session, anna, day(1, 1))
    with sessions() as session:
        found = recovery.report(session, as_of=AS_OF)
    assert found.reference_for_none is None
    assert found.snapshots == 0
    for group in found.groups:
        assert (group.customers, group.repurchase_eligible, group.repurchased) == (0, 0, 0)
        assert group.repurchase_rate is None
        assert group.clv_change is None
